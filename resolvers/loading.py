"""The base of every per-request DataLoader: it knows the request's context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from aiodataloader import DataLoader

if TYPE_CHECKING:
    from schema.context import Context

K = TypeVar("K")
V = TypeVar("V")


class ContextLoader(DataLoader[K, V], Generic[K, V]):
    def __init__(self, context: Context, *, cache: bool = True) -> None:
        super().__init__(cache=cache)
        self.context = context
