"""Check an uploaded model file against its model's spec before the registry keeps it."""

from __future__ import annotations

from pathlib import Path

from inference.providers import SessionSettings, open_session
from inference.spec import ModelSpec, Signature, check_signature, parse_onnx

_CPU_ONLY = SessionSettings(providers=("CPUExecutionProvider",), intra_op_threads=1)


def verify_artifact(model: bytes | Path, spec: ModelSpec) -> Signature:
    """BAD_USER_INPUT unless ``model`` parses as ONNX, loads in ONNX Runtime and fits ``spec``.

    Blocking (it opens a CPU session): run it in a worker thread.
    """
    parse_onnx(model)
    opened = open_session(model, _CPU_ONLY)
    return check_signature(opened.session, spec)
