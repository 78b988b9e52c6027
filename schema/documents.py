"""Parsing and validation, cached, with limits on size, depth and aliases.

graphql-core validation costs about a millisecond per request and dominates a small query,
so each distinct query text is parsed and validated once. Limits are validation rules built
once, so the cache key (the text) says everything: the same text always gets the same answer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from threading import Lock

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, specified_rules, validate
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule

CACHE_SIZE = 512


@dataclass(frozen=True)
class Limits:
    max_depth: int = 12
    max_tokens: int = 2_000
    max_aliases: int = 30


class DocumentCache:
    """An LRU of query text → (document, validation errors) for one schema."""

    def __init__(self, limits: Limits, size: int = CACHE_SIZE) -> None:
        self.limits = limits
        self.rules: tuple[type[ASTValidationRule], ...] = (
            *specified_rules,
            max_depth_rule(limits.max_depth, None),
            max_aliases_rule(limits.max_aliases),
        )
        self._size = size
        self._entries: OrderedDict[str, tuple[DocumentNode | None, list[GraphQLError]]] = (
            OrderedDict()
        )
        self._lock = Lock()

    def get(
        self, schema: GraphQLSchema, query: str
    ) -> tuple[DocumentNode | None, list[GraphQLError]]:
        with self._lock:
            found = self._entries.get(query)
            if found is not None:
                self._entries.move_to_end(query)
                return found
        try:
            document: DocumentNode | None = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError as error:
            entry: tuple[DocumentNode | None, list[GraphQLError]] = (None, [error])
        else:
            assert document is not None
            entry = (document, validate(schema, document, self.rules))
        with self._lock:
            self._entries[query] = entry
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry


def document_cache_extension(cache: DocumentCache) -> type[SchemaExtension]:
    """A per-request extension class bound to one process-wide cache."""

    class CachedDocuments(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            context = self.execution_context
            if context.graphql_document is None and context.query:
                document, errors = cache.get(context.schema._schema, context.query)
                if document is None:
                    # Strawberry parses again, fails the same way and reports the error.
                    context.parse_options["max_tokens"] = cache.limits.max_tokens
                else:
                    context.graphql_document = document
                    # A list, even empty, tells Strawberry that validation has been done.
                    context.pre_execution_errors = list(errors)
            yield

        def on_validate(self) -> Iterator[None]:
            yield

    return CachedDocuments
