"""CareGraph deployed two ways on one kind of storage (PostgreSQL + Redis), for the tests:
the five subgraphs as separate ``caregraph serve --subgraph NAME`` processes behind Hive
Gateway (``infra/deploy/gateway.mjs``), or the whole graph in one ``caregraph serve``.

Each deployment gets a fresh database, a fresh data directory (JWT secret, model files, image
store: every process of a deployment shares it, as replicas share a volume), its own Redis key
prefix, the demo models, a doctor and an analyst created with ``caregraph users create``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from infra.settings import Settings
from schema.subgraphs import SUBGRAPHS
from tests.conftest import (
    BIN,
    PASSWORD,
    TEST_REDIS_URL,
    LiveServer,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    server_env,
    start_server,
    stop_server,
    wait_until_ready,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
GATEWAY_SCRIPT = REPO_ROOT / "infra" / "deploy" / "gateway.mjs"
DOCTOR_EMAIL = "doctor@example.org"
ANALYST_EMAIL = "analyst@example.org"
# Every start is bounded: a process that never gets ready fails the test instead of hanging it.
START_SECONDS = 30.0
# Video call tickets are signed for a LiveKit server; nothing connects to it here.
LIVEKIT = {
    "CAREGRAPH_LIVEKIT_PUBLIC_URL": "wss://livekit.caregraph.invalid",
    "CAREGRAPH_LIVEKIT_API_KEY": "caregraph-test-key",
    "CAREGRAPH_LIVEKIT_API_SECRET": "caregraph-test-secret-of-at-least-32-characters",
}


@dataclass
class Deployment:
    """Where clients talk to it: ``url`` + /graphql over HTTP, ``ws_url`` over WebSocket."""

    url: str
    env: dict[str, str]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"


def caregraph(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(BIN / "caregraph"), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"caregraph {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@asynccontextmanager
async def storage(data_dir: Path) -> AsyncIterator[dict[str, str]]:
    """A fresh database with the demo models, a doctor and an analyst; the env to serve it."""
    database_url = await create_postgres_database()
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=TEST_REDIS_URL,
        redis_prefix=f"caregraph-test-{uuid.uuid4().hex[:8]}",
    )
    env = server_env(settings, **LIVEKIT)
    try:
        caregraph(env, "migrate")
        caregraph(env, "demo")
        for email, role, name in (
            (DOCTOR_EMAIL, "DOCTOR", "Dr Dana Derm"),
            (ANALYST_EMAIL, "ANALYST", "Ana Lyst"),
        ):
            args = ["users", "create", "--email", email, "--role", role, "--display-name", name]
            if role == "DOCTOR":
                args += ["--specialty", "Dermatology"]
            caregraph(env, *args, stdin=PASSWORD + "\n")
        yield env
    finally:
        await drop_postgres_database(database_url)


def one_process(stack: ExitStack, env: dict[str, str], logs: Path) -> Deployment:
    server = start_server(env, logs / "caregraph.log")
    stack.callback(stop_server, server)
    return Deployment(server.url, env)


def behind_gateway(stack: ExitStack, env: dict[str, str], logs: Path) -> Deployment:
    """The five subgraphs, each its own process, and Hive Gateway on the committed supergraph,
    told where each subgraph answers (CAREGRAPH_<NAME>_URL) instead of its compose host."""
    urls = {}
    for spec in SUBGRAPHS:
        server = start_server(env, logs / f"{spec.name}.log", "--subgraph", spec.name)
        stack.callback(stop_server, server)
        urls[f"CAREGRAPH_{spec.name.upper()}_URL"] = f"{server.url}/graphql"
    gateway = start_gateway({**env, **urls}, logs / "gateway.log")
    stack.callback(stop_server, gateway)
    return Deployment(gateway.url, env)


def start_gateway(env: dict[str, str], log_path: Path) -> LiveServer:
    node = shutil.which("node")
    assert node, "node is not on PATH: install Node.js 20+ and run `npm ci`"
    port = free_port()
    env = {
        **env,
        "CAREGRAPH_GATEWAY_HOST": "127.0.0.1",
        "CAREGRAPH_GATEWAY_PORT": str(port),
        "NODE_ENV": "production",
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [node, str(GATEWAY_SCRIPT)],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    gateway = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
    return wait_until_ready(gateway, seconds=START_SECONDS, what="gateway")


def environment_ready() -> str:
    """Why the deployments cannot run here, or "" when they can."""
    if not (os.environ.get("CAREGRAPH_TEST_DATABASE_URL") and TEST_REDIS_URL):
        return "set CAREGRAPH_TEST_DATABASE_URL and CAREGRAPH_TEST_REDIS_URL (.ci/run does)"
    return ""
