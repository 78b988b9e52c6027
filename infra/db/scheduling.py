"""SQL storage for the scheduling subgraph: availability windows, appointments, booked blocks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.scheduling.models import Appointment, AppointmentStatus, AvailabilityWindow, Slot
from domain.scheduling.ports import SlotTaken
from domain.scheduling.slots import blocks
from infra.db.engine import autocommit
from infra.db.tables import appointment_blocks, appointments, availability_windows

BOOKED = AppointmentStatus.BOOKED.value


def _appointment(row: Any) -> Appointment:
    return Appointment(
        id=row.id,
        patient_id=row.patient_id,
        doctor_id=row.doctor_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        status=AppointmentStatus(row.status),
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        cancel_reason=row.cancel_reason,
    )


class SqlAvailabilityRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    async def replace(self, doctor_id: str, windows: Sequence[AvailabilityWindow]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(availability_windows).where(availability_windows.c.doctor_id == doctor_id)
            )
            if windows:
                await conn.execute(
                    availability_windows.insert(),
                    [
                        {
                            "doctor_id": doctor_id,
                            "weekday": w.weekday,
                            "start_minute": w.start_minute,
                            "end_minute": w.end_minute,
                            "timezone": w.timezone,
                        }
                        for w in windows
                    ],
                )

    async def for_users(self, user_ids: Sequence[str]) -> dict[str, list[AvailabilityWindow]]:
        found: dict[str, list[AvailabilityWindow]] = defaultdict(list)
        if not user_ids:
            return found
        query = (
            select(availability_windows)
            .where(availability_windows.c.doctor_id.in_(user_ids))
            .order_by(
                availability_windows.c.doctor_id,
                availability_windows.c.weekday,
                availability_windows.c.start_minute,
            )
        )
        async with self._reads.connect() as conn:
            for row in await conn.execute(query):
                found[row.doctor_id].append(
                    AvailabilityWindow(row.weekday, row.start_minute, row.end_minute, row.timezone)
                )
        return dict(found)


class SqlAppointmentRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    async def book(self, appointment: Appointment) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    appointments.insert().values(
                        id=appointment.id,
                        patient_id=appointment.patient_id,
                        doctor_id=appointment.doctor_id,
                        starts_at=appointment.starts_at,
                        ends_at=appointment.ends_at,
                        status=appointment.status.value,
                        reason=appointment.reason,
                        cancel_reason=appointment.cancel_reason,
                        created_at=appointment.created_at,
                        updated_at=appointment.updated_at,
                    )
                )
                await self._take_blocks(conn, appointment)
        except IntegrityError:
            raise SlotTaken(appointment.id) from None

    async def cancel(
        self, appointment_id: str, *, reason: str | None, at: datetime
    ) -> Appointment | None:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(appointments)
                    .where(appointments.c.id == appointment_id, appointments.c.status == BOOKED)
                    .values(
                        status=AppointmentStatus.CANCELLED.value,
                        cancel_reason=reason,
                        updated_at=at,
                    )
                    .returning(*appointments.c)
                )
            ).first()
            if row is None:
                return None
            await self._free_blocks(conn, appointment_id)
        return _appointment(row)

    async def finish(
        self, appointment_id: str, status: AppointmentStatus, *, at: datetime
    ) -> Appointment | None:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(appointments)
                    .where(appointments.c.id == appointment_id, appointments.c.status == BOOKED)
                    .values(status=status.value, updated_at=at)
                    .returning(*appointments.c)
                )
            ).first()
        return _appointment(row) if row is not None else None

    async def move(self, appointment_id: str, slot: Slot, *, at: datetime) -> Appointment | None:
        try:
            async with self._engine.begin() as conn:
                # The UPDATE comes first: it takes the row lock (PostgreSQL) or the write lock
                # (SQLite) before anything is read, so two moves of one appointment queue.
                row = (
                    await conn.execute(
                        update(appointments)
                        .where(
                            appointments.c.id == appointment_id, appointments.c.status == BOOKED
                        )
                        .values(starts_at=slot.starts_at, ends_at=slot.ends_at, updated_at=at)
                        .returning(*appointments.c)
                    )
                ).first()
                if row is None:
                    return None
                moved = _appointment(row)
                await self._free_blocks(conn, appointment_id)
                await self._take_blocks(conn, moved)
        except IntegrityError:
            raise SlotTaken(appointment_id) from None
        return moved

    @staticmethod
    async def _take_blocks(conn: AsyncConnection, appointment: Appointment) -> None:
        # Doctor first, then patient, each in time order: concurrent bookings insert in the
        # same order, so they wait for each other instead of deadlocking.
        starts = blocks(appointment.slot)
        await conn.execute(
            appointment_blocks.insert(),
            [
                {"user_id": user_id, "block_start": start, "appointment_id": appointment.id}
                for user_id in (appointment.doctor_id, appointment.patient_id)
                for start in starts
            ],
        )

    @staticmethod
    async def _free_blocks(conn: AsyncConnection, appointment_id: str) -> None:
        await conn.execute(
            delete(appointment_blocks).where(appointment_blocks.c.appointment_id == appointment_id)
        )

    async def get_many(self, appointment_ids: Sequence[str]) -> list[Appointment]:
        if not appointment_ids:
            return []
        async with self._reads.connect() as conn:
            rows = await conn.execute(
                select(appointments).where(appointments.c.id.in_(appointment_ids))
            )
            return [_appointment(row) for row in rows]

    async def booked_for_doctor(self, doctor_id: str, span: Slot) -> list[Slot]:
        query = (
            select(appointments.c.starts_at, appointments.c.ends_at)
            .where(
                appointments.c.doctor_id == doctor_id,
                appointments.c.status == BOOKED,
                appointments.c.starts_at < span.ends_at,
                appointments.c.ends_at > span.starts_at,
            )
            .order_by(appointments.c.starts_at)
        )
        async with self._reads.connect() as conn:
            return [Slot(row.starts_at, row.ends_at) for row in await conn.execute(query)]

    async def for_user(
        self, user_id: str, *, starts_from: datetime | None, starts_before: datetime | None,
        limit: int,
    ) -> list[Appointment]:
        query = select(appointments).where(
            or_(appointments.c.patient_id == user_id, appointments.c.doctor_id == user_id)
        )
        if starts_from is not None:
            query = query.where(appointments.c.starts_at >= starts_from)
        if starts_before is not None:
            query = query.where(appointments.c.starts_at < starts_before)
        query = query.order_by(appointments.c.starts_at, appointments.c.id).limit(limit)
        async with self._reads.connect() as conn:
            return [_appointment(row) for row in await conn.execute(query)]

    async def partners_among(self, user_id: str, other_ids: Sequence[str]) -> set[str]:
        if not other_ids:
            return set()
        # A booked visit, or one that took place: the doctor keeps seeing whom they treated.
        query = select(appointments.c.patient_id, appointments.c.doctor_id).where(
            appointments.c.status.in_([BOOKED, AppointmentStatus.COMPLETED.value]),
            or_(
                and_(appointments.c.patient_id == user_id,
                     appointments.c.doctor_id.in_(other_ids)),
                and_(appointments.c.doctor_id == user_id,
                     appointments.c.patient_id.in_(other_ids)),
            ),
        )
        async with self._reads.connect() as conn:
            rows = await conn.execute(query)
            return {row.doctor_id if row.patient_id == user_id else row.patient_id for row in rows}
