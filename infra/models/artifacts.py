"""Model files on local disk, content-addressed: ``<root>/<sha[:2]>/<sha>.onnx``.

A file is written to a temporary name and renamed into place, so a reader never sees half a
model, and two writers of the same content end with the same single file.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from infra.storage.files import checked_key, write_once


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        checked_key(sha256)
        return self.root / sha256[:2] / f"{sha256}.onnx"

    async def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(write_once, self.path(sha256), data)
        return sha256

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.path(sha256).unlink, missing_ok=True)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path(sha256).is_file)

    def files(self) -> list[Path]:
        """Every stored artifact (for operators and tests)."""
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob("*/*.onnx"))
