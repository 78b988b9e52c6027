"""Request ids and body limits, as plain ASGI middleware (they must see WebSockets too)."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import ErrorCode

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def error_body(code: ErrorCode, message: str, request_id: str) -> bytes:
    return json.dumps(
        {
            "errors": [
                {"message": message, "extensions": {"code": code.value, "requestId": request_id}}
            ]
        }
    ).encode()


async def send_error(
    send: Send, status: int, code: ErrorCode, message: str, request_id: str
) -> None:
    body = error_body(code, message, request_id)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Room for a multipart request's other parts (operations, map) and part headers.
MULTIPART_OVERHEAD = 64 * 1024


# Whether the caller behind an Authorization header may send a model file (admins only).
MayUploadModels = Callable[[str], Awaitable[bool]]


class RequestContextMiddleware:
    """Gives every request an id (the caller's X-Request-ID when sane), puts it in the log
    records and the response, and refuses bodies over the limit with PAYLOAD_TOO_LARGE.

    A multipart request (a file upload) may be as large as ``max_upload_bytes`` plus room for
    its other parts; an admin's, as large as ``max_model_bytes``, since model files are larger
    than images (``may_upload_models`` says who is an admin, asked only when a body is over the
    image limit). Every other body stays within ``max_body_bytes``. A declared length over the
    limit is refused before a byte is read, and a body without one is refused as soon as it
    passes the limit, so an oversized upload is never buffered whole.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int | None = None,
        max_model_bytes: int | None = None,
        may_upload_models: MayUploadModels | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.max_model_bytes = max_model_bytes
        self.may_upload_models = may_upload_models

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if SAFE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, headers, request_id)
        finally:
            request_id_var.reset(token)

    def _limits(self, headers: dict[bytes, bytes]) -> tuple[int, int | None]:
        """The body limit, and the larger one an admin's model upload may have (or None)."""
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"multipart/form-data" or self.max_upload_bytes is None:
            return self.max_body_bytes, None
        limit = max(self.max_body_bytes, self.max_upload_bytes + MULTIPART_OVERHEAD)
        if self.max_model_bytes is None or self.may_upload_models is None:
            return limit, None
        larger = self.max_model_bytes + MULTIPART_OVERHEAD
        return limit, larger if larger > limit else None

    async def _http(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        request_id: str,
    ) -> None:
        limit, larger = self._limits(headers)

        async def over(size: int) -> bool:
            nonlocal limit, larger
            if size <= limit:
                return False
            if larger is not None and self.may_upload_models is not None:
                authorization = headers.get(b"authorization", b"").decode("latin-1")
                if await self.may_upload_models(authorization):
                    limit = larger
                larger = None
            return size > limit

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and await over(int(declared)):
            await self._too_large(send, limit, request_id)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if await over(size):
                    await self._too_large(send, limit, request_id)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            receive = replay

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)

    @staticmethod
    async def _too_large(send: Send, limit: int, request_id: str) -> None:
        message = f"The request body is over {limit} bytes"
        await send_error(send, 413, ErrorCode.PAYLOAD_TOO_LARGE, message, request_id)
