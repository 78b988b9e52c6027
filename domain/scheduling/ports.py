"""What scheduling needs from outside: its tables, the people directory, events, video rooms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.principal import Role
from domain.scheduling.models import Appointment, AppointmentStatus, AvailabilityWindow, Slot


class SlotTaken(Exception):
    """Raised by a repository when the database refuses a booked block that is already taken."""


class AvailabilityRepository(Protocol):
    async def replace(self, doctor_id: str, windows: Sequence[AvailabilityWindow]) -> None: ...
    async def for_users(self, user_ids: Sequence[str]) -> dict[str, list[AvailabilityWindow]]: ...


class AppointmentRepository(Protocol):
    async def book(self, appointment: Appointment) -> None:
        """Store a BOOKED appointment and its blocks in one transaction; SlotTaken on overlap."""
        ...

    async def cancel(
        self, appointment_id: str, *, reason: str | None, at: datetime
    ) -> Appointment | None:
        """Cancel a BOOKED appointment and free its blocks; None when it is not BOOKED."""
        ...

    async def finish(
        self, appointment_id: str, status: AppointmentStatus, *, at: datetime
    ) -> Appointment | None:
        """Set a BOOKED appointment's outcome (its time stays taken); None when not BOOKED."""
        ...

    async def move(self, appointment_id: str, slot: Slot, *, at: datetime) -> Appointment | None:
        """Move a BOOKED appointment and its blocks; None when not BOOKED, SlotTaken on overlap."""
        ...

    async def get_many(self, appointment_ids: Sequence[str]) -> list[Appointment]: ...
    async def booked_for_doctor(self, doctor_id: str, span: Slot) -> list[Slot]: ...
    async def for_user(
        self, user_id: str, *, starts_from: datetime | None, starts_before: datetime | None,
        limit: int,
    ) -> list[Appointment]: ...
    async def partners_among(self, user_id: str, other_ids: Sequence[str]) -> set[str]:
        """Those of ``other_ids`` with a BOOKED appointment with ``user_id``."""
        ...


class UserDirectory(Protocol):
    async def active_roles(self, user_ids: Sequence[str]) -> dict[str, Role]:
        """Roles of the users that exist and are not disabled."""
        ...

    async def display_names(self, user_ids: Sequence[str]) -> dict[str, str]: ...


class LiveFeed(Protocol):
    """A topic subscription. ``None`` means events may have been dropped."""

    def __aiter__(self) -> AsyncIterator[bytes | None]: ...


class EventBus(Protocol):
    async def publish(self, topic: str, payload: bytes) -> None: ...
    def subscribe(self, topic: str) -> AbstractAsyncContextManager[LiveFeed]: ...


class VideoUnavailable(Exception):
    """The video service is not configured or does not answer; the message says which."""


@dataclass(frozen=True, slots=True)
class RoomPass:
    server_url: str
    token: str


class VideoRooms(Protocol):
    async def open_room(self, room_name: str) -> None:
        """Make sure the room exists (idempotent); VideoUnavailable when that cannot be done."""
        ...

    def admit(
        self, *, room_name: str, identity: str, name: str, expires_at: datetime
    ) -> RoomPass:
        """A token that joins ``room_name`` only, and expires no later than ``expires_at``."""
        ...
