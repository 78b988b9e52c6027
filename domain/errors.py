"""Domain errors: every refusal the rules make carries one of these codes."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class DomainError(Exception):
    """A rule said no. The message is safe to show to the caller.

    ``extensions`` are more facts a client acts on, shown beside ``code`` (``reason`` of an
    authentication failure, ``retryAfter`` of a rate limit, ``cost`` and ``maxCost``).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extensions = dict(extensions or {})


def not_found(what: str) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"{what} not found")


def unauthenticated(message: str = "Sign in first") -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, message)


def forbidden(message: str) -> DomainError:
    return DomainError(ErrorCode.FORBIDDEN, message)


def bad_input(message: str, *, field: str | None = None) -> DomainError:
    return DomainError(ErrorCode.BAD_USER_INPUT, message, field=field)
