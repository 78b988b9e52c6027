"""Signed image paths: ``/images/<study>?expires=<unix>&signature=<hmac>``.

The signature covers the study, the viewer the URL was made for, and the expiry. The image
endpoint also requires that viewer's bearer token and asks the imaging service again whether
they may see the study, so a URL that leaks is useless to anyone else, and stops working for
its own viewer when it expires or when their access ends.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlencode

IMAGE_PATH = "/images/"


class HmacImageUrlSigner:
    def __init__(
        self, key: bytes, *, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = hashlib.sha256(b"caregraph image urls\0" + key).digest()
        self._ttl = ttl_seconds
        self._clock = clock

    def sign(self, study_id: str, viewer_id: str) -> str:
        expires = str(int(self._clock()) + self._ttl)
        signature = self._mac(study_id, viewer_id, expires)
        query = urlencode({"expires": expires, "signature": signature})
        return f"{IMAGE_PATH}{study_id}?{query}"

    def verify(self, study_id: str, viewer_id: str, expires: str, signature: str) -> bool:
        if not expires.isdigit() or int(expires) < self._clock():
            return False
        return hmac.compare_digest(self._mac(study_id, viewer_id, expires), signature)

    def _mac(self, study_id: str, viewer_id: str, expires: str) -> str:
        message = f"{study_id}\0{viewer_id}\0{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
