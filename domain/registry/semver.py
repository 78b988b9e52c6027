"""Semantic versions (semver.org 2.0.0): the only version strings the registry accepts."""

from __future__ import annotations

import re

from domain.errors import bad_input

_NUMBER = r"0|[1-9]\d*"
_IDENT = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
SEMVER = re.compile(
    rf"^(?:{_NUMBER})\.(?:{_NUMBER})\.(?:{_NUMBER})"
    rf"(?:-{_IDENT}(?:\.{_IDENT})*)?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
MAX_LENGTH = 64


def check_semver(version: str) -> str:
    """``version`` stripped, or BAD_USER_INPUT unless it is MAJOR.MINOR.PATCH[-pre][+build]."""
    version = version.strip()
    if len(version) > MAX_LENGTH or not SEMVER.match(version):
        raise bad_input(
            "The version must be a semantic version such as 1.2.0 or 2.0.0-rc.1",
            field="version",
        )
    return version
