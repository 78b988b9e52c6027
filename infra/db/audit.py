"""The audit trail in SQL: one row per read or write of personal data."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import AuditEvent
from infra.db.tables import audit_events


class SqlAuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, *events: AuditEvent) -> None:
        if not events:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                audit_events.insert(),
                [
                    {
                        "at": event.at,
                        "actor_id": event.actor_id,
                        "action": event.action,
                        "record_type": event.record_type,
                        "record_id": event.record_id,
                        "request_id": event.request_id,
                        "detail": event.detail,
                    }
                    for event in events
                ],
            )
