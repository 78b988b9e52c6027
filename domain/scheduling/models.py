"""Doctors' weekly availability, the appointments booked in it, and video call tickets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AppointmentStatus(StrEnum):
    BOOKED = "BOOKED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    NO_SHOW = "NO_SHOW"


@dataclass(frozen=True, slots=True)
class AvailabilityWindow:
    """A weekly opening: ``weekday`` 1 = Monday … 7, minutes after local midnight in
    ``timezone`` (an IANA name), so that 09:00 stays 09:00 across daylight-saving changes."""

    weekday: int
    start_minute: int
    end_minute: int
    timezone: str

    @property
    def start_time(self) -> str:
        return clock_time(self.start_minute)

    @property
    def end_time(self) -> str:
        return clock_time(self.end_minute)


def clock_time(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class WindowRequest:
    """A window as a doctor asks for it: local "HH:MM" times, not yet checked."""

    weekday: int
    start_time: str
    end_time: str


@dataclass(frozen=True, slots=True)
class Slot:
    """A half-open span of time ``[starts_at, ends_at)`` in UTC."""

    starts_at: datetime
    ends_at: datetime

    def overlaps(self, other: Slot) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


@dataclass(frozen=True, slots=True)
class Appointment:
    id: str
    patient_id: str
    doctor_id: str
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    reason: str | None
    created_at: datetime
    updated_at: datetime
    cancel_reason: str | None = None

    @property
    def slot(self) -> Slot:
        return Slot(self.starts_at, self.ends_at)

    @property
    def participant_ids(self) -> tuple[str, str]:
        return (self.patient_id, self.doctor_id)

    @property
    def room_name(self) -> str:
        return f"appointment-{self.id}"


@dataclass(frozen=True, slots=True)
class VideoCallTicket:
    server_url: str
    room_name: str
    token: str
    expires_at: datetime
