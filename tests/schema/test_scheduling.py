"""The scheduling subgraph through GraphQL: availability, booking without double booking,
cancel and reschedule, care relations, video call tickets, live appointment events.

Appointment times are picked relative to today (a Monday one to two weeks ahead, in the
doctor's zone); the call window is reached with a runtime whose scheduling clock the test moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt
from livekit.api import TokenVerifier
from sqlalchemy import func, select

from domain.principal import Role
from domain.scheduling.service import SchedulingService
from infra.container import ActiveUserDirectory, Runtime, build_runtime
from infra.db.audit import SqlAuditLog
from infra.db.scheduling import SqlAppointmentRepository, SqlAvailabilityRepository
from infra.db.tables import appointment_blocks, appointments, availability_windows
from infra.db.users import SqlUserRepository
from infra.http.app import create_app
from infra.settings import Settings
from infra.video.livekit import UnconfiguredRooms
from schema.context import Context
from schema.executable import executable_schema
from tests.conftest import Api, Person, make_person

BERLIN = ZoneInfo("Europe/Berlin")
WAIT = 15.0
LIVEKIT_KEY = "APIschedulingtest"
LIVEKIT_SECRET = "scheduling-test-secret-that-is-long-enough-0123456789"

SET_AVAILABILITY = """
mutation($windows: [AvailabilityWindowInput!]!, $tz: String!) {
  setAvailability(windows: $windows, timezone: $tz) { weekday startTime endTime timezone }
}"""

SLOTS = """
query($doctor: ID!, $from: DateTime!, $to: DateTime!, $minutes: Int) {
  availableSlots(doctorId: $doctor, from: $from, to: $to, durationMinutes: $minutes) {
    startsAt endsAt
  }
}"""

BOOK = """
mutation($doctor: ID!, $at: DateTime!, $minutes: Int, $reason: String) {
  bookAppointment(doctorId: $doctor, startsAt: $at, durationMinutes: $minutes, reason: $reason) {
    id status startsAt endsAt reason
    patient { id displayName } doctor { id displayName }
  }
}"""

CANCEL = """
mutation($id: ID!, $reason: String) {
  cancelAppointment(id: $id, reason: $reason) { id status cancellationReason }
}"""

RESCHEDULE = """
mutation($id: ID!, $at: DateTime!) {
  rescheduleAppointment(id: $id, startsAt: $at) { id status startsAt endsAt }
}"""

MY_APPOINTMENTS = """
query($from: DateTime, $to: DateTime) {
  me { appointments(from: $from, to: $to) { id status startsAt patient { id } doctor { id } } }
}"""

DOCTOR_HOURS = """
query($id: ID!) {
  user(id: $id) { displayName availability { weekday startTime endTime timezone } }
}"""

PROFILE = "query($id: ID!) { user(id: $id) { id displayName } }"

JOIN = """
mutation($id: ID!) { joinVideoCall(appointmentId: $id) { serverUrl roomName token expiresAt } }"""

UPDATED = """
subscription { appointmentUpdated { id status startsAt patient { id } doctor { id } } }"""


# ---- times relative to today, in the doctor's zone


def next_monday() -> date:
    """A Monday 8 to 14 days ahead: in the future, and inside every search bound."""
    today = datetime.now(BERLIN).date()
    return today + timedelta(days=14 - today.weekday())


def at(day: date, hhmm: str, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=zone).astimezone(UTC)


def noon_offset(day: date) -> timedelta | None:
    return datetime.combine(day, time(12), tzinfo=BERLIN).utcoffset()


def parsed(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def local(value: str, zone: ZoneInfo = BERLIN) -> str:
    return parsed(value).astimezone(zone).strftime("%H:%M")


MONDAY_9_TO_12 = [{"weekday": 1, "startTime": "09:00", "endTime": "12:00"}]


async def doctor_open_mondays(api: Api, **kwargs: Any) -> Person:
    doctor = await make_person(api, Role.DOCTOR, **kwargs)
    await api.data(SET_AVAILABILITY, {"windows": MONDAY_9_TO_12, "tz": "Europe/Berlin"},
                   token=doctor.token)
    return doctor


async def slots_on(api: Api, who: Person, doctor: Person, day: date,
                   minutes: int | None = None) -> list[str]:
    data = await api.data(SLOTS, {"doctor": doctor.id, "from": at(day, "00:00").isoformat(),
                                  "to": at(day + timedelta(days=1), "00:00").isoformat(),
                                  "minutes": minutes}, token=who.token)
    return [local(s["startsAt"]) for s in data["availableSlots"]]


async def book(api: Api, patient: Person, doctor: Person, starts: datetime,
               minutes: int | None = None) -> dict[str, Any]:
    data = await api.data(BOOK, {"doctor": doctor.id, "at": starts.isoformat(),
                                 "minutes": minutes}, token=patient.token)
    booked: dict[str, Any] = data["bookAppointment"]
    return booked


@dataclass(frozen=True)
class Stored:
    appointments: list[tuple[str, str, datetime]]
    blocks: int
    windows: int


async def stored(api: Api, *people: Person) -> Stored:
    """What the tables hold about these people: appointments, booked blocks, windows."""
    ids = [p.id for p in people]
    async with api.runtime.engine.connect() as conn:
        rows = (await conn.execute(
            select(appointments.c.id, appointments.c.status, appointments.c.starts_at)
            .where(appointments.c.doctor_id.in_(ids) | appointments.c.patient_id.in_(ids))
            .order_by(appointments.c.id)
        )).all()
        blocks = await conn.scalar(
            select(func.count()).select_from(appointment_blocks)
            .where(appointment_blocks.c.user_id.in_(ids))
        )
        windows = await conn.scalar(
            select(func.count()).select_from(availability_windows)
            .where(availability_windows.c.doctor_id.in_(ids))
        )
    return Stored([tuple(r) for r in rows], int(blocks or 0), int(windows or 0))  # type: ignore[misc]


# ---- availability and slots


async def test_a_doctor_sets_hours_and_patients_see_them_as_slots(api: Api) -> None:
    # given a doctor in Berlin open on Mondays 09:00-12:00
    doctor = await make_person(api, Role.DOCTOR, name="Dr. Hours")
    windows = [*MONDAY_9_TO_12, {"weekday": 3, "startTime": "14:00", "endTime": "16:30"}]
    data = await api.data(SET_AVAILABILITY, {"windows": windows, "tz": "Europe/Berlin"},
                          token=doctor.token)
    assert data["setAvailability"] == [
        {"weekday": 1, "startTime": "09:00", "endTime": "12:00", "timezone": "Europe/Berlin"},
        {"weekday": 3, "startTime": "14:00", "endTime": "16:30", "timezone": "Europe/Berlin"},
    ]
    patient = await make_person(api)

    # when a patient reads the doctor's hours and next Monday's slots
    hours = (await api.data(DOCTOR_HOURS, {"id": doctor.id}, token=patient.token))["user"]
    slots = await slots_on(api, patient, doctor, next_monday())
    hourly = await slots_on(api, patient, doctor, next_monday(), minutes=60)

    # then the hours come through the users' entity and the slots are local 09:00-12:00
    assert hours["availability"] == data["setAvailability"]
    assert slots == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    assert hourly == ["09:00", "10:00", "11:00"]


async def test_slots_keep_local_hours_across_the_next_daylight_saving_change(api: Api) -> None:
    # given a doctor open 09:00-12:00 every day, and the next Berlin clock change
    doctor = await make_person(api, Role.DOCTOR)
    every_day = [{"weekday": d, "startTime": "09:00", "endTime": "12:00"} for d in range(1, 8)]
    await api.data(SET_AVAILABILITY, {"windows": every_day, "tz": "Europe/Berlin"},
                   token=doctor.token)
    one_day = timedelta(days=1)
    change = datetime.now(BERLIN).date() + 3 * one_day
    while noon_offset(change - one_day) == noon_offset(change):
        change += one_day
    start, end = at(change - 2 * one_day, "00:00"), at(change + 3 * one_day, "00:00")

    # when a patient lists three-hour slots for the days around it
    patient = await make_person(api)
    data = await api.data(SLOTS, {"doctor": doctor.id, "from": start.isoformat(),
                                  "to": end.isoformat(), "minutes": 180}, token=patient.token)
    slots = data["availableSlots"]

    # then each day has one slot, 09:00-12:00 on the wall clock, which moved in UTC
    assert len(slots) == 5
    assert {(local(s["startsAt"]), local(s["endsAt"])) for s in slots} == {("09:00", "12:00")}
    assert len({parsed(s["startsAt"]).hour for s in slots}) == 2


# ---- booking


async def test_a_patient_books_a_free_slot_and_both_see_the_appointment(api: Api) -> None:
    # given a doctor open on Mondays and a patient
    doctor = await doctor_open_mondays(api, name="Dr. Booked")
    patient = await make_person(api, name="Pat Booked")
    monday = next_monday()

    # when the patient books 10:00 for 30 minutes
    booked = await book(api, patient, doctor, at(monday, "10:00"))

    # then it is BOOKED, with both people resolved through the users subgraph
    assert booked["status"] == "BOOKED"
    assert parsed(booked["startsAt"]) == at(monday, "10:00")
    assert parsed(booked["endsAt"]) == at(monday, "10:30")
    assert booked["patient"] == {"id": patient.id, "displayName": "Pat Booked"}
    assert booked["doctor"] == {"id": doctor.id, "displayName": "Dr. Booked"}
    # and the slot is no longer offered
    assert await slots_on(api, patient, doctor, monday) == [
        "09:00", "09:30", "10:30", "11:00", "11:30"
    ]
    # and both see it among their appointments
    for person in (patient, doctor):
        mine = (await api.data(MY_APPOINTMENTS, token=person.token))["me"]["appointments"]
        assert [(a["id"], a["patient"]["id"], a["doctor"]["id"]) for a in mine] == [
            (booked["id"], patient.id, doctor.id)
        ]
    # the range filters by start time
    later = await api.data(MY_APPOINTMENTS, {"from": at(monday, "10:05").isoformat()},
                           token=patient.token)
    assert later["me"]["appointments"] == []
    # and the tables hold one appointment and its 6 blocks, for each of the two people
    assert (await stored(api, doctor)).blocks == 6
    assert (await stored(api, patient)).blocks == 6


async def test_twenty_concurrent_bookings_of_one_slot_give_one_appointment(api: Api) -> None:
    # given a doctor and five patients (each account costs two Argon2 hashes: five keep the
    # test quick, and four requests each still make twenty concurrent bookings)
    doctor = await doctor_open_mondays(api)
    patients = [await make_person(api) for _ in range(5)]
    starts = at(next_monday(), "09:30").isoformat()

    # when twenty bookings of the same slot arrive at once
    results = await asyncio.gather(*(
        api.post(BOOK, {"doctor": doctor.id, "at": starts}, token=p.token)
        for _ in range(4) for p in patients
    ))

    # then exactly one succeeds and nineteen are told CONFLICT
    booked = [r["data"]["bookAppointment"] for r in results if r.get("data")]
    codes = sorted(r["errors"][0]["extensions"]["code"] for r in results if r.get("errors"))
    assert len(booked) == 1
    assert codes == ["CONFLICT"] * 19
    # and the tables hold that one appointment, with the doctor's blocks booked once
    held = await stored(api, doctor)
    assert [row[0] for row in held.appointments] == [booked[0]["id"]]
    assert held.blocks == 6


async def test_cancel_and_reschedule_free_and_take_time(api: Api) -> None:
    doctor = await doctor_open_mondays(api)
    patient = await make_person(api)
    monday = next_monday()
    booked = await book(api, patient, doctor, at(monday, "09:00"), minutes=60)

    # when the patient moves it to 11:00, it keeps its hour and frees 09:00
    moved = (await api.data(RESCHEDULE, {"id": booked["id"], "at": at(monday, "11:00").isoformat()},
                            token=patient.token))["rescheduleAppointment"]
    assert (parsed(moved["startsAt"]), parsed(moved["endsAt"])) == (
        at(monday, "11:00"), at(monday, "12:00")
    )
    assert await slots_on(api, patient, doctor, monday) == ["09:00", "09:30", "10:00", "10:30"]
    # moving into the time it already holds, overlapping itself, is fine
    await api.data(RESCHEDULE, {"id": booked["id"], "at": at(monday, "10:30").isoformat()},
                   token=doctor.token)
    assert (await stored(api, doctor)).blocks == 12

    # when the doctor cancels it
    cancelled = (await api.data(CANCEL, {"id": booked["id"], "reason": "Ill"},
                                token=doctor.token))["cancelAppointment"]

    # then it is CANCELLED, its time is free, and no block is held
    assert cancelled == {"id": booked["id"], "status": "CANCELLED", "cancellationReason": "Ill"}
    assert len(await slots_on(api, patient, doctor, monday)) == 6
    assert (await stored(api, doctor, patient)).blocks == 0
    # and a cancelled appointment can be neither cancelled nor moved again
    assert await api.error_code(CANCEL, {"id": booked["id"]}, token=patient.token) == "CONFLICT"
    assert await api.error_code(
        RESCHEDULE, {"id": booked["id"], "at": at(monday, "09:00").isoformat()},
        token=patient.token,
    ) == "CONFLICT"


STUDY = "query($id: ID!) { study(id: $id) { id patient { id } } }"


async def test_a_booked_appointment_is_a_care_relation_until_cancelled(api: Api) -> None:
    from tests.schema.imaging_support import png, post_upload

    # given a patient with a study, whom the doctor has no relation with
    doctor = await doctor_open_mondays(api)
    patient = await make_person(api, name="Pat Related")
    upload = await post_upload(api.client, patient.token, png())
    study_id = upload.json()["data"]["uploadStudy"]["id"]
    assert await api.error_code(PROFILE, {"id": patient.id}, token=doctor.token) == "NOT_FOUND"
    assert await api.error_code(STUDY, {"id": study_id}, token=doctor.token) == "NOT_FOUND"

    # when the patient books, the doctor may see the patient's profile and studies
    booked = await book(api, patient, doctor, at(next_monday(), "11:00"))
    seen = await api.data(PROFILE, {"id": patient.id}, token=doctor.token)
    assert seen["user"] == {"id": patient.id, "displayName": "Pat Related"}
    study = await api.data(STUDY, {"id": study_id}, token=doctor.token)
    assert study["study"] == {"id": study_id, "patient": {"id": patient.id}}

    # and once it is cancelled, neither
    await api.data(CANCEL, {"id": booked["id"]}, token=patient.token)
    assert await api.error_code(PROFILE, {"id": patient.id}, token=doctor.token) == "NOT_FOUND"
    assert await api.error_code(STUDY, {"id": study_id}, token=doctor.token) == "NOT_FOUND"


async def test_bad_bookings_get_their_code_and_change_nothing(api: Api) -> None:
    # given a doctor open on Mondays with 10:00-10:30 booked
    doctor = await doctor_open_mondays(api)
    patient = await make_person(api)
    other = await make_person(api)
    outsider = await make_person(api)
    monday = next_monday()
    booked = await book(api, other, doctor, at(monday, "10:00"))
    before = await stored(api, doctor, patient, other, outsider)

    async def code(query: str, variables: dict[str, Any], who: Person | None) -> str:
        return await api.error_code(query, variables, token=who.token if who else None)

    def booking(starts: datetime, minutes: int | None = None,
                doctor_id: str = doctor.id) -> dict[str, Any]:
        return {"doctor": doctor_id, "at": starts.isoformat(), "minutes": minutes}

    last_week = at(monday - timedelta(days=14), "10:00")
    # then each attempt is refused with its code
    assert await code(BOOK, booking(last_week), patient) == "BAD_USER_INPUT"  # in the past
    assert await code(BOOK, booking(at(monday, "13:00")), patient) == "BAD_USER_INPUT"  # closed
    assert await code(BOOK, booking(at(monday, "11:45")), patient) == "BAD_USER_INPUT"  # runs over
    assert await code(BOOK, booking(at(monday, "09:03")), patient) == "BAD_USER_INPUT"  # off grid
    assert await code(BOOK, booking(at(monday, "10:15")), patient) == "CONFLICT"  # overlapping
    assert await code(BOOK, booking(at(monday, "09:45")), patient) == "CONFLICT"  # overlapping
    assert await code(BOOK, booking(at(monday, "09:00"), 0), patient) == "BAD_USER_INPUT"
    assert await code(BOOK, booking(at(monday, "09:00"), 10_000), patient) == "BAD_USER_INPUT"
    # a patient's id as the doctor reads as an unknown doctor
    assert await code(BOOK, booking(at(monday, "09:00"), doctor_id=other.id), patient) == (
        "NOT_FOUND"
    )
    assert await code(BOOK, booking(at(monday, "09:00"), doctor_id="nobody"), patient) == (
        "NOT_FOUND"
    )
    assert await code(BOOK, booking(at(monday, "09:00")), doctor) == "FORBIDDEN"  # not a patient
    assert await code(BOOK, booking(at(monday, "09:00")), None) == "UNAUTHENTICATED"
    # another person's appointment is not found, to cancel or to move
    assert await code(CANCEL, {"id": booked["id"]}, outsider) == "NOT_FOUND"
    assert await code(RESCHEDULE, {"id": booked["id"], "at": at(monday, "11:00").isoformat()},
                      outsider) == "NOT_FOUND"
    # moving into taken, closed or past time
    own = await book(api, patient, doctor, at(monday, "11:00"))
    after_own = await stored(api, doctor, patient, other, outsider)
    assert await code(RESCHEDULE, {"id": own["id"], "at": at(monday, "10:00").isoformat()},
                      patient) == "CONFLICT"
    assert await code(RESCHEDULE, {"id": own["id"], "at": at(monday, "15:00").isoformat()},
                      patient) == "BAD_USER_INPUT"
    assert await code(RESCHEDULE, {"id": own["id"], "at": last_week.isoformat()},
                      patient) == "BAD_USER_INPUT"
    # slot searches with bad bounds
    search = {"doctor": doctor.id, "from": at(monday, "00:00").isoformat(),
              "to": at(monday + timedelta(days=1), "00:00").isoformat()}
    assert await code(SLOTS, {**search, "minutes": 0}, patient) == "BAD_USER_INPUT"
    assert await code(SLOTS, {**search, "minutes": 10_000}, patient) == "BAD_USER_INPUT"
    assert await code(SLOTS, {**search, "to": at(monday + timedelta(days=40), "00:00").isoformat()},
                      patient) == "BAD_USER_INPUT"
    assert await code(SLOTS, {**search, "doctor": other.id}, patient) == "NOT_FOUND"
    # an unknown time zone, and a patient setting hours
    assert await code(SET_AVAILABILITY, {"windows": MONDAY_9_TO_12, "tz": "Europe/Atlantis"},
                      doctor) == "BAD_USER_INPUT"
    assert await code(SET_AVAILABILITY, {"windows": MONDAY_9_TO_12, "tz": "UTC"},
                      patient) == "FORBIDDEN"

    # and nothing stored changed but the one good booking
    assert await stored(api, doctor, patient, other, outsider) == after_own
    assert len(after_own.appointments) == len(before.appointments) + 1
    assert after_own.windows == before.windows == 1
    hours = (await api.data(DOCTOR_HOURS, {"id": doctor.id}, token=patient.token))["user"]
    assert {w["timezone"] for w in hours["availability"]} == {"Europe/Berlin"}


async def test_nobody_reads_another_persons_calendar(api: Api) -> None:
    doctor = await doctor_open_mondays(api)
    patient = await make_person(api)
    booked = await book(api, patient, doctor, at(next_monday(), "09:00"))
    admin = await make_person(api, Role.ADMIN)
    query = "query($id: ID!) { user(id: $id) { appointments { id } } }"
    assert (await api.data(query, {"id": patient.id}, token=admin.token))["user"] == {
        "appointments": []
    }
    one = "query($id: ID!) { appointment(id: $id) { id } }"
    assert await api.error_code(one, {"id": booked["id"]}, token=admin.token) == "NOT_FOUND"
    assert (await api.data(one, {"id": booked["id"]}, token=doctor.token))["appointment"] == {
        "id": booked["id"]
    }


# ---- video calls, with a scheduling clock the test moves


class MovableClock:
    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


@asynccontextmanager
async def clocked_api(settings: Settings, clock: MovableClock) -> AsyncIterator[Api]:
    """The app on the test's storage, with ``clock`` as scheduling's "now"."""
    runtime = build_runtime(settings, scheduling_clock=clock)
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://caregraph.test") as c:
            yield Api(c, runtime)
    finally:
        await runtime.close()


LIVEKIT = {"livekit_public_url": "wss://video.caregraph.test", "livekit_api_key": LIVEKIT_KEY,
           "livekit_api_secret": LIVEKIT_SECRET}


async def test_patient_and_doctor_join_the_call_from_ten_minutes_before_until_the_end(
    api: Api,
) -> None:
    clock = MovableClock()
    async with clocked_api(replace(api.runtime.settings, **LIVEKIT), clock) as video:
        # given a booked appointment next Monday 10:00-10:30
        doctor = await doctor_open_mondays(video, name="Dr. Video")
        patient = await make_person(video, name="Pat Video")
        outsider = await make_person(video)
        booked = await book(video, patient, doctor, at(next_monday(), "10:00"))
        starts, ends = parsed(booked["startsAt"]), parsed(booked["endsAt"])
        before = await stored(video, doctor, patient)

        # when it is five minutes before the start, both join
        clock.now = starts - timedelta(minutes=5)
        verifier = TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET)
        for person, name in ((patient, "Pat Video"), (doctor, "Dr. Video")):
            ticket = (await video.data(JOIN, {"id": booked["id"]}, token=person.token))[
                "joinVideoCall"
            ]
            # then the token is theirs, for this appointment's room only, ending with it
            claims = verifier.verify(ticket["token"])
            assert (claims.identity, claims.name) == (person.id, name)
            assert claims.video.room_join is True
            assert claims.video.room == ticket["roomName"] == f"appointment-{booked['id']}"
            assert not claims.video.room_admin and not claims.video.room_create
            expiry = jwt.decode(ticket["token"], options={"verify_signature": False})["exp"]
            assert datetime.fromtimestamp(expiry, UTC) <= ends == parsed(ticket["expiresAt"])
            assert ticket["serverUrl"] == "wss://video.caregraph.test"

        # a third person is told it does not exist, at any time
        assert await video.error_code(JOIN, {"id": booked["id"]}, token=outsider.token) == (
            "NOT_FOUND"
        )
        # too early and too late are refused
        for moment in (starts - timedelta(minutes=11), ends, ends + timedelta(hours=1)):
            clock.now = moment
            assert await video.error_code(JOIN, {"id": booked["id"]}, token=patient.token) == (
                "FORBIDDEN"
            )
        # during the call it still works; once cancelled, no more
        clock.now = starts + timedelta(minutes=20)
        await video.data(JOIN, {"id": booked["id"]}, token=doctor.token)
        assert await stored(video, doctor, patient) == before
        await video.data(CANCEL, {"id": booked["id"]}, token=doctor.token)
        assert await video.error_code(JOIN, {"id": booked["id"]}, token=patient.token) == (
            "FORBIDDEN"
        )


async def test_without_livekit_settings_joining_is_service_unavailable(api: Api) -> None:
    clock = MovableClock()
    async with clocked_api(api.runtime.settings, clock) as video:
        doctor = await doctor_open_mondays(video)
        patient = await make_person(video)
        booked = await book(video, patient, doctor, at(next_monday(), "11:00"))
        clock.now = parsed(booked["startsAt"])
        body = await video.post(JOIN, {"id": booked["id"]}, token=patient.token)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert "CAREGRAPH_LIVEKIT_URL" in error["message"]


COMPLETE = """
mutation($id: ID!, $noShow: Boolean) {
  completeAppointment(id: $id, noShow: $noShow) { id status }
}"""
USER = "query($id: ID!) { user(id: $id) { id displayName } }"


async def test_the_doctor_records_the_outcome_once_the_appointment_has_started(api: Api) -> None:
    clock = MovableClock()
    async with clocked_api(api.runtime.settings, clock) as visits:
        # given two booked appointments next Monday
        doctor = await doctor_open_mondays(visits)
        patient, absent = await make_person(visits), await make_person(visits)
        seen = await book(visits, patient, doctor, at(next_monday(), "09:00"))
        missed = await book(visits, absent, doctor, at(next_monday(), "09:30"))

        # before the start, nobody can record an outcome
        early = await visits.error_code(COMPLETE, {"id": seen["id"]}, token=doctor.token)
        assert early == "BAD_USER_INPUT"
        # once started, the patient may not, and a stranger does not see it
        clock.now = parsed(missed["startsAt"]) + timedelta(minutes=1)
        assert await visits.error_code(COMPLETE, {"id": seen["id"]}, token=patient.token) == (
            "FORBIDDEN"
        )
        assert await visits.error_code(COMPLETE, {"id": seen["id"]}, token=absent.token) == (
            "NOT_FOUND"
        )
        # the doctor records one visit and one no-show
        done = await visits.data(COMPLETE, {"id": seen["id"]}, token=doctor.token)
        assert done["completeAppointment"]["status"] == "COMPLETED"
        no_show = await visits.data(COMPLETE, {"id": missed["id"], "noShow": True},
                                    token=doctor.token)
        assert no_show["completeAppointment"]["status"] == "NO_SHOW"
        # an outcome is final
        again = await visits.error_code(COMPLETE, {"id": seen["id"]}, token=doctor.token)
        assert again == "CONFLICT"
        # the doctor keeps seeing the patient they treated, not the one who never came
        await visits.data(USER, {"id": patient.id}, token=doctor.token)
        assert await visits.error_code(USER, {"id": absent.id}, token=doctor.token) == (
            "NOT_FOUND"
        )


# ---- live events


class ReadyBus:
    """The runtime's broker, telling the test when a subscription is really listening."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.ready = asyncio.Event()

    async def publish(self, topic: str, payload: bytes) -> None:
        await self._inner.publish(topic, payload)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Any]:
        async with self._inner.subscribe(topic) as feed:
            self.ready.set()
            yield feed


