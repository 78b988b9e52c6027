"""``messageAdded`` over real WebSockets against a real ``caregraph serve``.

Both transport protocols (graphql-transport-ws and the legacy graphql-ws), replay after a
cursor followed by live messages, exactly once and in order while senders race the replay,
and who may subscribe at all. Each profile gets its own server: the embedded one (SQLite and
the in-process broker) and, where CI sets the URLs, PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from infra.settings import Settings
from tests.conftest import (
    BIN,
    PASSWORD,
    GraphQLClient,
    LiveServer,
    create_postgres_database,
    drop_postgres_database,
    server_env,
    start_server,
    stop_server,
)
from tests.live_operations import (
    MESSAGE_ADDED,
    SEND_MESSAGE,
    SIGN_IN,
    SIGN_UP,
    START_CONVERSATION,
    WAIT,
)

MESSAGES = """
query($c: ID!, $after: String) {
  conversation(id: $c) {
    messages(first: 100, after: $after) { edges { cursor node { body } } pageInfo { hasNextPage } }
  }
}"""


# ---- the server and its users


@dataclass
class Server(GraphQLClient):
    live: LiveServer
    env: dict[str, str]


@dataclass(frozen=True)
class User:
    id: str
    token: str


@dataclass(frozen=True)
class Served:
    live: LiveServer
    env: dict[str, str]


@pytest.fixture(scope="module")
async def served(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Served]:
    """``caregraph serve`` for the backend under test, with a data directory and (PostgreSQL)
    a database of its own: model versions other tests made ACTIVE in the shared database have
    their files in another data directory, and this server would never warm them up."""
    data_dir = tmp_path_factory.mktemp("subscriptions")
    own = replace(settings, data_dir=data_dir, redis_prefix=f"caregraph-ws-{uuid.uuid4().hex[:8]}")
    if settings.database_url:
        own = replace(own, database_url=await create_postgres_database())
    env = server_env(own)
    try:
        server = start_server(env, data_dir / "server.log")
        try:
            yield Served(server, env)
        finally:
            stop_server(server)
    finally:
        if settings.database_url:
            await drop_postgres_database(own.database_url)


@pytest.fixture(scope="module")
async def server(served: Served) -> AsyncIterator[Server]:
    async with httpx.AsyncClient(base_url=served.live.url, timeout=WAIT) as http:
        yield Server(client=http, live=served.live, env=served.env)


async def sign_up(server: Server) -> User:
    email = f"patient-{uuid.uuid4().hex[:10]}@example.org"
    session = (
        await server.data(
            SIGN_UP, {"input": {"email": email, "password": PASSWORD, "displayName": "Pat Ient"}}
        )
    )["signUp"]
    return User(session["user"]["id"], session["accessToken"])


async def create_doctor(server: Server) -> User:
    """A doctor the way an operator makes one: ``caregraph users create``, then sign in."""
    email = f"doctor-{uuid.uuid4().hex[:10]}@example.org"
    command = [
        str(BIN / "caregraph"),
        "users",
        "create",
        "--email",
        email,
        "--role",
        "DOCTOR",
        "--display-name",
        "Dr Who",
        "--specialty",
        "Dermatology",
    ]
    done = await asyncio.wait_for(
        asyncio.to_thread(
            subprocess.run,
            command,
            input=f"{PASSWORD}\n".encode(),
            env=server.env,
            capture_output=True,
            timeout=WAIT,
        ),
        WAIT,
    )
    assert done.returncode == 0, done.stderr.decode()
    session = (await server.data(SIGN_IN, {"email": email, "password": PASSWORD}))["signIn"]
    return User(session["user"]["id"], session["accessToken"])


@dataclass(frozen=True)
class Conversation:
    id: str
    patient: User
    doctor: User


@pytest.fixture(scope="module")
async def doctor(server: Server) -> User:
    return await create_doctor(server)


@pytest.fixture
async def conversation(server: Server, doctor: User) -> Conversation:
    """A new patient's conversation with the module's doctor."""
    patient = await sign_up(server)
    started = await server.data(START_CONVERSATION, {"p": [doctor.id]}, token=patient.token)
    return Conversation(started["startConversation"]["id"], patient, doctor)


async def send(
    server: Server, conversation: Conversation, body: str, *, by: User | None = None
) -> dict[str, str]:
    sender = by or conversation.doctor
    sent = await server.data(SEND_MESSAGE, {"c": conversation.id, "body": body}, token=sender.token)
    message: dict[str, str] = sent["sendMessage"]
    return message


async def send_many(server: Server, conversation: Conversation, bodies: list[str]) -> None:
    """Many messages in few requests: aliased mutations run one after the other, in order."""
    for start in range(0, len(bodies), 25):
        chunk = bodies[start : start + 25]
        fields = " ".join(
            f'm{i}: sendMessage(conversationId: $c, body: "{body}") {{ cursor }}'
            for i, body in enumerate(chunk)
        )
        await server.data(
            f"mutation($c: ID!) {{ {fields} }}",
            {"c": conversation.id},
            token=conversation.doctor.token,
        )


async def stored(server: Server, conversation: Conversation) -> list[tuple[str, str]]:
    """Every message of the conversation as storage has it: (cursor, body), oldest first."""
    found: list[tuple[str, str]] = []
    after: str | None = None
    while True:
        node = (
            await server.data(
                MESSAGES, {"c": conversation.id, "after": after}, token=conversation.patient.token
            )
        )["conversation"]
        edges = node["messages"]["edges"]
        found += [(e["cursor"], e["node"]["body"]) for e in edges]
        if not node["messages"]["pageInfo"]["hasNextPage"]:
            return found
        after = edges[-1]["cursor"]


# ---- WebSocket clients, one per protocol


@asynccontextmanager
async def transport_ws(server: Server, payload: dict[str, Any]) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection, opened with ``connection_init`` carrying ``payload``."""
    async with websockets.connect(
        server.live.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=WAIT
    ) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        yield ws


