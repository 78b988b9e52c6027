"""The Starlette application: /graphql (HTTP and WebSocket), GraphiQL assets, health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute

from domain.errors import DomainError
from domain.principal import Role
from infra.container import Runtime
from infra.http.graphiql import graphiql_assets_app
from infra.http.images import image_endpoint
from infra.http.requests import RequestContextMiddleware
from infra.http.view import GraphQLView, bearer
from schema.documents import Limits
from schema.executable import executable_schema


def create_app(runtime: Runtime) -> Starlette:
    """The ASGI app for one process: the composed graph, or ``settings.subgraph`` alone."""
    settings = runtime.settings
    schema = executable_schema(
        limits=Limits(
            max_depth=settings.max_query_depth,
            max_tokens=settings.max_query_tokens,
            max_aliases=settings.max_aliases,
        ),
        subgraph=settings.subgraph,
    )
    view = GraphQLView(schema, services=runtime.services, node_modules=settings.node_modules)

    async def may_upload_models(authorization: str) -> bool:
        """Model files are registered by admins; everyone else's uploads are images."""
        try:
            token = bearer(authorization)
            who = await runtime.services.users.authenticate(token) if token else None
        except DomainError:
            return False
        return who is not None and who.role is Role.ADMIN

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        checks = await runtime.ready()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await runtime.broker.start()
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    return Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Mount("/graphiql", app=graphiql_assets_app(settings.node_modules)),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/images/{study_id}", image_endpoint(runtime.services), methods=["GET"]),
        ],
        middleware=[
            Middleware(
                RequestContextMiddleware,
                max_body_bytes=settings.max_body_bytes,
                max_upload_bytes=settings.max_upload_bytes,
                max_model_bytes=settings.max_model_bytes,
                may_upload_models=may_upload_models,
            )
        ],
        lifespan=lifespan,
    )
