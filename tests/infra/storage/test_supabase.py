"""The Supabase Storage adapter against a local HTTP server that speaks the Storage endpoints
it uses: upload, signed URL, signed download, delete."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.errors import DomainError, ErrorCode
from infra.storage.supabase import SupabaseImageStore, object_path
from tests.conftest import free_port

KEY = "service-role-key-for-tests"
BUCKET = "studies"


@dataclass
class FakeStorage:
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        def authorized(request: Request) -> bool:
            return (
                request.headers.get("authorization") == f"Bearer {KEY}"
                and request.headers.get("apikey") == KEY
            )

        def missing() -> JSONResponse:
            body = {"statusCode": "404", "error": "not_found", "message": "Object not found"}
            return JSONResponse(body, status_code=400)

        async def upload(request: Request) -> Response:
            self.requests.append(f"upload {request.path_params['path']}")
            if not authorized(request) or request.path_params["bucket"] != BUCKET:
                return JSONResponse({"statusCode": "403", "error": "x", "message": "no"}, 403)
            form = await request.form()
            part = form["file"]
            assert not isinstance(part, str)
            data = await part.read()
            await form.close()
            self.objects[request.path_params["path"]] = (data, part.content_type or "")
            return JSONResponse({"Key": f"{BUCKET}/{request.path_params['path']}"})

        async def sign(request: Request) -> Response:
            path = request.path_params["path"]
            self.requests.append(f"sign {path}")
            if not authorized(request):
                return JSONResponse({"statusCode": "403", "error": "x", "message": "no"}, 403)
            if path not in self.objects:
                return missing()
            assert int((await request.json())["expiresIn"]) > 0
            token = secrets.token_hex(8)
            self.tokens[token] = path
            return JSONResponse({"signedURL": f"/object/sign/{BUCKET}/{path}?token={token}"})

        async def download(request: Request) -> Response:
            path = request.path_params["path"]
            self.requests.append(f"download {path}")
            if self.tokens.get(request.query_params.get("token", "")) != path:
                return JSONResponse({"statusCode": "400", "error": "x", "message": "bad"}, 400)
            data, content_type = self.objects[path]
            return Response(data, media_type=content_type)

        async def remove(request: Request) -> Response:
            prefixes = (await request.json())["prefixes"]
            self.requests.append(f"delete {','.join(prefixes)}")
            for prefix in prefixes:
                self.objects.pop(prefix, None)
            return JSONResponse([{"name": p} for p in prefixes])

        return Starlette(
            routes=[
                Route("/storage/v1/object/sign/{bucket}/{path:path}", sign, methods=["POST"]),
                Route("/storage/v1/object/sign/{bucket}/{path:path}", download, methods=["GET"]),
                Route("/storage/v1/object/{bucket}", remove, methods=["DELETE"]),
                Route("/storage/v1/object/{bucket}/{path:path}", upload, methods=["POST"]),
            ]
        )


@pytest.fixture
async def storage() -> AsyncIterator[tuple[FakeStorage, str]]:
    fake = FakeStorage()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_put_then_read_through_a_signed_url(storage: tuple[FakeStorage, str]) -> None:
    fake, url = storage
    store = SupabaseImageStore(url, KEY, BUCKET)
    data = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(100)
    key = hashlib.sha256(data).hexdigest()
    try:
        # when an image is stored and read back
        await store.put(key, data, "image/png")
        read = await store.read(key)
    finally:
        await store.close()

    # then it went up content-addressed with its type, and came back through a signed URL
    path = object_path(key)
    assert path == f"{key[:2]}/{key[2:4]}/{key}"
    assert fake.objects[path] == (data, "image/png")
    assert read == data
    assert fake.requests == [f"upload {path}", f"sign {path}", f"download {path}"]


async def test_missing_objects_are_not_found_and_deletes_go_through(
    storage: tuple[FakeStorage, str],
) -> None:
    fake, url = storage
    store = SupabaseImageStore(url, KEY, BUCKET)
    key = "ab" * 32
    try:
        with pytest.raises(DomainError) as raised:
            await store.read(key)
        assert raised.value.code is ErrorCode.NOT_FOUND

        await store.put(key, b"bytes", "image/jpeg")
        await store.delete(key)
        assert fake.objects == {}
    finally:
        await store.close()


async def test_a_wrong_key_or_an_absent_server_is_service_unavailable(
    storage: tuple[FakeStorage, str],
) -> None:
    _, url = storage
    wrong = SupabaseImageStore(url, "not-the-key", BUCKET)
    away = SupabaseImageStore(f"http://127.0.0.1:{free_port()}", KEY, BUCKET)
    try:
        for store in (wrong, away):
            with pytest.raises(DomainError) as raised:
                await store.put("cd" * 32, b"bytes", "image/png")
            assert raised.value.code is ErrorCode.SERVICE_UNAVAILABLE
    finally:
        await wrong.close()
        await away.close()
