"""The audit trail port: who read or wrote which record, when, under which request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AuditEvent:
    actor_id: str | None
    action: str
    record_type: str
    record_id: str
    request_id: str
    at: datetime
    detail: dict[str, str] = field(default_factory=dict)


class AuditLog(Protocol):
    async def record(self, *events: AuditEvent) -> None: ...
