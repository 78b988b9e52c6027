"""Image bytes in a local directory, content-addressed: ``<root>/ab/cd/<sha256>``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from domain.errors import not_found
from infra.storage.files import checked_key, write_once


class LocalImageStore:
    """Writes go to a private temporary file that is renamed into place, so a reader (or a
    crash) never sees half a file; the same bytes uploaded twice are stored once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        key = checked_key(key)
        return self.root / key[:2] / key[2:4] / key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(write_once, self.path(key), data)

    async def read(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError:
            raise not_found("Image") from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)
