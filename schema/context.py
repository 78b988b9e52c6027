"""The per-request context every resolver receives (``Info = strawberry.Info[Context, None]``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.principal import Principal
from domain.services import Services

if TYPE_CHECKING:
    from resolvers.loading import ContextLoader

LoaderT = TypeVar("LoaderT", bound="ContextLoader[Any, Any]")


@dataclass
class Context:
    """Built fresh for every HTTP request and every WebSocket connection.

    Loaders live here, never at module level: a loader caches what it loaded, and a cache
    shared between callers would show one patient's records to another.
    """

    services: Services
    request_id: str
    principal: Principal | None = None
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    connection_params: dict[str, Any] | None = None
    # A WebSocket connection lives for hours: its loaders batch but do not cache.
    cache_loaders: bool = True
    _loaders: dict[type[Any], Any] = field(default_factory=dict)

    def loader(self, kind: type[LoaderT]) -> LoaderT:
        """The request's instance of a loader class, created on first use."""
        found = self._loaders.get(kind)
        if found is None:
            found = kind(self, cache=self.cache_loaders)
            self._loaders[kind] = found
        return found


Info = strawberry.Info[Context, None]
