"""Who is asking: the authenticated caller every domain service decides for."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import forbidden, unauthenticated


class Role(StrEnum):
    PATIENT = "PATIENT"
    DOCTOR = "DOCTOR"
    ADMIN = "ADMIN"
    ANALYST = "ANALYST"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: Role
    request_id: str = ""


def require(principal: Principal | None) -> Principal:
    if principal is None:
        raise unauthenticated()
    return principal


def require_role(principal: Principal | None, *roles: Role) -> Principal:
    who = require(principal)
    if who.role not in roles:
        names = " or ".join(role.value for role in roles)
        raise forbidden(f"Only {names} may do this")
    return who
