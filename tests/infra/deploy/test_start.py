"""``infra/deploy/start.sh``, the container's entrypoint, run here as the image runs it: it
migrates (unless told not to) and serves the subgraph that CAREGRAPH_SUBGRAPH names, or the
whole graph, configured by environment only."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from schema.snapshots import SDL_DIR
from tests.conftest import BIN, LiveServer, free_port, stop_server

REPO_ROOT = Path(__file__).resolve().parents[3]
START = REPO_ROOT / "infra" / "deploy" / "start.sh"
HEALTHCHECK = REPO_ROOT / "infra" / "deploy" / "healthcheck.py"
SERVICE_SDL = "{ _service { sdl } }"
START_SECONDS = 30.0


def image_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """What the Dockerfile sets, with the venv's ``caregraph`` on PATH as in the image."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREGRAPH_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        CAREGRAPH_HOST="127.0.0.1",
        CAREGRAPH_PORT=str(free_port()),
        CAREGRAPH_DATA_DIR=str(data_dir),
        **settings,
    )
    return env


@contextmanager
def started(env: dict[str, str], log_path: Path) -> Iterator[LiveServer]:
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            ["sh", str(START)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = LiveServer(f"http://127.0.0.1:{env['CAREGRAPH_PORT']}", process, log_path)
    try:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert process.poll() is None, f"start.sh exited: {server.log()}"
            try:
                if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail(f"no /healthz in {START_SECONDS:.0f} s: {server.log()}")
        yield server
    finally:
        stop_server(server)


def healthcheck(env: dict[str, str]) -> int:
    done = subprocess.run([str(BIN / "python"), str(HEALTHCHECK)], env=env, timeout=30, check=False)
    return done.returncode


@pytest.mark.parametrize("name", ["registry", "users"])
def test_start_sh_migrates_and_serves_the_subgraph_the_environment_names(
    tmp_path: Path, name: str
) -> None:
    # given a fresh data directory and CAREGRAPH_SUBGRAPH set, as a container of the image
    env = image_env(tmp_path, CAREGRAPH_SUBGRAPH=name)

    # when the entrypoint starts
    with started(env, tmp_path / "start.log") as server:
        sdl = httpx.post(server.url + "/graphql", json={"query": SERVICE_SDL}, timeout=10).json()
        ready = httpx.get(server.url + "/readyz", timeout=10)
        healthy = healthcheck(env)
        log = server.log()

    # then it migrated the database, serves that subgraph's committed SDL, is ready,
    # and the image's HEALTHCHECK passes
    assert "database is at the latest migration" in log
    assert sdl["data"]["_service"]["sdl"] + "\n" == (SDL_DIR / f"{name}.graphql").read_text()
    assert ready.status_code == 200, ready.text
    assert healthy == 0


def test_start_sh_serves_the_whole_graph_when_no_subgraph_is_named(tmp_path: Path) -> None:
    # given no CAREGRAPH_SUBGRAPH
    env = image_env(tmp_path, CAREGRAPH_SUBGRAPH="")

    # when the entrypoint starts
    with started(env, tmp_path / "start.log") as server:
        body = httpx.post(
            server.url + "/graphql",
            timeout=10,
            json={
                "query": "{ __schema { queryType { fields { name } } } }",
            },
        ).json()

    # then one process answers root fields of every subgraph
    fields = {field["name"] for field in body["data"]["__schema"]["queryType"]["fields"]}
    assert {"me", "study", "availableSlots", "models", "conversation"} <= fields


def test_start_sh_leaves_migrations_to_someone_else_when_told(tmp_path: Path) -> None:
    # given CAREGRAPH_MIGRATE=0 on a fresh data directory (a job migrates a shared database)
    env = image_env(tmp_path, CAREGRAPH_SUBGRAPH="users", CAREGRAPH_MIGRATE="0")

    # when the entrypoint starts
    with started(env, tmp_path / "start.log") as server:
        log = server.log()

    # then it serves without migrating: the database has no tables
    assert "database is at the latest migration" not in log
    with closing(sqlite3.connect(tmp_path / "caregraph.db")) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == []


def test_the_healthcheck_fails_when_nothing_answers(tmp_path: Path) -> None:
    # given no server on the configured port
    env = image_env(tmp_path)

    # when the image's HEALTHCHECK runs, then it reports unhealthy
    assert healthcheck(env) == 1
