"""Write paths of the scheduling subgraph."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from domain.scheduling.models import (
    Appointment,
    AvailabilityWindow,
    VideoCallTicket,
    WindowRequest,
)

if TYPE_CHECKING:
    from schema.context import Context


async def set_availability(
    context: Context, *, windows: Sequence[WindowRequest], timezone: str
) -> list[AvailabilityWindow]:
    return await context.services.scheduling.set_availability(
        context.principal, windows=windows, timezone=timezone
    )


async def book_appointment(
    context: Context,
    *,
    doctor_id: str,
    starts_at: datetime,
    duration_minutes: int | None,
    reason: str | None,
) -> Appointment:
    return await context.services.scheduling.book(
        context.principal,
        doctor_id=doctor_id,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        reason=reason,
    )


async def cancel_appointment(
    context: Context, *, appointment_id: str, reason: str | None
) -> Appointment:
    return await context.services.scheduling.cancel(
        context.principal, appointment_id=appointment_id, reason=reason
    )


async def complete_appointment(
    context: Context, *, appointment_id: str, no_show: bool
) -> Appointment:
    return await context.services.scheduling.complete(
        context.principal, appointment_id=appointment_id, no_show=no_show
    )


async def reschedule_appointment(
    context: Context, *, appointment_id: str, starts_at: datetime
) -> Appointment:
    return await context.services.scheduling.reschedule(
        context.principal, appointment_id=appointment_id, starts_at=starts_at
    )


async def join_video_call(context: Context, *, appointment_id: str) -> VideoCallTicket:
    return await context.services.scheduling.join_video_call(
        context.principal, appointment_id=appointment_id
    )
