"""The schema a process executes: the composed graph, or one subgraph behind a gateway."""

from __future__ import annotations

import strawberry

from schema.composition import ComposedSchema
from schema.documents import DocumentCache, Limits, document_cache_extension
from schema.errors import ErrorPolicy
from schema.subgraph import FEDERATION_VERSION, SubgraphSpec, build_subgraph_schema
from schema.subgraphs import SUBGRAPHS, by_name


class ComposedGraph(ErrorPolicy, ComposedSchema):
    pass


class SubgraphOnly(ErrorPolicy, strawberry.federation.Schema):
    pass


def subgraph_schemas(
    specs: tuple[SubgraphSpec, ...] = SUBGRAPHS,
) -> dict[str, strawberry.federation.Schema]:
    return {spec.name: build_subgraph_schema(spec) for spec in specs}


def executable_schema(*, limits: Limits | None = None, subgraph: str = "") -> strawberry.Schema:
    """``subgraph`` empty: all subgraphs composed in-process. Otherwise that subgraph alone,
    with ``_service`` and ``_entities``, for a federation gateway."""
    extensions = [document_cache_extension(DocumentCache(limits or Limits()))]
    if not subgraph:
        return ComposedGraph(subgraph_schemas(), extensions=extensions)
    spec = by_name(subgraph)
    return SubgraphOnly(
        query=spec.query,
        mutation=spec.mutation,
        subscription=spec.subscription,
        types=list(spec.types),
        extensions=extensions,
        federation_version=FEDERATION_VERSION,
    )
