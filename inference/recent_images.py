"""Uploads decoded for validation, kept briefly for the diagnosis worker of the same process.

The upload decodes every image to check it; the worker would decode the same bytes again a few
milliseconds later. When both run in one process, the upload leaves its decoded image here under
its SHA-256 and the worker takes it out once. A job claimed by another replica, retried, or
arriving after the image was pushed out, reads and decodes the stored bytes as before.

Bounded by decoded bytes (RGB, 3 bytes a pixel), oldest out first. Used from the event loop only.
"""

from __future__ import annotations

from collections import OrderedDict

from inference.images import DecodedImage

DEFAULT_CAPACITY_BYTES = 64 * 1024 * 1024


def decoded_bytes(image: DecodedImage) -> int:
    return image.width * image.height * 3


class RecentImages:
    def __init__(self, capacity_bytes: int = DEFAULT_CAPACITY_BYTES) -> None:
        self.capacity_bytes = capacity_bytes
        self._images: OrderedDict[str, DecodedImage] = OrderedDict()
        self._held = 0

    def __len__(self) -> int:
        return len(self._images)

    @property
    def held_bytes(self) -> int:
        return self._held

    def keep(self, image: DecodedImage) -> None:
        """Hold ``image`` for a later ``take``; one larger than the whole capacity is not kept."""
        size = decoded_bytes(image)
        if size > self.capacity_bytes:
            return
        self.take(image.sha256)
        while self._images and self._held + size > self.capacity_bytes:
            self.take(next(iter(self._images)))
        self._images[image.sha256] = image
        self._held += size

    def take(self, sha256: str) -> DecodedImage | None:
        """The image kept under ``sha256``, removed; None when it is not here."""
        image = self._images.pop(sha256, None)
        if image is not None:
            self._held -= decoded_bytes(image)
        return image
