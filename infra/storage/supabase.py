"""Image bytes in a Supabase Storage bucket, through the ``supabase`` package's async client.

Objects are content-addressed like the local store (``ab/cd/<sha256>``). The adapter uses three
Storage endpoints: upload (``POST /storage/v1/object/{bucket}/{path}``), signed URL
(``POST /storage/v1/object/sign/{bucket}/{path}``) and the signed download it returns; deletes
use ``DELETE /storage/v1/object/{bucket}``. CareGraph never hands a Supabase URL to a client:
its own image endpoint checks the viewer, then reads the bytes through a URL signed for
``SIGNED_READ_SECONDS``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from storage3.exceptions import StorageApiError
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from domain.errors import DomainError, ErrorCode, not_found
from infra.storage.files import checked_key

SIGNED_READ_SECONDS = 60


def object_path(key: str) -> str:
    key = checked_key(key)
    return f"{key[:2]}/{key[2:4]}/{key}"


class SupabaseImageStore:
    def __init__(self, url: str, key: str, bucket: str, *, timeout: float = 30.0) -> None:
        self._url = url
        self._key = key
        self._bucket = bucket
        self._client: AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._http = httpx.AsyncClient(timeout=timeout)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        bucket = await self._bucket_api()
        try:
            await bucket.upload(
                object_path(key),
                data,
                {"content-type": content_type, "upsert": "true", "cache-control": "3600"},
            )
        except (StorageApiError, httpx.HTTPError) as error:
            raise _unavailable("store", error) from error

    async def read(self, key: str) -> bytes:
        bucket = await self._bucket_api()
        try:
            signed = await bucket.create_signed_url(object_path(key), SIGNED_READ_SECONDS)
        except StorageApiError as error:
            if _status(error) in (400, 404):
                raise not_found("Image") from error
            raise _unavailable("read", error) from error
        except httpx.HTTPError as error:
            raise _unavailable("read", error) from error
        url = signed["signedURL"]
        if not url:
            raise not_found("Image")
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as error:
            raise _unavailable("read", error) from error
        if response.status_code == 404:
            raise not_found("Image")
        if response.status_code != 200:
            raise DomainError(ErrorCode.SERVICE_UNAVAILABLE, "Image storage did not answer")
        return response.content

    async def delete(self, key: str) -> None:
        bucket = await self._bucket_api()
        try:
            await bucket.remove([object_path(key)])
        except (StorageApiError, httpx.HTTPError) as error:
            raise _unavailable("delete", error) from error

    async def close(self) -> None:
        await self._http.aclose()

    async def _bucket_api(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    # Our own HTTP client: timeouts set here, one pool, closed by ``close``.
                    options = AsyncClientOptions(httpx_client=self._http)
                    self._client = await acreate_client(self._url, self._key, options)
        return self._client.storage.from_(self._bucket)


def _status(error: StorageApiError) -> int:
    try:
        return int(error.status)
    except (TypeError, ValueError):
        return 0


def _unavailable(action: str, error: Exception) -> DomainError:
    return DomainError(
        ErrorCode.SERVICE_UNAVAILABLE,
        f"Image storage could not {action} the image ({type(error).__name__})",
    )