@asynccontextmanager
async def authenticated(server: Server, user: User | None) -> AsyncIterator[ClientConnection]:
    payload = {"authorization": f"Bearer {user.token}"} if user else {}
    async with transport_ws(server, payload) as ws:
        assert (await receive(ws))["type"] == "connection_ack"
        yield ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    return frame


async def subscribe(
    ws: ClientConnection, conversation: Conversation, after: str | None = None, *, op: str = "1"
) -> None:
    await ws.send(
        json.dumps(
            {
                "id": op,
                "type": "subscribe",
                "payload": {
                    "query": MESSAGE_ADDED,
                    "variables": {"c": conversation.id, "after": after},
                },
            }
        )
    )


async def next_messages(ws: ClientConnection, count: int, *, op: str = "1") -> list[dict[str, str]]:
    """The next ``count`` frames, each of which must be a ``next`` with a message."""
    messages = []
    for _ in range(count):
        frame = await receive(ws)
        assert frame["type"] == "next" and frame["id"] == op, frame
        assert "errors" not in frame["payload"], frame
        messages.append(frame["payload"]["data"]["messageAdded"])
    return messages


# ---- graphql-transport-ws


async def test_replay_after_a_cursor_then_live_messages_in_order(
    server: Server, conversation: Conversation
) -> None:
    # given five messages, and a client that has seen the first two
    sent = [await send(server, conversation, f"message {n}") for n in range(1, 6)]

    async with authenticated(server, conversation.patient) as ws:
        # when it subscribes after the second one's cursor
        await subscribe(ws, conversation, after=sent[1]["cursor"])
        replayed = await next_messages(ws, 3)
        # and the conversation goes on from both sides
        sent.append(await send(server, conversation, "message 6"))
        sent.append(await send(server, conversation, "message 7", by=conversation.patient))
        live = await next_messages(ws, 2)

    # then it gets 3, 4, 5 from storage and 6, 7 live: each once, in order, nothing between
    assert [(m["cursor"], m["body"]) for m in replayed + live] == [
        (m["cursor"], m["body"]) for m in sent[2:]
    ]


async def test_messages_sent_during_the_replay_arrive_once_each_in_order(
    server: Server, conversation: Conversation
) -> None:
    # given 200 stored messages, and a client that has seen the first one
    await send_many(server, conversation, [f"stored {n:03}" for n in range(200)])
    first_cursor = (await stored(server, conversation))[0][0]
    racing = [f"racing {n:02}" for n in range(50)]

    async with authenticated(server, conversation.patient) as ws:
        # when it subscribes while 50 senders race the replay, from both sides of the conversation
        await subscribe(ws, conversation, after=first_cursor)
        sending = asyncio.gather(
            *(
                send(
                    server,
                    conversation,
                    body,
                    by=conversation.patient if n % 2 else conversation.doctor,
                )
                for n, body in enumerate(racing)
            )
        )
        received, _ = await asyncio.gather(next_messages(ws, 199 + 50), sending)
        # and one more message once all of them are stored
        last = await send(server, conversation, "after the race")
        [after_race] = await next_messages(ws, 1)

    # then it received exactly what storage holds after its cursor, in storage's order
    everything = await stored(server, conversation)
    assert [(m["cursor"], m["body"]) for m in received] == everything[1:-1]
    assert len({m["id"] for m in received}) == len(received) == 249
    assert sorted(m["body"] for m in received if m["body"].startswith("racing")) == racing
    # and nothing was delivered twice after the race either: the next frame is the next message
    assert (after_race["cursor"], after_race["body"]) == (last["cursor"], last["body"])


async def test_subscribing_without_a_cursor_gets_only_new_messages(
    server: Server, conversation: Conversation
) -> None:
    # given a conversation with history
    await send(server, conversation, "old news")

    async with authenticated(server, conversation.doctor) as ws:
        # when a participant subscribes without a cursor, then a message is sent
        await subscribe(ws, conversation)
        # a ping answered means the subscribe frame before it was read and its task started
        await ws.send(json.dumps({"type": "ping"}))
        assert (await receive(ws))["type"] == "pong"
        sent = await send_until_received(server, conversation, ws)

    # then what it receives starts after the history
    assert sent != "old news"


