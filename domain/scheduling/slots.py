"""Availability and slot rules: weekly local windows turned into UTC time, free slots, blocks.

Everything here is pure. Local windows are expanded day by day in the doctor's IANA zone,
so a 09:00-12:00 window stays 09:00-12:00 on the wall clock when daylight saving moves it
in UTC. Times live on a grid of ``BLOCK`` minutes (every zone's offset is a multiple of it),
which is also the unit the database uses to refuse double bookings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

from domain.errors import bad_input
from domain.scheduling.models import AvailabilityWindow, Slot, WindowRequest

BLOCK = timedelta(minutes=5)
MIN_DURATION = 10
MAX_DURATION = 240
DEFAULT_DURATION = 30
MAX_RANGE = timedelta(days=31)
MAX_WINDOWS = 50
MINUTES_PER_DAY = 24 * 60
LOCAL_TIME = re.compile(r"^(\d{2}):(\d{2})$")


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; BAD_USER_INPUT for anything else."""
    if name not in _known_zones():
        raise bad_input(f"Unknown time zone {name!r}; use an IANA name such as Europe/Berlin",
                        field="timezone")
    return ZoneInfo(name)


def local_minute(value: str, *, field: str) -> int:
    """Minutes after midnight of an "HH:MM" time; "24:00" is the end of the day."""
    match = LOCAL_TIME.match(value.strip())
    minute = int(match[1]) * 60 + int(match[2]) if match and int(match[2]) < 60 else -1
    if not 0 <= minute <= MINUTES_PER_DAY:
        raise bad_input(f"{field} must be a time from 00:00 to 24:00", field=field)
    if minute % (BLOCK // timedelta(minutes=1)):
        raise bad_input(f"{field} must be on a {BLOCK.seconds // 60}-minute step", field=field)
    return minute


def windows_from(requests: Sequence[WindowRequest], timezone: str) -> list[AvailabilityWindow]:
    """Checked windows, sorted; overlapping windows on the same day are refused."""
    zone(timezone)
    if len(requests) > MAX_WINDOWS:
        raise bad_input(f"At most {MAX_WINDOWS} windows", field="windows")
    windows = []
    for request in requests:
        if not 1 <= request.weekday <= 7:
            raise bad_input("weekday is 1 (Monday) to 7 (Sunday)", field="weekday")
        start = local_minute(request.start_time, field="startTime")
        end = local_minute(request.end_time, field="endTime")
        if start >= end:
            raise bad_input("A window ends after it starts", field="endTime")
        windows.append(AvailabilityWindow(request.weekday, start, end, timezone))
    windows.sort(key=lambda w: (w.weekday, w.start_minute))
    for before, after in pairwise(windows):
        if before.weekday == after.weekday and after.start_minute < before.end_minute:
            raise bad_input("Windows on the same day must not overlap", field="windows")
    return windows


def duration(minutes: int | None) -> timedelta:
    value = DEFAULT_DURATION if minutes is None else minutes
    step = BLOCK // timedelta(minutes=1)
    if not MIN_DURATION <= value <= MAX_DURATION or value % step:
        raise bad_input(
            f"durationMinutes is {MIN_DURATION} to {MAX_DURATION}, in steps of {step}",
            field="durationMinutes",
        )
    return timedelta(minutes=value)


def aware(value: datetime, *, field: str) -> datetime:
    """``value`` in UTC; a time without a UTC offset is ambiguous and refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise bad_input(f"{field} needs a UTC offset, e.g. 2030-01-07T09:00:00Z", field=field)
    return value.astimezone(UTC)


def on_grid(value: datetime, *, field: str) -> datetime:
    if value.timestamp() % BLOCK.total_seconds():
        raise bad_input(f"{field} must be on a {BLOCK.seconds // 60}-minute step", field=field)
    return value


def search_range(start: datetime, end: datetime) -> Slot:
    start, end = aware(start, field="from"), aware(end, field="to")
    if end <= start:
        raise bad_input("to must be after from", field="to")
    if end - start > MAX_RANGE:
        raise bad_input(f"A search covers at most {MAX_RANGE.days} days", field="to")
    return Slot(start, end)


def _at(day: date, minute: int, tz: ZoneInfo) -> datetime:
    local = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
    return local.replace(tzinfo=tz).astimezone(UTC)


def open_intervals(windows: Sequence[AvailabilityWindow], span: Slot) -> list[Slot]:
    """The UTC intervals inside ``span`` that the weekly windows open, merged where they touch.

    Each local calendar day is expanded on its own, so the UTC offset of that very day applies.
    """
    if not windows:
        return []
    tz = zone(windows[0].timezone)
    day = span.starts_at.astimezone(tz).date() - timedelta(days=1)
    last = span.ends_at.astimezone(tz).date() + timedelta(days=1)
    opened: list[Slot] = []
    while day <= last:
        for window in windows:
            if window.weekday != day.isoweekday():
                continue
            start = max(_at(day, window.start_minute, tz), span.starts_at)
            end = min(_at(day, window.end_minute, tz), span.ends_at)
            if start < end:
                opened.append(Slot(start, end))
        day += timedelta(days=1)
    opened.sort(key=lambda s: s.starts_at)
    merged: list[Slot] = []
    for interval in opened:
        if merged and interval.starts_at <= merged[-1].ends_at:
            merged[-1] = Slot(merged[-1].starts_at, max(merged[-1].ends_at, interval.ends_at))
        else:
            merged.append(interval)
    return merged


def free_slots(
    opened: Sequence[Slot], busy: Iterable[Slot], length: timedelta, *, not_before: datetime
) -> list[Slot]:
    """Slots of ``length`` inside ``opened`` that start at or after ``not_before`` and overlap
    nothing busy. Slots follow each other from the start of a window; after a busy interval
    the next one starts where it ends."""
    taken = sorted(busy, key=lambda s: s.starts_at)
    found: list[Slot] = []
    for interval in opened:
        start = interval.starts_at
        while start + length <= interval.ends_at:
            candidate = Slot(start, start + length)
            clash = next((b for b in taken if b.overlaps(candidate)), None)
            if clash is not None:
                start = max(clash.ends_at, start + BLOCK)
            elif start < not_before:
                start += length
            else:
                found.append(candidate)
                start += length
    return found


def inside(opened: Sequence[Slot], slot: Slot) -> bool:
    return any(o.starts_at <= slot.starts_at and slot.ends_at <= o.ends_at for o in opened)


def blocks(slot: Slot) -> list[datetime]:
    """The ``BLOCK``-long pieces a slot covers: one stored row each while it is booked."""
    found = []
    at = slot.starts_at
    while at < slot.ends_at:
        found.append(at)
        at += BLOCK
    return found
