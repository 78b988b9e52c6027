"""Version strings: semantic versions only."""

from __future__ import annotations

import pytest

from domain.errors import DomainError, ErrorCode
from domain.registry.semver import check_semver


@pytest.mark.parametrize(
    "version", ["0.0.1", "1.0.0", "10.20.30", "1.0.0-rc.1", "2.0.0-alpha-2+build.5", " 1.2.3 "]
)
def test_semantic_versions_pass(version: str) -> None:
    assert check_semver(version) == version.strip()


@pytest.mark.parametrize(
    "version",
    ["", "1", "1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "1.0.0.0", "1" * 70],
)
def test_anything_else_is_bad_input(version: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_semver(version)
    assert refused.value.code is ErrorCode.BAD_USER_INPUT
    assert refused.value.field == "version"
