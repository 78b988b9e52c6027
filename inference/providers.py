"""Open an ONNX Runtime session on the best execution provider that really works here.

onnxruntime-gpu lists CUDA as available whenever it was built with it, and falls back to CPU
without failing when the CUDA libraries or the GPU are missing. The provider in use is read
back from ``session.get_providers()``, never assumed from the request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from domain.errors import bad_input

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEFAULT_PROVIDERS = (CUDA, CPU)

# What ONNX Runtime raises for a file that is not a model it can run.
_UNLOADABLE: tuple[type[Exception], ...] = (
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
    ort_errors.NotImplemented,
)


@dataclass(frozen=True, slots=True)
class OpenedSession:
    session: Any  # onnxruntime.InferenceSession (untyped)
    provider: str
    requested: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SessionSettings:
    providers: tuple[str, ...] = DEFAULT_PROVIDERS
    intra_op_threads: int = 0  # 0: ONNX Runtime's default (one per physical core)
    inter_op_threads: int = 0


def usable_providers(requested: Sequence[str]) -> list[str]:
    """``requested`` in order, restricted to what this build offers, CPU always last."""
    available = set(ort.get_available_providers())
    kept = [p for p in dict.fromkeys(requested) if p in available]
    dropped = [p for p in requested if p not in available]
    if dropped:
        log.warning("execution providers not available in this build, ignored: %s", dropped)
    if CPU in kept:
        kept.remove(CPU)
    return [*kept, CPU]


def open_session(model: bytes | Path, settings: SessionSettings | None = None) -> OpenedSession:
    """A session on the first provider that works; BAD_USER_INPUT when the model does not load."""
    settings = settings or SessionSettings()
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only; the fallback is reported below instead
    source = str(model) if isinstance(model, Path) else model
    try:
        session = ort.InferenceSession(
            source, sess_options=options, providers=usable_providers(settings.providers)
        )
    except _UNLOADABLE as exc:
        raise bad_input(
            f"The model does not load in ONNX Runtime: {_first_line(exc)}", field="file"
        ) from exc
    got = session.get_providers()[0]
    wanted = settings.providers[0] if settings.providers else CPU
    if got != wanted:
        log.warning(
            "asked for %s, got %s (providers in use: %s)", wanted, got, session.get_providers()
        )
    return OpenedSession(session=session, provider=str(got), requested=settings.providers)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