async def listen(runtime: Runtime, person: Person) -> tuple[AsyncIterator[Any], asyncio.Task[Any]]:
    """``appointmentUpdated`` for ``person`` through the composed schema; returns once live."""
    engine = runtime.engine
    bus = ReadyBus(runtime.broker)
    scheduling = SchedulingService(
        appointments=SqlAppointmentRepository(engine),
        availability=SqlAvailabilityRepository(engine),
        directory=ActiveUserDirectory(SqlUserRepository(engine)),
        bus=bus,
        video=UnconfiguredRooms(),
        audit=SqlAuditLog(engine),
    )
    context = Context(
        services=replace(runtime.services, scheduling=scheduling),
        request_id="subscription-test",
        principal=await runtime.services.users.authenticate(person.token),
        cache_loaders=False,
    )
    stream = await executable_schema().subscribe(UPDATED, context_value=context)
    assert not hasattr(stream, "errors"), stream
    first = asyncio.ensure_future(anext(stream))  # type: ignore[arg-type]
    await asyncio.wait_for(bus.ready.wait(), WAIT)
    return stream, first  # type: ignore[return-value]


async def event(pending: asyncio.Task[Any]) -> dict[str, Any]:
    result = await asyncio.wait_for(pending, WAIT)
    assert not result.errors, result.errors
    update: dict[str, Any] = result.data["appointmentUpdated"]
    return update


