"""Every subgraph of the graph, in composition order. A new subgraph is one line here."""

from __future__ import annotations

from schema import imaging, messaging, registry, scheduling, users
from schema.subgraph import SubgraphSpec

SUBGRAPHS: tuple[SubgraphSpec, ...] = (
    users.SUBGRAPH,
    messaging.SUBGRAPH,
    scheduling.SUBGRAPH,
    registry.SUBGRAPH,
    imaging.SUBGRAPH,
)


def by_name(name: str) -> SubgraphSpec:
    for spec in SUBGRAPHS:
        if spec.name == name:
            return spec
    names = ", ".join(spec.name for spec in SUBGRAPHS)
    raise KeyError(f"unknown subgraph {name!r}; known: {names}")
