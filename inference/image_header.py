"""Content type and pixel size of an upload, read from its first bytes without decoding it.

Only JPEG and PNG are recognised, by their magic bytes; the declared type and the file name
play no part. The size comes from the PNG ``IHDR`` chunk or the first JPEG ``SOFn`` segment,
so a decompression bomb is measured before a single pixel is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import DomainError, ErrorCode, bad_input

JPEG = "image/jpeg"
PNG = "image/png"

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS = 0xDA
_EOI = 0xD9


@dataclass(frozen=True, slots=True)
class ImageHeader:
    content_type: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def sniff_content_type(data: bytes) -> str | None:
    if data.startswith(_PNG_MAGIC):
        return PNG
    if data.startswith(_JPEG_MAGIC):
        return JPEG
    return None


def read_header(data: bytes) -> ImageHeader:
    """Type and size of a JPEG or PNG; UNSUPPORTED_MEDIA_TYPE for anything else."""
    if not data:
        raise bad_input("The file is empty", field="file")
    content_type = sniff_content_type(data)
    if content_type is None:
        raise DomainError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "Only JPEG and PNG images are accepted",
            field="file",
        )
    width, height = _png_size(data) if content_type == PNG else _jpeg_size(data)
    if width < 1 or height < 1:
        raise bad_input("The image has no pixels", field="file")
    return ImageHeader(content_type, width, height)


def _png_size(data: bytes) -> tuple[int, int]:
    # signature (8) | length (4) | "IHDR" (4) | width (4) | height (4) | ...
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise bad_input("The PNG file is truncated or damaged (no IHDR)", field="file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    end = len(data)
    while pos < end:
        if data[pos] != 0xFF:
            raise bad_input("The JPEG file is damaged (bad marker)", field="file")
        while pos < end and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE:
            continue
        if marker in (_SOS, _EOI):
            raise bad_input("The JPEG file has no frame header", field="file")
        if pos + 2 > end:
            break
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            raise bad_input("The JPEG file is damaged (bad segment length)", field="file")
        if marker in _SOF_MARKERS:
            # length (2) | precision (1) | height (2) | width (2)
            if pos + 7 > end:
                break
            height = int.from_bytes(data[pos + 3 : pos + 5], "big")
            width = int.from_bytes(data[pos + 5 : pos + 7], "big")
            return width, height
        pos += length
    raise bad_input("The JPEG file is truncated", field="file")