async def test_both_participants_receive_bookings_moves_and_cancellations(api: Api) -> None:
    # given a doctor, a patient and an outsider, each listening
    doctor = await doctor_open_mondays(api)
    patient = await make_person(api)
    outsider = await make_person(api)
    listeners = {p.id: await listen(api.runtime, p) for p in (doctor, patient, outsider)}
    monday = next_monday()
    try:
        # when the patient books, both participants hear of it
        booked = await book(api, patient, doctor, at(monday, "09:00"))
        for person in (doctor, patient):
            update = await event(listeners[person.id][1])
            assert (update["id"], update["status"]) == (booked["id"], "BOOKED")
            assert (update["patient"]["id"], update["doctor"]["id"]) == (patient.id, doctor.id)

        # when it is moved and then cancelled, both hear each change in order
        await api.data(RESCHEDULE, {"id": booked["id"], "at": at(monday, "11:00").isoformat()},
                       token=patient.token)
        await api.data(CANCEL, {"id": booked["id"]}, token=doctor.token)
        for person in (doctor, patient):
            stream = listeners[person.id][0]
            moved = await event(asyncio.ensure_future(anext(stream)))  # type: ignore[arg-type]
            cancelled = await event(asyncio.ensure_future(anext(stream)))  # type: ignore[arg-type]
            assert (moved["status"], parsed(moved["startsAt"])) == ("BOOKED", at(monday, "11:00"))
            assert (cancelled["id"], cancelled["status"]) == (booked["id"], "CANCELLED")

        # and the outsider heard none of it: their first event is their own booking
        own = await book(api, outsider, doctor, at(monday, "10:00"))
        assert (await event(listeners[outsider.id][1]))["id"] == own["id"]
    finally:
        for stream, pending in listeners.values():
            pending.cancel()
            await stream.aclose()  # type: ignore[attr-defined]


