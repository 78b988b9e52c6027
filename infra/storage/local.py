"""Image bytes in a local directory, content-addressed: ``<root>/ab/cd/<sha256>``."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path

from domain.errors import not_found

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def checked_key(key: str) -> str:
    """Keys are SHA-256 hex digests: nothing else reaches a path."""
    if not SHA256.match(key):
        raise ValueError(f"not a SHA-256 key: {key!r}")
    return key


class LocalImageStore:
    """Writes go to a private temporary file that is renamed into place, so a reader (or a
    crash) never sees half a file; the same bytes uploaded twice are stored once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        key = checked_key(key)
        return self.root / key[:2] / key[2:4] / key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, self.path(key), data)

    async def read(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError:
            raise not_found("Image") from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
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
