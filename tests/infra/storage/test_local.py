"""The local content-addressed image store and the signed image URLs."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from domain.errors import DomainError, ErrorCode
from infra.storage.local import LocalImageStore
from infra.storage.signing import HmacImageUrlSigner


async def test_bytes_are_stored_once_under_their_sha256(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path)
    data = b"some image bytes"
    key = hashlib.sha256(data).hexdigest()

    await store.put(key, data, "image/png")
    await store.put(key, data, "image/png")

    files = await asyncio.to_thread(lambda: [p for p in tmp_path.rglob("*") if p.is_file()])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [f"{key[:2]}/{key[2:4]}/{key}"]
    assert await store.read(key) == data
    await store.delete(key)
    with pytest.raises(DomainError) as raised:
        await store.read(key)
    assert raised.value.code is ErrorCode.NOT_FOUND


async def test_keys_that_are_not_sha256_never_reach_a_path(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path / "images")
    for key in ("../../etc/passwd", "A" * 64, "ab"):
        with pytest.raises(ValueError):
            await store.put(key, b"x", "image/png")
    assert not (tmp_path / "images").exists()


def test_a_signed_path_holds_for_its_viewer_until_it_expires() -> None:
    now = [1_000_000.0]
    signer = HmacImageUrlSigner(b"secret", ttl_seconds=300, clock=lambda: now[0])
    path = signer.sign("study-1", "viewer-1")
    assert path.startswith("/images/study-1?")
    query = dict(part.split("=") for part in path.split("?")[1].split("&"))
    expires, signature = query["expires"], query["signature"]

    assert signer.verify("study-1", "viewer-1", expires, signature)
    assert not signer.verify("study-1", "viewer-2", expires, signature)
    assert not signer.verify("study-2", "viewer-1", expires, signature)
    assert not signer.verify("study-1", "viewer-1", str(int(expires) + 1), signature)
    assert not HmacImageUrlSigner(b"other", ttl_seconds=300).verify(
        "study-1", "viewer-1", expires, signature
    )
    now[0] += 301
    assert not signer.verify("study-1", "viewer-1", expires, signature)
