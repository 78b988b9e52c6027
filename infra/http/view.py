"""The GraphQL endpoint: Strawberry's ASGI view with CareGraph's context, auth and errors."""

from __future__ import annotations

import uuid
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from domain.errors import DomainError, ErrorCode
from domain.principal import Principal
from domain.services import Services
from infra.http.graphiql import graphiql_assets_available, graphiql_html, graphiql_unavailable_html
from infra.http.requests import error_body
from resolvers.users.loaders import UserByIdLoader
from schema.context import Context

STATUS_CODES = {
    400: ErrorCode.BAD_USER_INPUT,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.BAD_USER_INPUT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def bearer(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError(ErrorCode.UNAUTHENTICATED, "Use 'Authorization: Bearer <token>'")
    return token.strip()


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: Any, *, services: Services, node_modules: Any) -> None:
        super().__init__(schema, graphql_ide="graphiql", multipart_uploads_enabled=True)
        self.services = services
        self.node_modules = node_modules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.run(request)
        except HTTPException as error:
            code = STATUS_CODES.get(error.status_code, ErrorCode.BAD_USER_INPUT)
            response = self._error(error.status_code, code, error.reason, scope)
        except DomainError as error:
            status = 401 if error.code is ErrorCode.UNAUTHENTICATED else 400
            response = self._error(status, error.code, error.message, scope)
        await response(scope, receive, send)

    @staticmethod
    def _error(status: int, code: ErrorCode, message: str, scope: Scope) -> Response:
        request_id = scope.get("state", {}).get("request_id", "")
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return Response(error_body(code, message, request_id), status, headers, "application/json")

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        request_id = request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex
        context = Context(
            services=self.services, request_id=request_id, request=request, response=response
        )
        if isinstance(request, WebSocket):
            context.cache_loaders = False
            return context
        token = bearer(request.headers.get("authorization"))
        if token is not None:
            principal, user = await self.services.users.authenticate_user(
                token, request_id=request_id
            )
            context.principal = principal
            # The caller's own row was just read to authenticate them: `me` needs no second read.
            context.loader(UserByIdLoader).prime(user.id, user)
        return context

    async def _authenticate(self, token: str, request_id: str) -> Principal:
        return await self.services.users.authenticate(token, request_id=request_id)

    async def on_ws_connect(self, context: Context) -> None:
        params = context.connection_params or {}
        header = params.get("authorization", params.get("Authorization"))
        try:
            token = bearer(header)
            if token is not None:
                context.principal = await self._authenticate(token, context.request_id)
        except DomainError as error:
            raise ConnectionRejectionError(
                {"message": error.message, "extensions": {"code": error.code.value}}
            ) from None
        return None

    def should_render_graphql_ide(self, request: Any) -> bool:
        # Browsers only: Strawberry's default also answers curl's */* and GET ?query= with HTML.
        return bool(request.method == "GET" and "text/html" in request.headers.get("accept", ""))

    async def render_graphql_ide(self, request: Request) -> Response:
        if not graphiql_assets_available(self.node_modules):
            return HTMLResponse(graphiql_unavailable_html(self.node_modules), status_code=503)
        return HTMLResponse(graphiql_html(endpoint="/graphql", assets_prefix="/graphiql/"))
