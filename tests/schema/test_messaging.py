"""The messaging subgraph through GraphQL: conversations, messages, read markers, access."""

from __future__ import annotations

from sqlalchemy import func, select

from domain.principal import Role
from infra.db.tables import conversations, messages
from tests.conftest import Api, Person, make_person

START = """
mutation($participants: [ID!]!, $subject: String) {
  startConversation(participantIds: $participants, subject: $subject) {
    id subject participants { id displayName role }
  }
}"""

SEND = """
mutation($conversation: ID!, $body: String!) {
  sendMessage(conversationId: $conversation, body: $body) {
    id body cursor sender { id displayName } conversation { id }
  }
}"""

INBOX = """
query($first: Int, $after: String) {
  me { conversations(first: $first, after: $after) {
    edges { cursor node { id subject unreadCount } }
    pageInfo { hasNextPage endCursor }
  } }
}"""

MESSAGES = """
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  conversation(id: $id) {
    messages(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node { body sender { id } } }
      pageInfo { hasNextPage hasPreviousPage }
    }
  }
}"""

MARK_READ = "mutation($c: ID!) { markConversationRead(conversationId: $c) { id unreadCount } }"


async def start(api: Api, who: Person, *others: Person, subject: str | None = None) -> str:
    data = await api.data(
        START, {"participants": [o.id for o in others], "subject": subject}, token=who.token
    )
    conversation_id: str = data["startConversation"]["id"]
    return conversation_id


async def send(api: Api, who: Person, conversation_id: str, body: str) -> dict[str, object]:
    data = await api.data(SEND, {"conversation": conversation_id, "body": body}, token=who.token)
    sent: dict[str, object] = data["sendMessage"]
    return sent


async def test_patient_and_doctor_talk_and_unread_counts_follow(api: Api) -> None:
    # given a patient and a doctor
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR, specialty="Dermatology", name="Dr. Who")

    # when the patient starts a conversation and writes twice
    conversation_id = await start(api, patient, doctor, subject="Rash")
    first = await send(api, patient, conversation_id, "Hello")
    await send(api, patient, conversation_id, "It itches")

    # then the sender is resolved through the users subgraph, and the doctor has 2 unread
    assert first["sender"] == {"id": patient.id, "displayName": first["sender"]["displayName"]}  # type: ignore[index]
    inbox = (await api.data(INBOX, token=doctor.token))["me"]["conversations"]
    assert [e["node"] for e in inbox["edges"]] == [
        {"id": conversation_id, "subject": "Rash", "unreadCount": 2}
    ]
    # the patient's own messages are not unread for them
    mine = (await api.data(INBOX, token=patient.token))["me"]["conversations"]["edges"]
    assert mine[0]["node"]["unreadCount"] == 0

    # when the doctor marks it read and the patient writes again
    marked = await api.data(MARK_READ, {"c": conversation_id}, token=doctor.token)
    assert marked["markConversationRead"]["unreadCount"] == 0
    await send(api, patient, conversation_id, "Any news?")
    inbox = (await api.data(INBOX, token=doctor.token))["me"]["conversations"]
    assert inbox["edges"][0]["node"]["unreadCount"] == 1


async def test_participants_carry_profiles_from_users(api: Api) -> None:
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR, name="Dr. Participant")
    data = await api.data(START, {"participants": [doctor.id]}, token=patient.token)
    people = {p["id"]: p for p in data["startConversation"]["participants"]}
    assert people[doctor.id] == {
        "id": doctor.id,
        "displayName": "Dr. Participant",
        "role": "DOCTOR",
    }
    assert people[patient.id]["role"] == "PATIENT"