async def test_bookings_and_reads_are_audited_with_the_request_id(api: Api) -> None:
    from infra.db.tables import audit_events

    doctor = await doctor_open_mondays(api)
    patient = await make_person(api)
    variables = {"doctor": doctor.id, "at": at(next_monday(), "09:00").isoformat()}
    response = await api.client.post(
        "/graphql", json={"query": BOOK, "variables": variables},
        headers={"Authorization": f"Bearer {patient.token}", "X-Request-ID": "audit-book-1"},
    )
    appointment_id = response.json()["data"]["bookAppointment"]["id"]
    await api.client.post(
        "/graphql", json={"query": "query($id: ID!) { appointment(id: $id) { id } }",
                          "variables": {"id": appointment_id}},
        headers={"Authorization": f"Bearer {doctor.token}", "X-Request-ID": "audit-read-2"},
    )
    async with api.runtime.engine.connect() as conn:
        rows = (await conn.execute(
            select(audit_events.c.actor_id, audit_events.c.action, audit_events.c.record_id)
            .where(audit_events.c.request_id.in_(["audit-book-1", "audit-read-2"]))
            .order_by(audit_events.c.id)
        )).all()
    assert [tuple(r) for r in rows] == [
        (patient.id, "appointment.book", appointment_id),
        (doctor.id, "appointment.read", appointment_id),
    ]
