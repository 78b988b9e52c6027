"""The upload check imaging asks for, done by ``inference.images.decode_image`` in a thread."""

from __future__ import annotations

import asyncio

from domain.imaging.models import ImageFacts
from inference.images import ImageLimits, decode_image
from inference.recent_images import RecentImages


class PillowImageInspector:
    """Sniffs JPEG/PNG, bounds bytes and pixels, decodes with EXIF orientation: off the loop."""

    def __init__(self, limits: ImageLimits, *, recent_images: RecentImages | None = None) -> None:
        self._limits = limits
        self._recent = recent_images

    async def inspect(self, data: bytes) -> ImageFacts:
        decoded = await asyncio.to_thread(decode_image, data, self._limits)
        if self._recent is not None:
            # The diagnosis worker of this process classifies it next: spare it a second decode.
            self._recent.keep(decoded)
        return ImageFacts(
            sha256=decoded.sha256,
            content_type=decoded.content_type,
            width=decoded.width,
            height=decoded.height,
            byte_size=decoded.byte_size,
        )