async def test_messages_page_forwards_and_backwards(api: Api) -> None:
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    conversation_id = await start(api, patient, doctor)
    for n in range(7):
        await send(api, patient if n % 2 else doctor, conversation_id, f"m{n}")

    seen: list[str] = []
    after = None
    while True:
        page = (
            await api.data(
                MESSAGES, {"id": conversation_id, "first": 3, "after": after}, token=doctor.token
            )
        )["conversation"]["messages"]
        seen += [e["node"]["body"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["edges"][-1]["cursor"]
    assert seen == [f"m{n}" for n in range(7)]

    newest = await api.data(MESSAGES, {"id": conversation_id, "last": 2}, token=patient.token)
    page = newest["conversation"]["messages"]
    assert [e["node"]["body"] for e in page["edges"]] == ["m5", "m6"]
    assert page["pageInfo"]["hasPreviousPage"] is True
    before = page["edges"][0]["cursor"]
    older = await api.data(
        MESSAGES, {"id": conversation_id, "last": 2, "before": before}, token=patient.token
    )
    assert [e["node"]["body"] for e in older["conversation"]["messages"]["edges"]] == ["m3", "m4"]


async def test_inbox_pages_by_recent_activity(api: Api) -> None:
    patient = await make_person(api)
    doctors = [await make_person(api, Role.DOCTOR) for _ in range(3)]
    ids = [await start(api, patient, d, subject=f"s{i}") for i, d in enumerate(doctors)]
    await send(api, patient, ids[0], "bump")  # the oldest conversation becomes the most recent

    first = (await api.data(INBOX, {"first": 2}, token=patient.token))["me"]["conversations"]
    assert [e["node"]["id"] for e in first["edges"]] == [ids[0], ids[2]]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (
        await api.data(
            INBOX, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token=patient.token
        )
    )["me"]["conversations"]
    assert [e["node"]["id"] for e in rest["edges"]] == [ids[1]]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_outsider_cannot_read_or_write_and_nothing_changes(api: Api) -> None:
    # given a conversation between a patient and a doctor, and another patient
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    outsider = await make_person(api)
    conversation_id = await start(api, patient, doctor)
    await send(api, patient, conversation_id, "private")

    async def stored() -> tuple[int, int]:
        async with api.runtime.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(messages)
                .where(messages.c.conversation_id == conversation_id)
            )
            seq = await conn.scalar(
                select(conversations.c.last_seq).where(conversations.c.id == conversation_id)
            )
        return int(count or 0), int(seq or 0)

    before = await stored()
    # when the outsider reads it, writes to it, marks it read: NOT_FOUND each time
    assert (
        await api.error_code(MESSAGES, {"id": conversation_id}, token=outsider.token) == "NOT_FOUND"
    )
    body = await api.post(
        SEND, {"conversation": conversation_id, "body": "hi"}, token=outsider.token
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (
        await api.error_code(MARK_READ, {"c": conversation_id}, token=outsider.token) == "NOT_FOUND"
    )
    # and the outsider's inbox is empty
    inbox = (await api.data(INBOX, token=outsider.token))["me"]["conversations"]["edges"]
    assert inbox == []
    # then nothing stored changed
    assert await stored() == before


async def test_starting_conversations_follows_the_care_rules(api: Api) -> None:
    patient = await make_person(api)
    other_patient = await make_person(api)
    analyst = await make_person(api, Role.ANALYST)
    doctor = await make_person(api, Role.DOCTOR)

    assert (
        await api.error_code(START, {"participants": [other_patient.id]}, token=patient.token)
        == "FORBIDDEN"
    )
    assert (
        await api.error_code(START, {"participants": [doctor.id]}, token=analyst.token)
        == "FORBIDDEN"
    )
    assert (
        await api.error_code(START, {"participants": []}, token=patient.token) == "BAD_USER_INPUT"
    )
    assert (
        await api.error_code(START, {"participants": ["no-such-user"]}, token=patient.token)
        == "NOT_FOUND"
    )
    assert await api.error_code(START, {"participants": [doctor.id]}) == "UNAUTHENTICATED"
    # a doctor may bring two patients together with them
    await start(api, doctor, patient, other_patient)


async def test_bad_message_bodies_and_cursors_are_refused(api: Api) -> None:
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    conversation_id = await start(api, patient, doctor)
    for body in ("", "   ", "x" * 10_001):
        result = await api.post(
            SEND, {"conversation": conversation_id, "body": body}, token=patient.token
        )
        assert result["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "body"}
    for cursor in ("garbage", "WyJjb252Il0", "!!!"):
        code = await api.error_code(
            MESSAGES, {"id": conversation_id, "after": cursor}, token=patient.token
        )
        assert code == "BAD_USER_INPUT"
    assert (
        await api.error_code(MESSAGES, {"id": conversation_id, "first": 1000}, token=patient.token)
        == "BAD_USER_INPUT"
    )


async def test_reads_and_writes_are_audited_with_the_request_id(api: Api) -> None:
    from infra.db.tables import audit_events

    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    conversation_id = await start(api, patient, doctor)
    response = await api.client.post(
        "/graphql",
        json={"query": SEND, "variables": {"conversation": conversation_id, "body": "audited"}},
        headers={"Authorization": f"Bearer {patient.token}", "X-Request-ID": "audit-send-1"},
    )
    message_id = response.json()["data"]["sendMessage"]["id"]
    await api.client.post(
        "/graphql",
        json={"query": MESSAGES, "variables": {"id": conversation_id}},
        headers={"Authorization": f"Bearer {doctor.token}", "X-Request-ID": "audit-read-1"},
    )
    async with api.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(audit_events.c.actor_id, audit_events.c.action, audit_events.c.record_id)
                .where(audit_events.c.request_id.in_(["audit-send-1", "audit-read-1"]))
                .order_by(audit_events.c.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (patient.id, "message.send", message_id),
        (doctor.id, "message.read", conversation_id),
    ]


SHARE = """
mutation($conversation: ID!, $body: String!, $study: ID) {
  sendMessage(conversationId: $conversation, body: $body, studyId: $study) {
    id study { id modality patient { id } }
  }
}"""


async def test_a_patient_shares_their_study_and_the_doctor_reads_it(api: Api) -> None:
    from tests.schema.imaging_support import png, post_upload

    # given a patient's study and their conversation with a doctor
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    other_patient = await make_person(api)
    upload = await post_upload(api.client, patient.token, png())
    study_id = upload.json()["data"]["uploadStudy"]["id"]
    conversation_id = await start(api, patient, doctor)

    # when the patient shares it in a message
    shared = await api.data(
        SHARE,
        {"conversation": conversation_id, "body": "my scan", "study": study_id},
        token=patient.token,
    )
    # then the message carries the study, resolved by the imaging subgraph, for both of them
    assert shared["sendMessage"]["study"] == {
        "id": study_id,
        "modality": "SKIN",
        "patient": {"id": patient.id},
    }
    page = await api.data(
        "query($id: ID!) { conversation(id: $id) { messages(last: 1) { edges { node {"
        " study { id modality } } } } } }",
        {"id": conversation_id},
        token=doctor.token,
    )
    edge = page["conversation"]["messages"]["edges"][0]
    assert edge["node"]["study"] == {"id": study_id, "modality": "SKIN"}

    # and nobody can attach a study they may not see, or one of a patient not in the talk
    other_conversation = await start(api, other_patient, doctor)
    for who, conversation in ((other_patient, other_conversation), (doctor, other_conversation)):
        body = await api.post(
            SHARE,
            {"conversation": conversation, "body": "look", "study": study_id},
            token=who.token,
        )
        assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "studyId"}
    unknown = await api.post(
        SHARE,
        {"conversation": conversation_id, "body": "x", "study": "no-such-study"},
        token=patient.token,
    )
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
