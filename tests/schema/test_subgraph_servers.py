"""Each subgraph served alone (``caregraph serve --subgraph NAME``), as a gateway sees it.

A gateway reads ``_service { sdl }`` and fetches entities with ``_entities``. Neither is hidden
by disabling introspection, so ``_entities`` must refuse exactly what the subgraph's own query
fields refuse: another person's record reads as NOT_FOUND, with no data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from domain.principal import Role
from infra.settings import Settings
from schema.snapshots import SDL_DIR
from tests.conftest import (
    Api,
    LiveServer,
    Person,
    make_person,
    server_env,
    start_server,
    stop_server,
)

SERVICE_SDL = "{ _service { sdl } }"

USER_ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on User { id email displayName role } }
}"""

CONVERSATION_ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on Conversation { id subject unreadCount } }
}"""

MESSAGE_ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on Message { id body } }
}"""

START_CONVERSATION = """
mutation($participantIds: [ID!]!) {
  startConversation(participantIds: $participantIds, subject: "rash") { id }
}"""

SEND_MESSAGE = """
mutation($conversationId: ID!) {
  sendMessage(conversationId: $conversationId, body: "It itches") { id }
}"""


@dataclass
class Subgraphs:
    users: LiveServer
    messaging: LiveServer


@pytest.fixture(scope="module")
def subgraphs(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Subgraphs]:
    """The users and the messaging subgraph, each its own process, on the test's storage."""
    logs = tmp_path_factory.mktemp("subgraph-logs")
    env = server_env(settings)
    users = start_server(env, logs / "users.log", "--subgraph", "users")
    try:
        messaging = start_server(env, logs / "messaging.log", "--subgraph", "messaging")
        try:
            yield Subgraphs(users, messaging)
        finally:
            stop_server(messaging)
    finally:
        stop_server(users)


@dataclass
class CareScene:
    patient: Person
    doctor: Person
    stranger: Person
    conversation_id: str
    message_id: str


@pytest.fixture(scope="module")
async def scene(api: Api) -> CareScene:
    """A patient talking with a doctor, and another patient with no part in it."""
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR, specialty="Dermatology")
    stranger = await make_person(api)
    started = await api.data(START_CONVERSATION, {"participantIds": [doctor.id]},
                             token=patient.token)
    conversation_id = started["startConversation"]["id"]
    sent = await api.data(SEND_MESSAGE, {"conversationId": conversation_id}, token=patient.token)
    return CareScene(patient, doctor, stranger, conversation_id, sent["sendMessage"]["id"])


async def post(server: LiveServer, query: str, variables: dict[str, Any] | None = None,
               *, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
    body: dict[str, Any] = response.json()
    return body


def representations(typename: str, *ids: str) -> dict[str, Any]:
    return {"representations": [{"__typename": typename, "id": i} for i in ids]}


@pytest.mark.parametrize("name", ["users", "messaging"])
async def test_a_subgraph_serves_its_committed_sdl(subgraphs: Subgraphs, name: str) -> None:
    # given one subgraph served alone
    server: LiveServer = getattr(subgraphs, name)

    # when a gateway asks for its SDL
    body = await post(server, SERVICE_SDL)

    # then it is the committed snapshot the gateway's supergraph is composed from
    assert "errors" not in body, body
    assert body["data"]["_service"]["sdl"] + "\n" == (SDL_DIR / f"{name}.graphql").read_text()


async def test_users_entities_return_a_user_the_caller_may_see(
    subgraphs: Subgraphs, scene: CareScene
) -> None:
    # given a doctor in a conversation with a patient
    # when a gateway fetches the patient entity on the doctor's behalf
    body = await post(subgraphs.users, USER_ENTITIES,
                      representations("User", scene.patient.id), token=scene.doctor.token)

    # then the users subgraph returns the patient
    assert "errors" not in body, body
    [user] = body["data"]["_entities"]
    assert user["id"] == scene.patient.id
    assert user["email"] == scene.patient.email
    assert user["role"] == "PATIENT"


async def test_users_entities_hide_a_patient_from_another_patient(
    subgraphs: Subgraphs, scene: CareScene
) -> None:
    # given two patients with no care relation
    # when one asks the users subgraph for the other as an entity
    body = await post(subgraphs.users, USER_ENTITIES,
                      representations("User", scene.patient.id), token=scene.stranger.token)

    # then the record reads as absent
    assert body["data"] == {"_entities": [None]}
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]


async def test_messaging_entities_return_a_participants_conversation(
    subgraphs: Subgraphs, scene: CareScene
) -> None:
    # given a doctor taking part in a conversation with one unread message from the patient
    # when a gateway fetches the conversation entity on the doctor's behalf
    body = await post(subgraphs.messaging, CONVERSATION_ENTITIES,
                      representations("Conversation", scene.conversation_id),
                      token=scene.doctor.token)

    # then the messaging subgraph returns it
    assert "errors" not in body, body
    assert body["data"]["_entities"] == [
        {"id": scene.conversation_id, "subject": "rash", "unreadCount": 1}
    ]


@pytest.mark.parametrize(
    ("query", "typename", "record"),
    [
        pytest.param(CONVERSATION_ENTITIES, "Conversation", "conversation_id", id="Conversation"),
        pytest.param(MESSAGE_ENTITIES, "Message", "message_id", id="Message"),
    ],
)
async def test_messaging_entities_hide_another_patients_records(
    subgraphs: Subgraphs, scene: CareScene, query: str, typename: str, record: str
) -> None:
    # given a conversation between a patient and a doctor
    # when another patient asks the messaging subgraph for it (or its message) as an entity,
    # the way a gateway would if a client smuggled the id into a representation
    body = await post(subgraphs.messaging, query,
                      representations(typename, getattr(scene, record)),
                      token=scene.stranger.token)

    # then it reads as NOT_FOUND and nothing of it comes back
    assert body["data"] == {"_entities": [None]}
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]
    assert "rash" not in str(body) and "It itches" not in str(body)


async def test_messaging_entities_refuse_an_anonymous_caller(
    subgraphs: Subgraphs, scene: CareScene
) -> None:
    # given a conversation
    # when a caller without a token asks for it as an entity
    body = await post(subgraphs.messaging, CONVERSATION_ENTITIES,
                      representations("Conversation", scene.conversation_id))

    # then nothing of it comes back
    assert body["data"] == {"_entities": [None]}
    assert [error["extensions"]["code"] for error in body["errors"]] == ["UNAUTHENTICATED"]
