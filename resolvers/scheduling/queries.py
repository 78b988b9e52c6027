"""Read paths of the scheduling subgraph."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.errors import not_found
from domain.scheduling.models import Appointment, AvailabilityWindow, Slot
from resolvers.scheduling.loaders import AppointmentByIdLoader, AvailabilityByUserLoader

if TYPE_CHECKING:
    from schema.context import Context


async def appointment(context: Context, appointment_id: str) -> Appointment:
    found = await context.loader(AppointmentByIdLoader).load(appointment_id)
    if found is None:
        raise not_found("Appointment")
    return found


async def appointments(
    context: Context, *, user_id: str, starts_from: datetime | None, starts_before: datetime | None
) -> list[Appointment]:
    return await context.services.scheduling.appointments(
        context.principal, user_id=user_id, starts_from=starts_from, starts_before=starts_before
    )


async def availability(context: Context, user_id: str) -> list[AvailabilityWindow]:
    return await context.loader(AvailabilityByUserLoader).load(user_id)


async def available_slots(
    context: Context,
    *,
    doctor_id: str,
    starts_from: datetime,
    ends_before: datetime,
    duration_minutes: int | None,
) -> list[Slot]:
    return await context.services.scheduling.available_slots(
        context.principal,
        doctor_id=doctor_id,
        starts_from=starts_from,
        ends_before=ends_before,
        duration_minutes=duration_minutes,
    )
