"""Two ``caregraph serve`` processes sharing one PostgreSQL database and one Redis: a message
sent through either reaches subscribers connected to the other, live, through Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from domain.messaging import events
from infra.settings import Settings
from tests.conftest import (
    BIN,
    PASSWORD,
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
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

pytestmark = pytest.mark.skipif(
    not (TEST_DATABASE_URL and TEST_REDIS_URL),
    reason="needs the production profile: set CAREGRAPH_TEST_DATABASE_URL and "
    "CAREGRAPH_TEST_REDIS_URL (CI does)",
)


@dataclass
class Cluster:
    a: LiveServer
    b: LiveServer
    env: dict[str, str]
    prefix: str


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """Processes A and B: one database, one Redis prefix, one data directory (so one token
    secret: a session from either is good on both)."""
    database_url = await create_postgres_database()
    data_dir = tmp_path_factory.mktemp("two-processes")
    prefix = f"caregraph-two-{uuid.uuid4().hex[:8]}"
    env = server_env(
        Settings(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=TEST_REDIS_URL,
            redis_prefix=prefix,
        )
    )
    started: list[LiveServer] = []
    try:
        for name in ("a", "b"):
            started.append(await asyncio.to_thread(start_server, env, data_dir / f"{name}.log"))
        yield Cluster(started[0], started[1], env, prefix)
    finally:
        for server in started:
            await asyncio.to_thread(stop_server, server)
        await drop_postgres_database(database_url)


async def graphql(
    server: LiveServer, query: str, variables: dict[str, Any], *, token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http:
        body: dict[str, Any] = (
            await http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
        ).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def create_doctor(cluster: Cluster) -> tuple[str, str]:
    """(id, token) of a doctor made with ``caregraph users create``, signed in through B."""
    email = f"doctor-{uuid.uuid4().hex[:10]}@example.org"
    done = await asyncio.wait_for(
        asyncio.to_thread(
            subprocess.run,
            [
                str(BIN / "caregraph"),
                "users",
                "create",
                "--email",
                email,
                "--role",
                "DOCTOR",
                "--display-name",
                "Dr Two",
            ],
            input=f"{PASSWORD}\n".encode(),
            env=cluster.env,
            capture_output=True,
            timeout=WAIT,
        ),
        WAIT,
    )
    assert done.returncode == 0, done.stderr.decode()
    session = (await graphql(cluster.b, SIGN_IN, {"email": email, "password": PASSWORD}))["signIn"]
    return session["user"]["id"], session["accessToken"]


async def receive(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    return frame


async def subscribe(
    server: LiveServer, token: str, conversation_id: str, after: str | None
) -> ClientConnection:
    ws = await websockets.connect(
        server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=WAIT
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    assert (await receive(ws))["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": MESSAGE_ADDED,
                    "variables": {"c": conversation_id, "after": after},
                },
            }
        )
    )
    return ws


async def next_body(ws: ClientConnection) -> str:
    frame = await receive(ws)
    assert frame["type"] == "next" and "errors" not in frame["payload"], frame
    return str(frame["payload"]["data"]["messageAdded"]["body"])


async def test_a_message_sent_through_one_process_reaches_subscribers_of_the_other(
    cluster: Cluster,
) -> None:
    # given a patient signed up through A, a doctor, and a conversation started through A
    patient = (
        await graphql(
            cluster.a,
            SIGN_UP,
            {
                "input": {
                    "email": f"patient-{uuid.uuid4().hex[:10]}@example.org",
                    "password": PASSWORD,
                    "displayName": "Pat Two",
                }
            },
        )
    )["signUp"]
    patient_token = patient["accessToken"]
    doctor_id, doctor_token = await create_doctor(cluster)
    cid = (await graphql(cluster.a, START_CONVERSATION, {"p": [doctor_id]}, token=patient_token))[
        "startConversation"
    ]["id"]
    first = (
        await graphql(cluster.b, SEND_MESSAGE, {"c": cid, "body": "stored 1"}, token=doctor_token)
    )["sendMessage"]
    await graphql(cluster.b, SEND_MESSAGE, {"c": cid, "body": "stored 2"}, token=doctor_token)

    # when the patient subscribes on A after the first message, and the doctor on B from there
    on_a = await subscribe(cluster.a, patient_token, cid, first["cursor"])
    on_b = await subscribe(cluster.b, doctor_token, cid, first["cursor"])
    try:
        replayed = [await next_body(on_a), await next_body(on_b)]
        # and each side sends through the process the other one is connected to
        await graphql(cluster.b, SEND_MESSAGE, {"c": cid, "body": "via B"}, token=doctor_token)
        via_b = [await next_body(on_a), await next_body(on_b)]
        await graphql(cluster.a, SEND_MESSAGE, {"c": cid, "body": "via A"}, token=patient_token)
        via_a = [await next_body(on_a), await next_body(on_b)]
    finally:
        await on_a.close()
        await on_b.close()

    # then both replayed from the shared database, and both got each live message once
    assert replayed == ["stored 2", "stored 2"]
    assert via_b == ["via B", "via B"]
    assert via_a == ["via A", "via A"]
    # and with their subscribers gone, neither process keeps the conversation's channel
    channel = f"{cluster.prefix}:{events.topic(cid)}"
    redis = Redis.from_url(TEST_REDIS_URL)
    try:
        await asyncio.wait_for(until_unsubscribed(redis, channel), WAIT)
    finally:
        await redis.aclose()


async def until_unsubscribed(redis: Redis, channel: str) -> None:
    while True:
        if await redis.pubsub_numsub(channel) == [(channel.encode(), 0)]:
            return
        await asyncio.sleep(0.02)
