"""A subgraph's definition, and the Apollo Federation 2 schema built from it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import strawberry

FEDERATION_VERSION: Final = "2.11"


@dataclass(frozen=True)
class SubgraphSpec:
    name: str
    query: type
    mutation: type | None = None
    subscription: type | None = None
    types: tuple[type, ...] = ()


def build_subgraph_schema(
    spec: SubgraphSpec, *, extensions: Sequence[Any] = ()
) -> strawberry.federation.Schema:
    """The subgraph alone, with ``_service`` and ``_entities``, servable behind a gateway."""
    return strawberry.federation.Schema(
        query=spec.query,
        mutation=spec.mutation,
        subscription=spec.subscription,
        types=list(spec.types),
        extensions=list(extensions),
        federation_version=FEDERATION_VERSION,
    )
