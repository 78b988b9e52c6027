"""One patient's day, scripted, as any deployment of CareGraph must answer it: sign up, upload
a study and follow its diagnosis, talk with a doctor, book a visit and join its call, and an
analyst reading the model's metrics, with a refused and a missing record on the way.

``run`` returns the transcript: each step's name and the answer the client got, data and
errors, with what each deployment generates anew (ids, tokens, cursors, times, signed URLs)
replaced by placeholders that keep which values were equal, so two transcripts compare whole.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from tests.conftest import PASSWORD
from tests.federation.cluster import ANALYST_EMAIL, DOCTOR_EMAIL, Deployment
from tests.live_operations import SIGN_IN
from tests.schema.imaging_support import png

# Every wait is bounded: a lost event fails the scenario instead of hanging it.
WAIT = 30.0
PATIENT_EMAIL = "pat@example.org"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"

SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) { accessToken refreshToken user { id email displayName role } }
}"""

STUDY_WITHOUT_TOKEN = "query($id: ID!) { study(id: $id) { id modality } }"

SET_AVAILABILITY = """
mutation($windows: [AvailabilityWindowInput!]!) {
  setAvailability(windows: $windows, timezone: "UTC") { weekday startTime endTime timezone }
}"""

UPLOAD = """
mutation($file: Upload!, $modality: Modality!) {
  uploadStudy(file: $file, modality: $modality) {
    id modality contentType sha256 width height patient { id displayName }
  }
}"""

DIAGNOSIS_UPDATED = """
subscription($studyId: ID) {
  diagnosisUpdated(studyId: $studyId) {
    id status label confidence probabilities { label probability } error
    study { id modality patient { displayName email } }
    modelVersion { id version status model { name modality } }
  }
}"""

START_CONVERSATION = """
mutation($participantIds: [ID!]!) {
  startConversation(participantIds: $participantIds, subject: "My rash") {
    id participants { displayName role }
  }
}"""

SEND_MESSAGE = """
mutation($conversationId: ID!, $body: String!, $studyId: ID) {
  sendMessage(conversationId: $conversationId, body: $body, studyId: $studyId) {
    id body cursor sender { displayName } study { id modality }
  }
}"""

MESSAGE_ADDED = """
subscription($conversationId: ID!, $after: String) {
  messageAdded(conversationId: $conversationId, after: $after) {
    id body cursor sender { displayName role } conversation { id unreadCount }
    study { id modality diagnosis { status label } }
  }
}"""

BOOK = """
mutation($doctorId: ID!, $startsAt: DateTime!) {
  bookAppointment(doctorId: $doctorId, startsAt: $startsAt, durationMinutes: 30, reason: "rash") {
    id status startsAt endsAt reason patient { displayName } doctor { displayName }
  }
}"""

JOIN_CALL = """
mutation($appointmentId: ID!) {
  joinVideoCall(appointmentId: $appointmentId) { serverUrl roomName token expiresAt }
}"""

MY_DAY = """
query($from: DateTime!, $to: DateTime!) {
  me {
    displayName
    studies(first: 5) { edges { node {
      modality diagnosis { status label modelVersion { version model { name } } }
    } } }
    conversations(first: 5) { edges { node {
      unreadCount participants { displayName }
      messages(first: 5) { edges { node { body sender { displayName } } } }
    } } }
    appointments(from: $from, to: $to) {
      status reason doctor { displayName doctorProfile { specialty } }
    }
  }
}"""

MODEL_METRICS = """
query($from: Date!, $to: Date!) {
  models {
    name modality labels
    versions {
      version status intendedUse executionProvider
      metrics(from: $from, to: $to) { date requests failures reviewed meanConfidence }
    }
  }
}"""

ANALYST_READS_A_STUDY = "query($id: ID!) { study(id: $id) { id patient { displayName } } }"


