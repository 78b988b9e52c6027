"""The audit trail port: who read or wrote which record, when, under which request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from domain.principal import Principal


@dataclass(frozen=True, slots=True)
class AuditEvent:
    actor_id: str | None
    action: str
    record_type: str
    record_id: str
    request_id: str
    at: datetime
    detail: dict[str, str] = field(default_factory=dict)


def audit_events(
    who: Principal,
    action: str,
    record_type: str,
    record_ids: Iterable[str],
    *,
    at: datetime,
    detail: Mapping[str, str] | None = None,
) -> list[AuditEvent]:
    """One event per record, done by ``who`` under their request. An operator's principal has
    no account (user id ""): its events name no actor."""
    return [
        AuditEvent(
            actor_id=who.user_id or None,
            action=action,
            record_type=record_type,
            record_id=record_id,
            request_id=who.request_id,
            at=at,
            detail=dict(detail or {}),
        )
        for record_id in record_ids
    ]


class AuditLog(Protocol):
    async def record(self, *events: AuditEvent) -> None: ...
