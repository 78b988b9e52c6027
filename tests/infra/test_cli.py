"""The ``caregraph`` command as an operator runs it: a real process on a fresh SQLite file."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from infra.container import build_runtime
from infra.db.tables import users
from infra.http.app import create_app
from infra.settings import Settings
from tests.conftest import BIN, Api

SIGN_IN = """
mutation($email: String!, $password: String!) {
  signIn(email: $email, password: $password) { user { email role displayName } }
}"""

ADMIN_PASSWORD = "an admin password of some length"
CREDENTIAL = re.compile(r"^\s+(ADMIN|DOCTOR|PATIENT)\s+(\S+@\S+)\s+(\S+)\s*$", re.MULTILINE)


def caregraph(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREGRAPH_")}
    env["CAREGRAPH_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [str(BIN / "caregraph"), *args], env=env, input=stdin, capture_output=True, text=True,
        timeout=120, check=False,
    )


def migrated(data_dir: Path) -> Path:
    result = caregraph(data_dir, "migrate")
    assert result.returncode == 0, result.stderr
    return data_dir


@asynccontextmanager
async def app_on(data_dir: Path) -> AsyncIterator[Api]:
    runtime = build_runtime(Settings(data_dir=data_dir))
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://caregraph.test") as c:
            yield Api(c, runtime)
    finally:
        await runtime.close()


async def sign_in(data_dir: Path, email: str, password: str) -> dict[str, Any]:
    async with app_on(data_dir) as api:
        return await api.post(SIGN_IN, {"email": email, "password": password})


def test_users_create_makes_an_admin_who_can_sign_in(tmp_path: Path) -> None:
    data_dir = migrated(tmp_path)

    result = caregraph(
        data_dir, "users", "create", "--email", "Root@Example.org", "--role", "ADMIN",
        "--display-name", "Root Admin", stdin=ADMIN_PASSWORD + "\n",
    )

    assert result.returncode == 0, result.stderr
    assert "created ADMIN root@example.org" in result.stdout
    assert ADMIN_PASSWORD not in result.stdout + result.stderr


async def test_the_created_admin_signs_in(tmp_path: Path) -> None:
    data_dir = migrated(tmp_path)
    caregraph(data_dir, "users", "create", "--email", "root@example.org", "--role", "ADMIN",
              "--display-name", "Root Admin", stdin=ADMIN_PASSWORD + "\n")

    body = await sign_in(data_dir, "root@example.org", ADMIN_PASSWORD)

    assert body["data"]["signIn"]["user"] == {
        "email": "root@example.org", "role": "ADMIN", "displayName": "Root Admin"
    }


async def test_users_create_refuses_a_short_password_clearly(tmp_path: Path) -> None:
    data_dir = migrated(tmp_path)

    result = caregraph(data_dir, "users", "create", "--email", "root@example.org", "--role",
                       "ADMIN", "--display-name", "Root Admin", stdin="short\n")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: A password needs 10 to 1024 characters"
    )
    assert "Traceback" not in result.stderr
    body = await sign_in(data_dir, "root@example.org", "short")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_users_create_refuses_a_taken_email_and_a_missing_password(tmp_path: Path) -> None:
    data_dir = migrated(tmp_path)
    args = ("users", "create", "--email", "dup@example.org", "--role", "PATIENT",
            "--display-name", "Dup")
    assert caregraph(data_dir, *args, stdin=ADMIN_PASSWORD + "\n").returncode == 0

    again = caregraph(data_dir, *args, stdin=ADMIN_PASSWORD + "\n")
    empty = caregraph(data_dir, "users", "create", "--email", "x@example.org",
                      "--role", "PATIENT", "--display-name", "X", stdin="")

    assert again.returncode == 1
    assert "error: An account with this email exists" in again.stderr
    assert empty.returncode == 1
    assert "error: A password needs 10 to 1024 characters" in empty.stderr
    assert "Traceback" not in again.stderr + empty.stderr


async def test_demo_creates_its_people_and_prints_each_credential_once(tmp_path: Path) -> None:
    data_dir = migrated(tmp_path)

    first = caregraph(data_dir, "demo")
    second = caregraph(data_dir, "demo")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    credentials = CREDENTIAL.findall(first.stdout)
    roles = sorted(role for role, _, _ in credentials)
    assert roles == ["ADMIN", "DOCTOR", "DOCTOR", "PATIENT", "PATIENT"]
    for _, email, password in credentials:
        assert first.stdout.count(password) == 1
        assert email not in second.stdout and password not in second.stdout
    assert CREDENTIAL.findall(second.stdout) == []
    async with app_on(data_dir) as api:
        async with api.runtime.engine.connect() as conn:
            rows = list(await conn.execute(select(users.c.role, users.c.specialty)))
        doctors = sorted(specialty for role, specialty in rows if role == "DOCTOR")
        assert len(rows) == 5 and len(set(doctors)) == 2 and all(doctors)
        for role, email, password in credentials:
            body = await api.post(SIGN_IN, {"email": email, "password": password})
            assert body["data"]["signIn"]["user"]["role"] == role