class Client:
    """One deployment's HTTP client; records every answer in the transcript."""

    def __init__(self, deployment: Deployment, http: httpx.AsyncClient) -> None:
        self.deployment = deployment
        self.http = http
        self.transcript: list[tuple[str, Any]] = []

    def record(self, step: str, answer: Any) -> Any:
        self.transcript.append((step, answer))
        return answer

    async def post(
        self,
        step: str,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return self.record(step, body)  # type: ignore[no-any-return]

    async def data(
        self,
        step: str,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> dict[str, Any]:
        body = await self.post(step, query, variables, token=token)
        assert "errors" not in body, (step, body)
        data: dict[str, Any] = body["data"]
        return data

    async def upload(self, step: str, token: str, image: bytes) -> dict[str, Any]:
        operations = {"query": UPLOAD, "variables": {"file": None, "modality": "SKIN"}}
        response = await self.http.post(
            "/graphql",
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.file"]}),
            },
            files={"0": ("rash.png", image, "image/png")},
            headers={"Authorization": f"Bearer {token}"},
        )
        body: dict[str, Any] = response.json()
        self.record(step, body)
        assert "errors" not in body, (step, body)
        study: dict[str, Any] = body["data"]["uploadStudy"]
        return study


@asynccontextmanager
async def socket(deployment: Deployment, token: str) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection, authenticated in its connection_init."""
    async with websockets.connect(
        deployment.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=WAIT
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert ack["type"] == "connection_ack", ack
        yield ws


async def subscribe(ws: ClientConnection, query: str, variables: dict[str, Any]) -> None:
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


async def next_payload(ws: ClientConnection) -> dict[str, Any]:
    """The payload of the next ``next`` frame; an ``error`` frame is returned as ``{"errors"}``."""
    frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    if frame["type"] == "error":
        return {"errors": frame["payload"]}
    assert frame["type"] == "next", frame
    payload: dict[str, Any] = frame["payload"]
    return payload


async def sign_in(client: Client, step: str, email: str) -> tuple[str, str]:
    session = (await client.data(step, SIGN_IN, {"email": email, "password": PASSWORD}))["signIn"]
    return session["accessToken"], session["user"]["id"]


def next_bookable_start(now: datetime) -> datetime:
    """The first 5-minute mark at least a minute away: in the future when the booking arrives,
    and less than the 10 minutes before which a call cannot be joined."""
    soon = now + timedelta(minutes=1)
    minutes = (soon.minute // 5 + 1) * 5
    return soon.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=minutes)


async def run(deployment: Deployment) -> list[tuple[str, Any]]:
    async with httpx.AsyncClient(base_url=deployment.url, timeout=WAIT) as http:
        client = Client(deployment, http)
        await asyncio.wait_for(_script(client), 4 * WAIT)
        return normalised(client.transcript)


async def _script(client: Client) -> None:
    # A patient signs up; a caller without a token is refused.
    signed_up = (
        await client.data(
            "sign up",
            SIGN_UP,
            {
                "input": {
                    "email": PATIENT_EMAIL,
                    "password": PASSWORD,
                    "displayName": "Pat Patient",
                }
            },
        )
    )["signUp"]
    patient = signed_up["accessToken"]
    await client.post("a study without a token", STUDY_WITHOUT_TOKEN, {"id": UNKNOWN_ID})
    doctor, doctor_id = await sign_in(client, "the doctor signs in", DOCTOR_EMAIL)
    analyst, _ = await sign_in(client, "the analyst signs in", ANALYST_EMAIL)

    # The patient uploads a photo and follows its diagnosis, which names the patient (users)
    # and the model version that produced it (registry).
    study = await client.upload("upload a study", patient, png(96, 64))
    async with socket(client.deployment, patient) as ws:
        await subscribe(ws, DIAGNOSIS_UPDATED, {"studyId": study["id"]})
        while True:
            event = await next_payload(ws)
            assert "errors" not in event, event
            if event["data"]["diagnosisUpdated"]["status"] in ("COMPLETED", "FAILED"):
                break
    client.record("diagnosisUpdated, final event", event)
    await client.post(
        "a study that does not exist", STUDY_WITHOUT_TOKEN, {"id": UNKNOWN_ID}, token=patient
    )
    await client.post(
        "an analyst asks for a study", ANALYST_READS_A_STUDY, {"id": study["id"]}, token=analyst
    )

    # Patient and doctor talk; the doctor follows the conversation after the first message.
    conversation = (
        await client.data(
            "start a conversation",
            START_CONVERSATION,
            {"participantIds": [doctor_id]},
            token=patient,
        )
    )["startConversation"]
    first = (
        await client.data(
            "send a message",
            SEND_MESSAGE,
            {
                "conversationId": conversation["id"],
                "body": "Hello doctor",
                "studyId": None,
            },
            token=patient,
        )
    )["sendMessage"]
    async with socket(client.deployment, doctor) as ws:
        await subscribe(
            ws, MESSAGE_ADDED, {"conversationId": conversation["id"], "after": first["cursor"]}
        )
        await client.data(
            "send a message with the study",
            SEND_MESSAGE,
            {
                "conversationId": conversation["id"],
                "body": "Here is the photo",
                "studyId": study["id"],
            },
            token=patient,
        )
        client.record("messageAdded, to the doctor", await next_payload(ws))

    # The doctor opens the whole week; the patient books the next slot and both join the call.
    all_day = [{"weekday": day, "startTime": "00:00", "endTime": "24:00"} for day in range(1, 8)]
    await client.data(
        "the doctor sets availability", SET_AVAILABILITY, {"windows": all_day}, token=doctor
    )
    starts_at = next_bookable_start(datetime.now(UTC))
    appointment = (
        await client.data(
            "book an appointment",
            BOOK,
            {
                "doctorId": doctor_id,
                "startsAt": starts_at.isoformat(),
            },
            token=patient,
        )
    )["bookAppointment"]
    await client.data(
        "the patient joins the call", JOIN_CALL, {"appointmentId": appointment["id"]}, token=patient
    )
    await client.data(
        "the doctor joins the call", JOIN_CALL, {"appointmentId": appointment["id"]}, token=doctor
    )
    await client.post(
        "join a call that does not exist", JOIN_CALL, {"appointmentId": UNKNOWN_ID}, token=patient
    )

    # The patient's day across all five subgraphs, and the analyst's view of the models.
    day = {
        "from": (starts_at - timedelta(days=1)).isoformat(),
        "to": (starts_at + timedelta(days=1)).isoformat(),
    }
    await client.data("the patient's day", MY_DAY, day, token=patient)
    today = datetime.now(UTC).date().isoformat()
    await client.data(
        "model metrics, as an analyst", MODEL_METRICS, {"from": today, "to": today}, token=analyst
    )
    await client.post(
        "model metrics, as the patient", MODEL_METRICS, {"from": today, "to": today}, token=patient
    )


# ---- what differs from one deployment to another by design

GENERATED_KEYS = {
    "id",
    "accessToken",
    "refreshToken",
    "token",
    "cursor",
    "endCursor",
    "roomName",
    "startsAt",
    "endsAt",
    "expiresAt",
    "createdAt",
    "sentAt",
    "uploadedAt",
    "completedAt",
    "updatedAt",
    "reviewedAt",
    "imageUrl",
}
# Lists in the order of generated ids (conversation participants: by user id), so in a
# different order in each deployment; compared as sets of what is not generated.
ORDERED_BY_ID_KEYS = {"participants"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Hive Gateway adds which subgraph an error came from, and leaves out where in the document it
# arose (a subgraph's locations point into the query the gateway sent it, not the client's).
GATEWAY_ERROR_EXTENSIONS = {"serviceName"}
ERROR_LOCATIONS = "locations"


def normalised(transcript: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Generated values become ``<key #n>``, numbered by first appearance across the whole
    transcript, so that equal values stay equal and different ones stay different."""
    seen: dict[str, str] = {}

    def placeholder(key: str, value: str) -> str:
        if value not in seen:
            seen[value] = f"<{key} #{len(seen) + 1}>"
        return seen[value]

    def walk(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {
                k: walk(v, k)
                for k, v in value.items()
                if not (key == "extensions" and k in GATEWAY_ERROR_EXTENSIONS)
                and not (key == "errors" and k == ERROR_LOCATIONS)
            }
        if isinstance(value, list):
            items = sorted(value, key=stable_part) if key in ORDERED_BY_ID_KEYS else value
            return [walk(item, key) for item in items]
        if isinstance(value, str) and value != UNKNOWN_ID:
            if key in GENERATED_KEYS:
                return placeholder(key, value)
            return UUID.sub(lambda m: placeholder("uuid", m.group()), value)
        return value

    return [(step, walk(answer)) for step, answer in transcript]


def stable_part(value: Any) -> str:
    """What of ``value`` is the same in every deployment, as a sortable string."""

    def strip(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: strip(v) for k, v in item.items() if k not in GENERATED_KEYS}
        if isinstance(item, list):
            return [strip(v) for v in item]
        return item

    return json.dumps(strip(value), sort_keys=True)
