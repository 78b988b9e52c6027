"""The local artifact store: content-addressed, written whole or not at all."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from infra.models.artifacts import LocalArtifactStore


async def test_a_file_is_stored_under_its_hash_once(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "models")
    data = b"\x08\x07 some model bytes"
    sha256 = await store.put(data)
    assert sha256 == hashlib.sha256(data).hexdigest()
    assert store.path(sha256) == tmp_path / "models" / sha256[:2] / f"{sha256}.onnx"
    assert store.path(sha256).read_bytes() == data
    assert await store.put(data) == sha256
    assert store.files() == [store.path(sha256)]
    assert await store.exists(sha256)
    await store.delete(sha256)
    assert not await store.exists(sha256)
    assert store.files() == []
    await store.delete(sha256)  # deleting twice is fine


def test_a_path_is_only_made_from_a_digest(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


async def test_a_failed_write_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "models")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("infra.storage.files.os.fsync", broken_fsync)
    with pytest.raises(OSError):
        await store.put(b"half a model")
    assert [p for p in (tmp_path / "models").rglob("*") if p.is_file()] == []
