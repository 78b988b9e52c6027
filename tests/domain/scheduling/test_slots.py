"""Availability rules: local windows across daylight-saving changes, free slots, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.errors import DomainError, ErrorCode
from domain.scheduling.models import Slot, WindowRequest
from domain.scheduling.slots import (
    blocks,
    duration,
    free_slots,
    inside,
    open_intervals,
    search_range,
    windows_from,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
EVERY_DAY_9_TO_12 = [WindowRequest(day, "09:00", "12:00") for day in range(1, 8)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local_hours(slots: list[Slot], zone: ZoneInfo) -> set[tuple[str, str]]:
    def hhmm(at: datetime) -> str:
        return at.astimezone(zone).strftime("%H:%M")

    return {(hhmm(s.starts_at), hhmm(s.ends_at)) for s in slots}


@pytest.mark.parametrize(
    ("zone", "change", "before_utc", "after_utc"),
    [
        # Berlin leaves CET (+1) for CEST (+2) on Sunday 28 March 2027.
        (BERLIN, utc(2027, 3, 28), (8, 11), (7, 10)),
        # New York leaves EST (-5) for EDT (-4) on Sunday 14 March 2027.
        (NEW_YORK, utc(2027, 3, 14), (14, 17), (13, 16)),
    ],
)
def test_a_local_window_keeps_its_wall_clock_hours_across_the_spring_change(
    zone: ZoneInfo, change: datetime, before_utc: tuple[int, int], after_utc: tuple[int, int]
) -> None:
    # given a doctor open 09:00-12:00 local every day
    windows = windows_from(EVERY_DAY_9_TO_12, str(zone))

    # when a week around the change is expanded
    day = timedelta(days=1)
    opened = open_intervals(windows, Slot(change - 3 * day, change + 4 * day))

    # then every day is open 09:00-12:00 local, which moves an hour earlier in UTC
    assert len(opened) == 7
    assert local_hours(opened, zone) == {("09:00", "12:00")}
    by_day = {s.starts_at.date(): (s.starts_at.hour, s.ends_at.hour) for s in opened}
    assert by_day[(change - day).date()] == before_utc
    assert by_day[change.date()] == after_utc
    assert by_day[(change + day).date()] == after_utc


def test_the_autumn_change_moves_the_window_back() -> None:
    windows = windows_from(EVERY_DAY_9_TO_12, "Europe/Berlin")
    opened = open_intervals(windows, Slot(utc(2027, 10, 30), utc(2027, 11, 1)))
    assert [(s.starts_at, s.ends_at) for s in opened] == [
        (utc(2027, 10, 30, 7), utc(2027, 10, 30, 10)),  # CEST, +2
        (utc(2027, 10, 31, 8), utc(2027, 10, 31, 11)),  # CET, +1
    ]


def test_a_window_inside_the_skipped_hour_opens_nothing_that_day() -> None:
    windows = windows_from([WindowRequest(7, "02:00", "03:00")], "Europe/Berlin")
    assert open_intervals(windows, Slot(utc(2027, 3, 27), utc(2027, 3, 29))) == []
    # a week later the same window is an ordinary hour
    later = open_intervals(windows, Slot(utc(2027, 4, 3), utc(2027, 4, 5)))
    assert later == [Slot(utc(2027, 4, 4, 0), utc(2027, 4, 4, 1))]


def test_free_slots_skip_booked_time_and_restart_after_it() -> None:
    # given Monday 09:00-12:00 in Berlin (UTC+1 in January) and a booking 09:15-09:45 local
    windows = windows_from([WindowRequest(1, "09:00", "12:00")], "Europe/Berlin")
    monday = Slot(utc(2027, 1, 4), utc(2027, 1, 5))
    busy = [Slot(utc(2027, 1, 4, 8, 15), utc(2027, 1, 4, 8, 45))]

    # when 30-minute slots are listed
    slots = free_slots(open_intervals(windows, monday), busy, timedelta(minutes=30),
                       not_before=utc(2027, 1, 1))

    # then they avoid the booking and follow on from its end
    assert [s.starts_at.astimezone(BERLIN).strftime("%H:%M") for s in slots] == [
        "09:45", "10:15", "10:45", "11:15",
    ]
    assert all(not s.overlaps(busy[0]) for s in slots)


def test_free_slots_start_no_earlier_than_now() -> None:
    windows = windows_from([WindowRequest(1, "09:00", "12:00")], "UTC")
    opened = open_intervals(windows, Slot(utc(2027, 1, 4), utc(2027, 1, 5)))
    slots = free_slots(opened, [], timedelta(minutes=60), not_before=utc(2027, 1, 4, 9, 20))
    assert [s.starts_at.hour for s in slots] == [10, 11]


def test_touching_windows_merge_so_a_slot_may_span_them() -> None:
    windows = windows_from(
        [WindowRequest(1, "09:00", "12:00"), WindowRequest(1, "12:00", "13:00")], "UTC"
    )
    opened = open_intervals(windows, Slot(utc(2027, 1, 4), utc(2027, 1, 5)))
    assert opened == [Slot(utc(2027, 1, 4, 9), utc(2027, 1, 4, 13))]
    assert inside(opened, Slot(utc(2027, 1, 4, 11, 30), utc(2027, 1, 4, 12, 30)))
    assert not inside(opened, Slot(utc(2027, 1, 4, 12, 30), utc(2027, 1, 4, 13, 30)))


def test_a_booking_covers_one_block_per_five_minutes() -> None:
    assert blocks(Slot(utc(2027, 1, 4, 9), utc(2027, 1, 4, 9, 30))) == [
        utc(2027, 1, 4, 9, minute) for minute in range(0, 30, 5)
    ]


@pytest.mark.parametrize(
    ("requests", "timezone", "field"),
    [
        (EVERY_DAY_9_TO_12, "Mars/Olympus_Mons", "timezone"),
        (EVERY_DAY_9_TO_12, "", "timezone"),
        ([WindowRequest(8, "09:00", "12:00")], "UTC", "weekday"),
        ([WindowRequest(0, "09:00", "12:00")], "UTC", "weekday"),
        ([WindowRequest(1, "12:00", "09:00")], "UTC", "endTime"),
        ([WindowRequest(1, "25:00", "26:00")], "UTC", "startTime"),
        ([WindowRequest(1, "09:00", "9pm")], "UTC", "endTime"),
        ([WindowRequest(1, "09:03", "10:00")], "UTC", "startTime"),
        ([WindowRequest(1, "09:00", "11:00"), WindowRequest(1, "10:00", "12:00")], "UTC",
         "windows"),
    ],
)
def test_bad_windows_are_refused(
    requests: list[WindowRequest], timezone: str, field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        windows_from(requests, timezone)
    assert (refused.value.code, refused.value.field) == (ErrorCode.BAD_USER_INPUT, field)


@pytest.mark.parametrize("minutes", [0, 5, 7, 241, 10_000, -30])
def test_durations_outside_ten_to_240_minutes_are_refused(minutes: int) -> None:
    with pytest.raises(DomainError) as refused:
        duration(minutes)
    assert refused.value.code is ErrorCode.BAD_USER_INPUT


def test_durations_default_to_thirty_minutes() -> None:
    assert duration(None) == timedelta(minutes=30)
    assert duration(10) == timedelta(minutes=10)
    assert duration(240) == timedelta(hours=4)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (utc(2027, 1, 1), utc(2027, 2, 2)),  # 32 days
        (utc(2027, 1, 2), utc(2027, 1, 1)),  # backwards
        (utc(2027, 1, 1), utc(2027, 1, 1)),  # empty
        (datetime(2027, 1, 1), utc(2027, 1, 2)),  # no UTC offset
    ],
)
def test_search_ranges_are_bounded(start: datetime, end: datetime) -> None:
    with pytest.raises(DomainError) as refused:
        search_range(start, end)
    assert refused.value.code is ErrorCode.BAD_USER_INPUT
