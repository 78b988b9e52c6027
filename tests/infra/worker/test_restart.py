"""A diagnosis survives the death of the server running it: SIGKILL mid-job, restart, and the
job completes once. Real ``caregraph serve`` processes, real WebSockets, the demo models.

The job is held mid-flight by ``CAREGRAPH_TEST_DIAGNOSIS_HOLD_SECONDS``, a test-only setting
that makes the worker wait after it claims a job; the restarted server runs without it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from infra.db.engine import create_engine
from infra.db.tables import diagnoses, inference_records
from infra.settings import Settings
from tests.conftest import (
    BIN,
    PASSWORD,
    LiveServer,
    create_postgres_database,
    drop_postgres_database,
    server_env,
    start_server,
    stop_server,
)
from tests.schema.imaging_support import png, post_upload

WAIT = 60.0

SIGN_UP = """
mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }"""

FOLLOW = """
subscription($study: ID!) {
  diagnosisUpdated(studyId: $study) { id status label error probabilities { label } }
}"""


@asynccontextmanager
async def following(
    server: LiveServer, token: str, study_id: str
) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(
        server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=WAIT
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": FOLLOW, "variables": {"study": study_id}},
                }
            )
        )
        yield ws


async def next_update(ws: ClientConnection) -> dict[str, Any]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert frame["type"] == "next", frame
    assert "errors" not in frame["payload"], frame
    update: dict[str, Any] = frame["payload"]["data"]["diagnosisUpdated"]
    return update


async def updates_until(ws: ClientConnection, status: str) -> list[str]:
    seen = []
    while not seen or seen[-1] != status:
        seen.append((await next_update(ws))["status"])
    return seen


def kill(server: LiveServer) -> None:
    server.process.kill()  # SIGKILL: no lifespan shutdown, no lease handed back
    server.process.wait(timeout=WAIT)


async def test_a_job_killed_mid_flight_completes_once_after_restart(
    settings: Settings, tmp_path: Path
) -> None:
    # given a server whose worker holds every job it claims, and the demo models registered
    # (in a database of its own: the models' files live in its own data directory)
    database_url = await create_postgres_database() if settings.database_url else ""
    own = replace(
        settings,
        data_dir=tmp_path,
        database_url=database_url,
        redis_prefix=f"cg-restart-{uuid.uuid4().hex[:8]}",
    )
    env = server_env(
        own,
        CAREGRAPH_DIAGNOSIS_LEASE_SECONDS="2",
        CAREGRAPH_DIAGNOSIS_POLL_SECONDS="0.2",
        CAREGRAPH_LOG_LEVEL="WARNING",
    )
    for command in ("migrate", "demo"):
        done = await asyncio.to_thread(
            subprocess.run,
            [str(BIN / "caregraph"), command],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()
    first = start_server(
        {**env, "CAREGRAPH_TEST_DIAGNOSIS_HOLD_SECONDS": "600"}, tmp_path / "first.log"
    )
    second: LiveServer | None = None
    engine = create_engine(own.effective_database_url)
    try:
        async with httpx.AsyncClient(base_url=first.url, timeout=WAIT) as http:
            email = f"patient-{uuid.uuid4().hex[:10]}@example.org"
            session = (
                await http.post(
                    "/graphql",
                    json={
                        "query": SIGN_UP,
                        "variables": {
                            "input": {"email": email, "password": PASSWORD, "displayName": "Pat"}
                        },
                    },
                )
            ).json()["data"]["signUp"]
            token = session["accessToken"]
            # when a patient uploads a study and follows its diagnosis
            uploaded = (await post_upload(http, token, png())).json()
            assert "errors" not in uploaded, uploaded
            study_id = uploaded["data"]["uploadStudy"]["id"]
            async with following(first, token, study_id) as ws:
                seen = await updates_until(ws, "RUNNING")
                # then it sees the job queued (or already claimed), then running
                assert seen in (["QUEUED", "RUNNING"], ["RUNNING"])
            # and the server dies in the middle of the job
            kill(first)

        async with engine.connect() as conn:
            row = (
                await conn.execute(select(diagnoses).where(diagnoses.c.study_id == study_id))
            ).one()
        assert (row.status, row.attempts) == ("RUNNING", 1)
        diagnosis_id = row.id

        # when a server starts again on the same database, without the hold
        second = start_server(env, tmp_path / "second.log")
        async with following(second, token, study_id) as ws:
            seen = await updates_until(ws, "COMPLETED")
            # then the follower sees it complete (the new worker may have finished it before
            # the follower came: then the current state, COMPLETED, is the first update)
            assert seen[-1] == "COMPLETED" and set(seen) <= {"RUNNING", "COMPLETED"}

        # and it completed exactly once: one COMPLETED diagnosis, one COMPLETED inference
        async with engine.connect() as conn:
            row = (
                await conn.execute(select(diagnoses).where(diagnoses.c.id == diagnosis_id))
            ).one()
            records = (
                await conn.execute(
                    select(inference_records.c.outcome, func.count())
                    .where(inference_records.c.diagnosis_id == diagnosis_id)
                    .group_by(inference_records.c.outcome)
                )
            ).all()
        assert (row.status, row.attempts, row.lease_token) == ("COMPLETED", 2, None)
        assert row.label is not None and len(row.probabilities) >= 2
        assert dict(records) == {"COMPLETED": 1}
    finally:
        if first.process.poll() is None:
            stop_server(first)
        if second is not None:
            stop_server(second)
        await engine.dispose()
        if database_url:
            await drop_postgres_database(database_url)
