"""Content-addressed files on local disk: named by a SHA-256, written once, never half-seen.

A file is written to a private temporary name beside its place (created exclusively, mode
0600), flushed to disk, then renamed into place: a reader or a crash never sees half a file,
and two writers of the same content end with the same single file.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def checked_key(key: str) -> str:
    """Keys are SHA-256 hex digests: nothing else reaches a path."""
    if not SHA256.match(key):
        raise ValueError(f"not a SHA-256 key: {key!r}")
    return key


def write_once(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` unless a file is there already. Blocking: run it in a thread."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.parent / f".{path.name}.{secrets.token_hex(8)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)
