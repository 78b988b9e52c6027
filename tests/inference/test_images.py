"""Uploads decoded and validated with real Pillow files made here: type sniffed from content,
byte and pixel bounds, damage, EXIF orientation."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from domain.errors import DomainError, ErrorCode
from inference.image_header import read_header
from inference.images import ImageLimits, decode_image, open_image

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def jpeg(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, **params)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def left_red_right_blue(width: int = 80, height: int = 40) -> Image.Image:
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    return image


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and a valid IHDR chunk claiming width x height, and nothing else."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def code_of(data: bytes, limits: ImageLimits | None = None) -> ErrorCode:
    with pytest.raises(DomainError) as refused:
        decode_image(data, limits)
    return refused.value.code


def test_a_jpeg_is_decoded_to_rgb_with_its_hash_and_size() -> None:
    # given a 80x40 JPEG
    data = jpeg(left_red_right_blue())
    # when it is decoded
    decoded = decode_image(data)
    # then it is RGB, its size, type and SHA-256 are reported
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == (80, 40)
    assert decoded.content_type == "image/jpeg"
    assert decoded.sha256 == hashlib.sha256(data).hexdigest()
    assert decoded.byte_size == len(data)


def test_exif_orientation_is_applied() -> None:
    # given a landscape JPEG, red left / blue right, tagged "rotate 90 CW to display" (6)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = jpeg(left_red_right_blue(), exif=exif.tobytes())
    # when it is decoded
    decoded = decode_image(data)
    # then it stands upright: portrait, red on top and blue at the bottom
    assert (decoded.width, decoded.height) == (40, 80)
    top = decoded.image.getpixel((20, 5))
    bottom = decoded.image.getpixel((20, 75))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 and top[2] < 100
    assert bottom[2] > 150 and bottom[0] < 100


def test_a_png_named_jpg_is_sniffed_as_png(tmp_path: object) -> None:
    # given a PNG saved under a .jpg name (the name and declared type play no part)
    data = png(Image.new("RGBA", (16, 8), (0, 128, 0, 255)))
    # when it is decoded
    decoded = decode_image(data)
    # then it is known as a PNG and converted to RGB
    assert decoded.content_type == "image/png"
    assert decoded.image.mode == "RGB"
    assert decoded.image.getpixel((0, 0)) == (0, 128, 0)


def test_a_zip_is_unsupported() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scan.jpg", b"not really")
    assert code_of(buffer.getvalue()) == ErrorCode.UNSUPPORTED_MEDIA_TYPE


def test_a_gif_is_unsupported_even_though_pillow_reads_it() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "GIF")
    assert code_of(buffer.getvalue()) == ErrorCode.UNSUPPORTED_MEDIA_TYPE


def test_an_empty_file_is_bad_input() -> None:
    assert code_of(b"") == ErrorCode.BAD_USER_INPUT


def test_a_truncated_jpeg_is_bad_input() -> None:
    data = jpeg(Image.effect_noise((256, 256), 60).convert("RGB"))
    assert code_of(data[: len(data) // 2]) == ErrorCode.BAD_USER_INPUT


def test_a_jpeg_cut_inside_its_headers_is_bad_input() -> None:
    data = jpeg(left_red_right_blue())
    assert code_of(data[:40]) == ErrorCode.BAD_USER_INPUT


def test_a_truncated_png_is_bad_input() -> None:
    data = png(Image.effect_noise((128, 128), 60).convert("RGB"))
    assert code_of(data[: len(data) // 2]) == ErrorCode.BAD_USER_INPUT


def test_a_file_over_the_byte_limit_is_too_large() -> None:
    data = jpeg(left_red_right_blue())
    assert code_of(data, ImageLimits(max_bytes=len(data) - 1)) == ErrorCode.PAYLOAD_TOO_LARGE
    assert decode_image(data, ImageLimits(max_bytes=len(data))).width == 80


def test_a_30000_by_30000_png_is_refused_from_its_header() -> None:
    # given only the 33 header bytes of a PNG that claims 30000 x 30000 pixels
    data = png_header_only(30_000, 30_000)
    assert read_header(data).pixels == 900_000_000
    # when it is decoded, then it is refused before any pixel is allocated
    with pytest.raises(DomainError) as refused:
        decode_image(data)
    assert refused.value.code == ErrorCode.BAD_USER_INPUT
    assert "30000x30000" in refused.value.message


def test_the_pixel_limit_is_configurable() -> None:
    data = png(Image.new("RGB", (100, 100)))
    assert code_of(data, ImageLimits(max_pixels=9_999)) == ErrorCode.BAD_USER_INPUT
    assert decode_image(data, ImageLimits(max_pixels=10_000)).width == 100


def test_a_huge_jpeg_frame_header_is_refused_without_decoding() -> None:
    # given a small JPEG whose SOF0 frame header is rewritten to claim 60000 x 60000
    data = bytearray(jpeg(left_red_right_blue()))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60_000, 60_000)
    # when it is decoded, then the header check refuses it
    assert code_of(bytes(data)) == ErrorCode.BAD_USER_INPUT


@pytest.mark.parametrize("max_pixels", [1_000, 3_000])
def test_pillow_bomb_guard_becomes_bad_input(
    monkeypatch: pytest.MonkeyPatch, max_pixels: int
) -> None:
    # given Pillow's own bound set below a 64x64 image: over 2x it raises
    # DecompressionBombError, over 1x it warns (an error under this test configuration)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", max_pixels)
    data = png(Image.new("RGB", (64, 64)))
    # when Pillow opens it, then either way the caller sees BAD_USER_INPUT
    with pytest.raises(DomainError) as refused:
        open_image(data, "image/png")
    assert refused.value.code == ErrorCode.BAD_USER_INPUT
    # and decode_image never lets the limit exceed Pillow's bound in the first place
    assert code_of(data, ImageLimits(max_pixels=10**9)) == ErrorCode.BAD_USER_INPUT