async def send_until_received(
    server: Server, conversation: Conversation, ws: ClientConnection
) -> str:
    """Send numbered messages until the first one arrives; a subscription without a cursor
    starts "from now on", and "now" is when the server has opened its feed, which the client
    cannot observe. Returns the body received, after checking the rest arrive in order."""
    bodies = []
    for n in range(20):
        bodies.append(f"new {n}")
        await send(server, conversation, bodies[-1])
        await ws.send(json.dumps({"type": "ping"}))
        frame = await receive(ws)
        if frame["type"] == "pong":
            continue
        assert frame["type"] == "next", frame
        first = str(frame["payload"]["data"]["messageAdded"]["body"])
        following = bodies[bodies.index(first) + 1 :]
        assert [m["body"] for m in await next_messages(ws, len(following))] == following
        return first
    raise AssertionError("no live message arrived")


# ---- the legacy graphql-ws protocol


async def test_legacy_graphql_ws_protocol_replays_then_streams(
    server: Server, conversation: Conversation
) -> None:
    # given three messages
    sent = [await send(server, conversation, f"legacy {n}") for n in range(1, 4)]

    async with websockets.connect(
        server.live.ws_url, subprotocols=[Subprotocol("graphql-ws")], open_timeout=WAIT
    ) as ws:
        assert ws.subprotocol == "graphql-ws"
        # when a client speaks graphql-ws: connection_init, then start after the first cursor
        await ws.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"authorization": f"Bearer {conversation.patient.token}"},
                }
            )
        )
        assert (await receive(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "legacy",
                    "type": "start",
                    "payload": {
                        "query": MESSAGE_ADDED,
                        "variables": {"c": conversation.id, "after": sent[0]["cursor"]},
                    },
                }
            )
        )
        frames = [await receive(ws) for _ in range(2)]
        sent.append(await send(server, conversation, "legacy 4"))
        frames.append(await receive(ws))
        # and stops
        await ws.send(json.dumps({"id": "legacy", "type": "stop"}))
        complete = await receive(ws)

    # then it gets data frames for 2 and 3 from storage, then 4 live, then complete
    assert [(f["type"], f["id"]) for f in frames] == [("data", "legacy")] * 3
    assert [f["payload"]["data"]["messageAdded"]["cursor"] for f in frames] == [
        m["cursor"] for m in sent[1:]
    ]
    assert complete == {"type": "complete", "id": "legacy"}


async def test_legacy_graphql_ws_rejects_a_bad_token_with_connection_error(
    server: Server,
) -> None:
    async with websockets.connect(
        server.live.ws_url, subprotocols=[Subprotocol("graphql-ws")], open_timeout=WAIT
    ) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"authorization": "Bearer not-a-token"}}
            )
        )
        error = await receive(ws)
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)

    assert error["type"] == "connection_error"
    assert error["payload"]["extensions"]["code"] == "UNAUTHENTICATED"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


# ---- who may subscribe


async def test_a_patient_outside_the_conversation_gets_not_found_and_nothing_else(
    server: Server, conversation: Conversation
) -> None:
    # given a patient who takes no part in the conversation
    outsider = await sign_up(server)

    async with authenticated(server, outsider) as ws:
        # when they subscribe to it, from its beginning
        await subscribe(ws, conversation, after=None)
        refused, completed = await receive(ws), await receive(ws)
        # and its participants go on talking
        await send(server, conversation, "private")
        await ws.send(json.dumps({"type": "ping"}))
        after = await receive(ws)

    # then the subscription fails as NOT_FOUND: an execution error in a `next` frame (the
    # stream raised before its first event), then `complete`; the answer to the ping is next
    assert refused == {
        "id": "1",
        "type": "next",
        "payload": {
            "data": None,
            "errors": [{"message": "Conversation not found", "extensions": {"code": "NOT_FOUND"}}],
        },
    }
    assert completed == {"id": "1", "type": "complete"}
    assert after == {"type": "pong"}


async def test_an_invalid_token_in_connection_init_closes_the_socket_with_4403(
    server: Server,
) -> None:
    # Strawberry answers a ConnectionRejectionError raised by on_ws_connect with 4403 Forbidden.
    for authorization in ("Bearer not-a-token", "Basic dXNlcjpwYXNz"):
        async with transport_ws(server, {"authorization": authorization}) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "Forbidden")


async def test_subscribing_without_a_token_is_unauthenticated(
    server: Server, conversation: Conversation
) -> None:
    # given a connection acknowledged without credentials
    async with authenticated(server, None) as ws:
        # when it subscribes to a conversation
        await subscribe(ws, conversation)
        refused, completed = await receive(ws), await receive(ws)

    # then the operation fails as UNAUTHENTICATED and ends
    assert refused == {
        "id": "1",
        "type": "next",
        "payload": {
            "data": None,
            "errors": [{"message": "Sign in first", "extensions": {"code": "UNAUTHENTICATED"}}],
        },
    }
    assert completed == {"id": "1", "type": "complete"}
