"""What a client sees of an error: a message and ``extensions.code``, never a stack or SQL.

Domain refusals keep their message and code. GraphQL's own refusals (syntax, validation,
variables, limits) are BAD_USER_INPUT. Anything else is logged with the request id and
reaches the client as INTERNAL_SERVER_ERROR with that request id.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.types import ExecutionContext

from domain.errors import DomainError, ErrorCode

log = logging.getLogger("caregraph.errors")

INTERNAL_MESSAGE = "Internal server error"


def request_id_of(execution_context: ExecutionContext | None) -> str:
    context = execution_context.context if execution_context else None
    return str(getattr(context, "request_id", "") or "")


def apply_error_policy(errors: list[GraphQLError], request_id: str) -> None:
    """Give every error a code and mask the unexpected ones, in place."""
    for error in errors:
        original = error.original_error
        while isinstance(original, GraphQLError) and original.original_error is not None:
            original = original.original_error
        if isinstance(original, DomainError):
            extensions: dict[str, Any] = {**original.extensions, "code": original.code.value}
            if original.field:
                extensions["field"] = original.field
            error.extensions = extensions
        elif original is None or isinstance(original, GraphQLError):
            code = (error.extensions or {}).get("code") or ErrorCode.BAD_USER_INPUT.value
            error.extensions = {**(error.extensions or {}), "code": code}
        else:
            log.error(
                "unexpected error in %s [request_id=%s]",
                ".".join(str(p) for p in error.path or ()) or "operation",
                request_id,
                exc_info=(type(original), original, original.__traceback__),
            )
            error.message = INTERNAL_MESSAGE
            error.original_error = None
            error.extensions = {
                "code": ErrorCode.INTERNAL_SERVER_ERROR.value,
                "requestId": request_id,
            }


class ErrorPolicy:
    """Mixed into every schema CareGraph executes: composed or a single subgraph."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        apply_error_policy(errors, request_id_of(execution_context))
