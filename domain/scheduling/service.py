"""The scheduling subgraph's rules: availability, booking without double booking, video calls."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime, timedelta

from domain.audit import AuditLog, audit_events
from domain.clock import Clock, utc_now
from domain.errors import DomainError, ErrorCode, bad_input, forbidden, not_found
from domain.principal import Principal, Role, require, require_role
from domain.scheduling import events, slots
from domain.scheduling.models import (
    Appointment,
    AppointmentStatus,
    AvailabilityWindow,
    Slot,
    VideoCallTicket,
    WindowRequest,
)
from domain.scheduling.ports import (
    AppointmentRepository,
    AvailabilityRepository,
    EventBus,
    SlotTaken,
    UserDirectory,
    VideoRooms,
    VideoUnavailable,
)

log = logging.getLogger(__name__)

MAX_REASON = 500
MAX_AHEAD = timedelta(days=366)
MAX_LISTED = 500
JOIN_EARLY = timedelta(minutes=10)
SLOT_TAKEN = "This time is no longer free"


class SchedulingService:
    """Availability, appointments and video calls. Another person's appointment reads as
    NOT_FOUND; the database, not a read before the write, refuses a double booking."""

    def __init__(
        self,
        *,
        appointments: AppointmentRepository,
        availability: AvailabilityRepository,
        directory: UserDirectory,
        bus: EventBus,
        video: VideoRooms,
        audit: AuditLog,
        clock: Clock = utc_now,
    ) -> None:
        self._appointments = appointments
        self._availability = availability
        self._directory = directory
        self._bus = bus
        self._video = video
        self._audit = audit
        self._clock = clock

    # ---- availability

    async def set_availability(
        self, viewer: Principal | None, *, windows: Sequence[WindowRequest], timezone: str
    ) -> list[AvailabilityWindow]:
        """Replace the doctor's weekly windows. Booked appointments stay as they are."""
        who = require_role(viewer, Role.DOCTOR)
        checked = slots.windows_from(windows, timezone.strip())
        await self._availability.replace(who.user_id, checked)
        await self._log(who, "availability.set", who.user_id, record_type="Availability")
        return checked

    async def availability(
        self, viewer: Principal | None, user_ids: Sequence[str]
    ) -> dict[str, list[AvailabilityWindow]]:
        """Weekly windows per user; doctors' windows are public to every signed-in caller."""
        require(viewer)
        return await self._availability.for_users(user_ids)

    async def available_slots(
        self,
        viewer: Principal | None,
        *,
        doctor_id: str,
        starts_from: datetime,
        ends_before: datetime,
        duration_minutes: int | None,
    ) -> list[Slot]:
        require(viewer)
        span = slots.search_range(starts_from, ends_before)
        length = slots.duration(duration_minutes)
        await self._doctor(doctor_id)
        opened = await self._opened(doctor_id, span)
        busy = await self._appointments.booked_for_doctor(doctor_id, span) if opened else []
        return slots.free_slots(opened, busy, length, not_before=self._clock())

    # ---- appointments

    async def book(
        self,
        viewer: Principal | None,
        *,
        doctor_id: str,
        starts_at: datetime,
        duration_minutes: int | None,
        reason: str | None,
    ) -> Appointment:
        who = require_role(viewer, Role.PATIENT)
        slot = self._future_slot(starts_at, slots.duration(duration_minutes))
        reason = _reason(reason, field="reason")
        await self._doctor(doctor_id)
        await self._require_open(doctor_id, slot)
        now = self._clock()
        appointment = Appointment(
            id=str(uuid.uuid4()),
            patient_id=who.user_id,
            doctor_id=doctor_id,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            status=AppointmentStatus.BOOKED,
            reason=reason,
            created_at=now,
            updated_at=now,
        )
        try:
            await self._appointments.book(appointment)
        except SlotTaken:
            raise DomainError(ErrorCode.CONFLICT, SLOT_TAKEN, field="startsAt") from None
        await self._log(who, "appointment.book", appointment.id)
        await self._publish(appointment)
        return appointment

    async def cancel(
        self, viewer: Principal | None, *, appointment_id: str, reason: str | None
    ) -> Appointment:
        who, appointment = await self._own(viewer, appointment_id)
        reason = _reason(reason, field="reason")
        self._require_booked(appointment)
        if appointment.ends_at <= self._clock():
            raise bad_input("This appointment is over", field="id")
        cancelled = await self._appointments.cancel(
            appointment_id, reason=reason, at=self._clock()
        )
        if cancelled is None:
            raise DomainError(ErrorCode.CONFLICT, "This appointment is no longer booked")
        await self._log(who, "appointment.cancel", appointment_id)
        await self._publish(cancelled)
        return cancelled

    async def reschedule(
        self, viewer: Principal | None, *, appointment_id: str, starts_at: datetime
    ) -> Appointment:
        who, appointment = await self._own(viewer, appointment_id)
        self._require_booked(appointment)
        if appointment.starts_at <= self._clock():
            raise bad_input("An appointment that has started cannot move", field="id")
        slot = self._future_slot(starts_at, appointment.ends_at - appointment.starts_at)
        await self._require_open(appointment.doctor_id, slot)
        try:
            moved = await self._appointments.move(appointment_id, slot, at=self._clock())
        except SlotTaken:
            raise DomainError(ErrorCode.CONFLICT, SLOT_TAKEN, field="startsAt") from None
        if moved is None:
            raise DomainError(ErrorCode.CONFLICT, "This appointment is no longer booked")
        await self._log(who, "appointment.reschedule", appointment_id)
        await self._publish(moved)
        return moved

    async def complete(
        self, viewer: Principal | None, *, appointment_id: str, no_show: bool
    ) -> Appointment:
        """The doctor records the outcome once the appointment has started."""
        who, appointment = await self._own(viewer, appointment_id)
        if who.user_id != appointment.doctor_id:
            raise forbidden("Only the doctor records how an appointment went")
        self._require_booked(appointment)
        if appointment.starts_at > self._clock():
            raise bad_input("This appointment has not started yet", field="id")
        status = AppointmentStatus.NO_SHOW if no_show else AppointmentStatus.COMPLETED
        finished = await self._appointments.finish(appointment_id, status, at=self._clock())
        if finished is None:
            raise DomainError(ErrorCode.CONFLICT, "This appointment is no longer booked")
        await self._log(who, f"appointment.{status.value.lower()}", appointment_id)
        await self._publish(finished)
        return finished

    # ---- reading

    async def get_appointments(
        self, viewer: Principal | None, appointment_ids: Sequence[str]
    ) -> list[Appointment | None]:
        """Appointments in the order asked; None where absent or the viewer takes no part."""
        who = require(viewer)
        found = {
            a.id: a
            for a in await self._appointments.get_many(list(dict.fromkeys(appointment_ids)))
            if who.user_id in a.participant_ids
        }
        await self._log(who, "appointment.read", *found)
        return [found.get(aid) for aid in appointment_ids]

    async def get_appointment(self, viewer: Principal | None, appointment_id: str) -> Appointment:
        [found] = await self.get_appointments(viewer, [appointment_id])
        if found is None:
            raise not_found("Appointment")
        return found

    async def appointments(
        self,
        viewer: Principal | None,
        *,
        user_id: str,
        starts_from: datetime | None,
        starts_before: datetime | None,
    ) -> list[Appointment]:
        """The user's own appointments by start time; nobody reads another person's calendar."""
        who = require(viewer)
        if who.user_id != user_id:
            return []
        starts_from = slots.aware(starts_from, field="from") if starts_from else None
        starts_before = slots.aware(starts_before, field="to") if starts_before else None
        found = await self._appointments.for_user(
            user_id, starts_from=starts_from, starts_before=starts_before, limit=MAX_LISTED
        )
        await self._log(who, "appointment.list", user_id, record_type="User")
        return found

    async def stream(self, viewer: Principal | None) -> AsyncGenerator[Appointment, None]:
        """The caller's appointments as they are booked, cancelled or moved, from now on."""
        who = require(viewer)
        async with self._bus.subscribe(events.topic(who.user_id)) as feed:
            async for payload in feed:
                if payload is None:
                    # Dropped events carry no cursor to catch up from; the client re-reads
                    # User.appointments when it needs the full picture.
                    continue
                appointment = events.decode(payload)
                if who.user_id in appointment.participant_ids:
                    yield appointment

    async def care_partners_among(self, user_id: str, other_ids: Sequence[str]) -> set[str]:
        """Care relation through a booked appointment (the users subgraph asks this)."""
        return await self._appointments.partners_among(user_id, other_ids)

    # ---- video

    async def join_video_call(
        self, viewer: Principal | None, *, appointment_id: str
    ) -> VideoCallTicket:
        """A ticket for the patient or the doctor, from ``JOIN_EARLY`` before the start until
        the end; the token joins this appointment's room only and expires at the end."""
        who, appointment = await self._own(viewer, appointment_id)
        if appointment.status is not AppointmentStatus.BOOKED:
            raise forbidden(f"This appointment is {appointment.status.value.lower()}")
        now = self._clock()
        if now < appointment.starts_at - JOIN_EARLY:
            minutes = JOIN_EARLY // timedelta(minutes=1)
            raise forbidden(f"The call opens {minutes} minutes before the appointment")
        if now >= appointment.ends_at:
            raise forbidden("The appointment is over")
        names = await self._directory.display_names([who.user_id])
        try:
            await self._video.open_room(appointment.room_name)
            admitted = self._video.admit(
                room_name=appointment.room_name,
                identity=who.user_id,
                name=names.get(who.user_id, who.user_id),
                expires_at=appointment.ends_at,
            )
        except VideoUnavailable as error:
            raise DomainError(ErrorCode.SERVICE_UNAVAILABLE, str(error)) from None
        await self._log(who, "appointment.join_call", appointment_id)
        return VideoCallTicket(
            server_url=admitted.server_url,
            room_name=appointment.room_name,
            token=admitted.token,
            expires_at=appointment.ends_at,
        )

    # ---- rules

    def _future_slot(self, starts_at: datetime, length: timedelta) -> Slot:
        start = slots.on_grid(slots.aware(starts_at, field="startsAt"), field="startsAt")
        now = self._clock()
        if start <= now:
            raise bad_input("Appointments are booked in the future", field="startsAt")
        if start - now > MAX_AHEAD:
            raise bad_input(f"Book at most {MAX_AHEAD.days} days ahead", field="startsAt")
        return Slot(start, start + length)

    async def _doctor(self, doctor_id: str) -> None:
        # A patient's id reads like an unknown one: whether it exists is nobody's business.
        roles = await self._directory.active_roles([doctor_id])
        if roles.get(doctor_id) is not Role.DOCTOR:
            raise not_found("Doctor")

    async def _opened(self, doctor_id: str, span: Slot) -> list[Slot]:
        windows = (await self._availability.for_users([doctor_id])).get(doctor_id, [])
        return slots.open_intervals(windows, span)

    async def _require_open(self, doctor_id: str, slot: Slot) -> None:
        if not slots.inside(await self._opened(doctor_id, slot), slot):
            raise bad_input("The doctor is not available at this time", field="startsAt")

    async def _own(
        self, viewer: Principal | None, appointment_id: str
    ) -> tuple[Principal, Appointment]:
        who = require(viewer)
        found = await self._appointments.get_many([appointment_id])
        if not found or who.user_id not in found[0].participant_ids:
            raise not_found("Appointment")
        return who, found[0]

    @staticmethod
    def _require_booked(appointment: Appointment) -> None:
        if appointment.status is not AppointmentStatus.BOOKED:
            raise DomainError(
                ErrorCode.CONFLICT, f"This appointment is {appointment.status.value.lower()}"
            )

    async def _publish(self, appointment: Appointment) -> None:
        payload = events.encode(appointment)
        for user_id in appointment.participant_ids:
            try:
                await self._bus.publish(events.topic(user_id), payload)
            except Exception:
                # The change is committed; a lost notification must not turn it into an error.
                log.exception("could not publish appointment %s", appointment.id)

    async def _log(
        self, who: Principal, action: str, *record_ids: str, record_type: str = "Appointment"
    ) -> None:
        if not record_ids:
            return
        events = audit_events(who, action, record_type, record_ids, at=self._clock())
        await self._audit.record(*events)


def _reason(value: str | None, *, field: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_REASON:
        raise bad_input(f"{field} has at most {MAX_REASON} characters", field=field)
    return value or None

