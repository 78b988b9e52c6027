"""The scheduling subgraph: availability, appointments, live appointment events, video calls."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import datetime
from typing import Annotated

import strawberry

from domain.scheduling import models
from domain.scheduling.models import AppointmentStatus
from resolvers.scheduling import mutations, queries, subscriptions
from schema.context import Info
from schema.subgraph import SubgraphSpec

strawberry.enum(AppointmentStatus, description="Where an appointment stands.")


@strawberry.type(description="Free time of a doctor, `[startsAt, endsAt)`.")
class Slot:
    starts_at: datetime
    ends_at: datetime

    @classmethod
    def from_domain(cls, slot: models.Slot) -> Slot:
        return cls(starts_at=slot.starts_at, ends_at=slot.ends_at)


@strawberry.type(description="A weekly opening; times are local to `timezone`.")
class AvailabilityWindow:
    weekday: int = strawberry.field(description="1 = Monday … 7 = Sunday.")
    start_time: str = strawberry.field(description='Local time, "09:00".')
    end_time: str = strawberry.field(description='Local time, "12:00"; "24:00" is midnight.')
    timezone: str = strawberry.field(description="IANA time zone, e.g. Europe/Berlin.")

    @classmethod
    def from_domain(cls, window: models.AvailabilityWindow) -> AvailabilityWindow:
        return cls(
            weekday=window.weekday,
            start_time=window.start_time,
            end_time=window.end_time,
            timezone=window.timezone,
        )


@strawberry.input
class AvailabilityWindowInput:
    weekday: int
    start_time: str
    end_time: str


@strawberry.type(description="What a LiveKit client needs to join an appointment's room.")
class VideoCallTicket:
    server_url: str
    room_name: str
    token: str
    expires_at: datetime

    @classmethod
    def from_domain(cls, ticket: models.VideoCallTicket) -> VideoCallTicket:
        return cls(
            server_url=ticket.server_url,
            room_name=ticket.room_name,
            token=ticket.token,
            expires_at=ticket.expires_at,
        )


@strawberry.federation.type(keys=["id"])
class User:
    """The users' entity, as scheduling sees it: an id to hang appointments and hours on."""

    id: strawberry.ID

    @strawberry.field(
        description="The caller's own appointments starting in `[from, to)`, by start time."
    )
    async def appointments(
        self,
        info: Info,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> list[Appointment]:
        found = await queries.appointments(
            info.context, user_id=self.id, starts_from=from_, starts_before=to
        )
        return [Appointment.from_domain(a) for a in found]

    @strawberry.field(description="A doctor's weekly availability; empty for everyone else.")
    async def availability(self, info: Info) -> list[AvailabilityWindow]:
        found = await queries.availability(info.context, self.id)
        return [AvailabilityWindow.from_domain(w) for w in found]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.federation.type(keys=["id"])
class Appointment:
    id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    reason: str | None
    cancellation_reason: str | None
    created_at: datetime
    updated_at: datetime
    patient_id: strawberry.Private[str]
    doctor_id: strawberry.Private[str]

    @classmethod
    def from_domain(cls, appointment: models.Appointment) -> Appointment:
        return cls(
            id=strawberry.ID(appointment.id),
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            status=appointment.status,
            reason=appointment.reason,
            cancellation_reason=appointment.cancel_reason,
            created_at=appointment.created_at,
            updated_at=appointment.updated_at,
            patient_id=appointment.patient_id,
            doctor_id=appointment.doctor_id,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Appointment:
        return cls.from_domain(await queries.appointment(info.context, id))

    @strawberry.field
    def patient(self) -> User:
        return User(id=strawberry.ID(self.patient_id))

    @strawberry.field
    def doctor(self) -> User:
        return User(id=strawberry.ID(self.doctor_id))


@strawberry.type(name="Query")
class SchedulingQuery:
    @strawberry.field(description="An appointment the caller takes part in.")
    async def appointment(self, info: Info, id: strawberry.ID) -> Appointment | None:
        return Appointment.from_domain(await queries.appointment(info.context, id))

    @strawberry.field(
        description="A doctor's free slots in `[from, to)` (at most 31 days), from now on."
    )
    async def available_slots(
        self,
        info: Info,
        doctor_id: strawberry.ID,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        duration_minutes: int | None = None,
    ) -> list[Slot]:
        found = await queries.available_slots(
            info.context,
            doctor_id=doctor_id,
            starts_from=from_,
            ends_before=to,
            duration_minutes=duration_minutes,
        )
        return [Slot.from_domain(s) for s in found]


@strawberry.type(name="Mutation")
class SchedulingMutation:
    @strawberry.mutation(description="DOCTOR only. Replaces the caller's weekly windows.")
    async def set_availability(
        self, info: Info, windows: list[AvailabilityWindowInput], timezone: str
    ) -> list[AvailabilityWindow]:
        requests = [models.WindowRequest(w.weekday, w.start_time, w.end_time) for w in windows]
        found = await mutations.set_availability(
            info.context, windows=requests, timezone=timezone
        )
        return [AvailabilityWindow.from_domain(w) for w in found]

    @strawberry.mutation(
        description="PATIENT only. A free slot in the doctor's availability, in the future."
    )
    async def book_appointment(
        self,
        info: Info,
        doctor_id: strawberry.ID,
        starts_at: datetime,
        duration_minutes: int | None = None,
        reason: str | None = None,
    ) -> Appointment:
        return Appointment.from_domain(
            await mutations.book_appointment(
                info.context,
                doctor_id=doctor_id,
                starts_at=starts_at,
                duration_minutes=duration_minutes,
                reason=reason,
            )
        )

    @strawberry.mutation
    async def cancel_appointment(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> Appointment:
        return Appointment.from_domain(
            await mutations.cancel_appointment(info.context, appointment_id=id, reason=reason)
        )

    @strawberry.mutation(
        description="The doctor, once it has started: COMPLETED, or NO_SHOW when `noShow`."
    )
    async def complete_appointment(
        self, info: Info, id: strawberry.ID, no_show: bool = False
    ) -> Appointment:
        return Appointment.from_domain(
            await mutations.complete_appointment(info.context, appointment_id=id, no_show=no_show)
        )

    @strawberry.mutation(description="Moves the appointment; its duration stays.")
    async def reschedule_appointment(
        self, info: Info, id: strawberry.ID, starts_at: datetime
    ) -> Appointment:
        return Appointment.from_domain(
            await mutations.reschedule_appointment(
                info.context, appointment_id=id, starts_at=starts_at
            )
        )

    @strawberry.mutation(
        description="Patient or doctor, from 10 minutes before the start until the end."
    )
    async def join_video_call(self, info: Info, appointment_id: strawberry.ID) -> VideoCallTicket:
        return VideoCallTicket.from_domain(
            await mutations.join_video_call(info.context, appointment_id=appointment_id)
        )


@strawberry.type(name="Subscription")
class SchedulingSubscription:
    @strawberry.subscription(
        description="The caller's appointments as they are booked, cancelled or moved."
    )
    async def appointment_updated(self, info: Info) -> AsyncGenerator[Appointment, None]:
        async with aclosing(subscriptions.appointment_updated(info.context)) as updates:
            async for appointment in updates:
                yield Appointment.from_domain(appointment)


SUBGRAPH = SubgraphSpec(
    name="scheduling",
    query=SchedulingQuery,
    mutation=SchedulingMutation,
    subscription=SchedulingSubscription,
    types=(User, Appointment),
)
