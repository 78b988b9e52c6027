"""Opaque cursors and page-size rules shared by every connection field."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from domain.errors import bad_input

DEFAULT_PAGE = 20
MAX_PAGE = 100


def page_size(first: int | None, *, field: str = "first") -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 1 <= first <= MAX_PAGE:
        raise bad_input(f"{field} must be between 1 and {MAX_PAGE}", field=field)
    return first


def encode_cursor(kind: str, *parts: Any) -> str:
    raw = json.dumps([kind, *parts], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, *, field: str = "after") -> list[Any]:
    """The parts of a cursor of ``kind``; BAD_USER_INPUT for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_input("Invalid cursor", field=field) from None
    if not isinstance(value, list) or not value or value[0] != kind:
        raise bad_input("Invalid cursor", field=field)
    return value[1:]
