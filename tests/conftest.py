"""Shared fixtures: real databases and brokers, the app in-process, and real servers.

Backends: ``embedded`` (SQLite file + in-process broker) always; ``production`` (PostgreSQL +
Redis) when CAREGRAPH_TEST_DATABASE_URL and CAREGRAPH_TEST_REDIS_URL are set. When they are
set and the services do not answer, the session fails at once instead of skipping.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from domain.principal import Role
from infra.container import Runtime, build_runtime
from infra.db.migrate import migrate
from infra.http.app import create_app
from infra.settings import Settings, to_async_url

TEST_DATABASE_URL = os.environ.get("CAREGRAPH_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("CAREGRAPH_TEST_REDIS_URL", "")
PASSWORD = "correct horse battery staple"
BIN = Path(sys.executable).parent


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = []
    if TEST_DATABASE_URL:
        url = make_url(TEST_DATABASE_URL)
        if not _reachable(url.host or "127.0.0.1", url.port or 5432):
            problems.append(f"PostgreSQL at {url.host}:{url.port} does not answer")
    if TEST_REDIS_URL:
        url = make_url(TEST_REDIS_URL)
        if not _reachable(url.host or "127.0.0.1", url.port or 6379):
            problems.append(f"Redis at {url.host}:{url.port} does not answer")
    if problems:
        pytest.exit("; ".join(problems), returncode=3)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- databases


async def create_postgres_database() -> str:
    """A fresh database on the test server, so runs never see each other's rows."""
    import asyncpg

    name = f"caregraph_test_{uuid.uuid4().hex[:12]}"
    admin = TEST_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return to_async_url(str(make_url(admin).set(database=name).render_as_string(False)))


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = make_url(url).database
    admin = TEST_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


BACKENDS = ["embedded", "production"]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "production" and not (TEST_DATABASE_URL and TEST_REDIS_URL):
        pytest.skip("set CAREGRAPH_TEST_DATABASE_URL and CAREGRAPH_TEST_REDIS_URL (.ci/run does)")
    return name


@pytest.fixture(scope="session")
async def settings(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    data_dir = tmp_path_factory.mktemp(f"data-{backend}")
    if backend == "embedded":
        yield Settings(data_dir=data_dir)
        return
    database_url = await create_postgres_database()
    try:
        yield Settings(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=TEST_REDIS_URL,
            redis_prefix=f"caregraph-test-{uuid.uuid4().hex[:8]}",
        )
    finally:
        await drop_postgres_database(database_url)


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    await migrate(runtime.engine)
    await runtime.broker.start()
    try:
        yield runtime
    finally:
        await runtime.close()


# ---- the app in-process


@dataclass
class GraphQLClient:
    """GraphQL over HTTP: an in-process app or a real server behind ``client``."""

    client: httpx.AsyncClient

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """The data of a query that must succeed."""
        body = await self.post(query, variables, token=token)
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]
        return result

    async def error_code(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> str:
        """The code of the first error of a query that must fail."""
        body = await self.post(query, variables, token=token)
        assert body.get("errors"), body
        code: str = body["errors"][0]["extensions"]["code"]
        return code


@dataclass
class Api(GraphQLClient):
    """A GraphQL client for the app, plus the runtime behind it for looking at storage."""

    runtime: Runtime


@dataclass
class Person:
    id: str
    email: str
    token: str
    refresh_token: str
    role: Role


@pytest.fixture(scope="session")
async def api(runtime: Runtime) -> AsyncIterator[Api]:
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://caregraph.test") as client:
        yield Api(client, runtime)


SIGN_IN = """
mutation($email: String!, $password: String!) {
  signIn(email: $email, password: $password) { accessToken refreshToken user { id } }
}"""


async def make_person(
    api: Api, role: Role = Role.PATIENT, *, specialty: str | None = None, name: str | None = None
) -> Person:
    """A new account of ``role`` (created through the domain, as an operator would), signed in
    through GraphQL."""
    email = f"{role.value.lower()}-{uuid.uuid4().hex[:10]}@example.org"
    await api.runtime.services.users.create_user(
        email=email,
        password=PASSWORD,
        display_name=name or f"{role.value.title()} {email[:12]}",
        role=role,
        specialty=specialty,
    )
    session = (await api.data(SIGN_IN, {"email": email, "password": PASSWORD}))["signIn"]
    return Person(
        session["user"]["id"], email, session["accessToken"], session["refreshToken"], role
    )


# ---- real servers


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREGRAPH_")}
    env.update(
        CAREGRAPH_DATA_DIR=str(settings.data_dir),
        CAREGRAPH_DATABASE_URL=settings.database_url,
        CAREGRAPH_REDIS_URL=settings.redis_url,
        CAREGRAPH_REDIS_PREFIX=settings.redis_prefix,
        **extra,
    )
    return env


def start_server(env: dict[str, str], log_path: Path, *args: str) -> LiveServer:
    """``caregraph serve`` on a free loopback port; returns once /readyz says ready."""
    port = free_port()
    env = {**env, "CAREGRAPH_HOST": "127.0.0.1", "CAREGRAPH_PORT": str(port)}
    subprocess.run([str(BIN / "caregraph"), "migrate"], env=env, check=True, capture_output=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(BIN / "caregraph"), "serve", *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return wait_until_ready(LiveServer(f"http://127.0.0.1:{port}", process, log_path))


def wait_until_ready(
    server: LiveServer, *, seconds: float = 30, what: str = "server"
) -> LiveServer:
    """Return once ``/readyz`` answers 200; stop the process and fail with its log otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{what} exited: {server.log()}")
        try:
            if httpx.get(server.url + "/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"{what} not ready in {seconds:.0f} s: {server.log()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The embedded profile, as ``make run`` serves it."""
    data_dir = tmp_path_factory.mktemp("live")
    server = start_server(server_env(Settings(data_dir=data_dir)), data_dir / "server.log")
    try:
        yield server
    finally:
        stop_server(server)
