"""The provider reported is the one the session really runs on, never the one requested."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from inference.demo_models import BONE_XRAY
from inference.providers import CPU, CUDA, SessionSettings, open_session, usable_providers


def test_cuda_requested_on_a_machine_without_a_gpu_reports_cpu(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a request for CUDA first (this machine has no GPU)
    with caplog.at_level(logging.WARNING, logger="inference.providers"):
        # when a session is opened
        opened = open_session(BONE_XRAY.build(), SessionSettings(providers=(CUDA, CPU)))
    # then it reports what it really got, and says so in the log
    assert opened.provider == opened.session.get_providers()[0]
    assert opened.requested == (CUDA, CPU)
    if Path("/dev/nvidiactl").exists():  # a GPU machine: nothing to fall back from
        return
    assert opened.provider == CPU
    assert opened.session.get_providers() == [CPU]
    assert any("asked for CUDAExecutionProvider, got CPU" in r.getMessage() for r in caplog.records)


def test_unknown_providers_are_dropped_and_cpu_stays_last() -> None:
    assert usable_providers(["NoSuchExecutionProvider", CPU, CUDA])[-1] == CPU
    assert "NoSuchExecutionProvider" not in usable_providers(["NoSuchExecutionProvider"])
    assert usable_providers([]) == [CPU]
