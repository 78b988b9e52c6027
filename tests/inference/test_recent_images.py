"""Decoded uploads held for the worker: taken once, bounded by decoded bytes, oldest out first."""

from __future__ import annotations

import io

from PIL import Image

from inference.images import DecodedImage, decode_image
from inference.recent_images import RecentImages, decoded_bytes


def decoded(width: int, height: int, shade: int = 0) -> DecodedImage:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 0, 0)).save(buffer, format="PNG")
    return decode_image(buffer.getvalue())


def test_an_image_kept_is_taken_once() -> None:
    recent = RecentImages()
    image = decoded(40, 30)

    recent.keep(image)

    assert recent.take(image.sha256) is image
    assert recent.take(image.sha256) is None
    assert len(recent) == 0 and recent.held_bytes == 0


def test_the_oldest_images_make_room_and_the_bound_holds() -> None:
    # given room for two 40x30 images
    first, second, third = (decoded(40, 30, shade) for shade in (1, 2, 3))
    recent = RecentImages(capacity_bytes=2 * decoded_bytes(first))

    # when three are kept
    for image in (first, second, third):
        recent.keep(image)

    # then the first made room for the third
    assert recent.take(first.sha256) is None
    assert recent.take(second.sha256) is second
    assert recent.take(third.sha256) is third


def test_keeping_the_same_content_twice_holds_it_once() -> None:
    image = decoded(40, 30)
    recent = RecentImages(capacity_bytes=3 * decoded_bytes(image))

    recent.keep(image)
    recent.keep(image)

    assert len(recent) == 1 and recent.held_bytes == decoded_bytes(image)


def test_an_image_larger_than_the_whole_capacity_is_not_kept() -> None:
    small, large = decoded(10, 10), decoded(100, 100)
    recent = RecentImages(capacity_bytes=decoded_bytes(small) * 2)
    recent.keep(small)

    recent.keep(large)

    assert recent.take(large.sha256) is None
    assert recent.take(small.sha256) is small  # and it pushed nothing out
