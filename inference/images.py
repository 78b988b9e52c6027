"""Decode and validate an uploaded image: sniffed type, byte and pixel bounds, EXIF, RGB."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass

from PIL import Image, ImageOps

from domain.errors import DomainError, ErrorCode, bad_input
from inference.image_header import JPEG, PNG, ImageHeader, read_header

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

_PILLOW_FORMATS = {JPEG: "JPEG", PNG: "PNG"}


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Bounds on an upload. ``max_pixels`` never exceeds Pillow's own ``MAX_IMAGE_PIXELS``."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS

    def check_size(self, byte_count: int) -> None:
        """PAYLOAD_TOO_LARGE past ``max_bytes``; callers streaming an upload may call it early."""
        if byte_count > self.max_bytes:
            raise DomainError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The file is larger than {self.max_bytes} bytes",
                field="file",
            )

    def check_pixels(self, header: ImageHeader) -> None:
        limit = self.max_pixels
        if Image.MAX_IMAGE_PIXELS is not None:
            limit = min(limit, int(Image.MAX_IMAGE_PIXELS))
        if header.pixels > limit:
            raise bad_input(
                f"The image is {header.width}x{header.height} pixels, more than {limit} in all",
                field="file",
            )


@dataclass(frozen=True, slots=True)
class DecodedImage:
    image: Image.Image
    width: int
    height: int
    sha256: str
    content_type: str
    byte_size: int


def decode_image(data: bytes, limits: ImageLimits | None = None) -> DecodedImage:
    """A validated RGB image, EXIF orientation applied. Blocking: run it in a worker thread."""
    limits = limits or ImageLimits()
    limits.check_size(len(data))
    header = read_header(data)
    limits.check_pixels(header)
    image = open_image(data, header.content_type)
    if image.size != (header.width, header.height):
        raise bad_input("The image header and its content disagree", field="file")
    try:
        upright = ImageOps.exif_transpose(image)
        rgb = upright if upright.mode == "RGB" else upright.convert("RGB")
    except (OSError, ValueError, SyntaxError, struct.error) as exc:
        raise bad_input("The image could not be converted to RGB", field="file") from exc
    return DecodedImage(
        image=rgb,
        width=rgb.width,
        height=rgb.height,
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=header.content_type,
        byte_size=len(data),
    )


def open_image(data: bytes, content_type: str) -> Image.Image:
    """Decode with Pillow, restricted to the sniffed format; damage and bombs are BAD_USER_INPUT.

    ``DecompressionBombWarning`` is caught where warnings are errors (tests, ``-W error``); the
    pixel check in ``decode_image`` keeps the warning from firing otherwise.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[content_type]])
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise bad_input("The image has too many pixels", field="file") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise bad_input("The image is truncated or damaged", field="file") from exc
    return image
