"""Images and GraphQL multipart uploads for the imaging tests."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

UPLOAD = """
mutation($file: Upload!, $modality: Modality!) {
  uploadStudy(file: $file, modality: $modality) {
    id modality contentType sha256 width height imageUrl
    patient { id } assignedDoctor { id }
    diagnosis { id status label probabilities { label probability } }
  }
}"""

STUDY_STATUS = "query($id: ID!) { study(id: $id) { diagnosis { id status } } }"

# Every wait is bounded: a job that never finishes fails the test instead of hanging it.
WAIT = 60.0


def png(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(width: int = 64, height: int = 48, *, orientation: int | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (width, height), (30, 120, 200))
    if orientation is None:
        image.save(buffer, format="JPEG", quality=90)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels: signature, IHDR, one tiny IDAT, IEND.
    Nothing of that size is ever allocated, here or (if the check holds) in the server."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def zip_file() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scan.png", png())
    return buffer.getvalue()


async def post_upload(
    client: httpx.AsyncClient,
    token: str | None,
    data: bytes,
    *,
    filename: str = "scan.png",
    content_type: str = "image/png",
    modality: str = "SKIN",
    query: str = UPLOAD,
) -> httpx.Response:
    """A GraphQL multipart request (operations, map, one file part)."""
    operations = {"query": query, "variables": {"file": None, "modality": modality}}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": (filename, data, content_type)},
        headers=headers,
    )


def first_error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def wait_for_final(
    client: httpx.AsyncClient, token: str, study_id: str, *, wait: float = WAIT
) -> dict[str, Any]:
    """Poll the study until its diagnosis is COMPLETED or FAILED; return the diagnosis."""

    async def poll() -> dict[str, Any]:
        while True:
            response = await client.post(
                "/graphql",
                json={"query": STUDY_STATUS, "variables": {"id": study_id}},
                headers={"Authorization": f"Bearer {token}"},
            )
            body = response.json()
            assert "errors" not in body, body
            diagnosis: dict[str, Any] = body["data"]["study"]["diagnosis"]
            if diagnosis["status"] in ("COMPLETED", "FAILED"):
                return diagnosis
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), wait)


def stored_files(root: Path) -> set[str]:
    """Every file under the image store's directory (drafts included)."""
    if not root.exists():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
