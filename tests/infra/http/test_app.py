"""The HTTP surface: error codes, masking, limits, request ids, health and readiness."""

from __future__ import annotations

import logging
from dataclasses import replace

import httpx
import pytest

from infra.container import build_runtime
from infra.http.app import create_app
from infra.settings import Settings
from tests.conftest import Api, make_person

ME = "{ me { id } }"


async def test_unknown_field_is_bad_user_input(api: Api) -> None:
    body = await api.post("{ me { id shoeSize } }")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "shoeSize" in body["errors"][0]["message"]


async def test_syntax_error_is_bad_user_input(api: Api) -> None:
    assert await api.error_code("{ me { id ") == "BAD_USER_INPUT"


async def test_malformed_json_is_a_graphql_error_with_a_code(api: Api) -> None:
    response = await api.client.post(
        "/graphql", content=b'{"query": "{ me { id }', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_oversized_body_is_refused_before_it_is_read(api: Api) -> None:
    limit = api.runtime.settings.max_body_bytes
    padding = "#" * (limit + 1)
    response = await api.client.post("/graphql", json={"query": f"{{ me {{ id }} }} {padding}"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_oversized_chunked_body_is_refused(api: Api) -> None:
    limit = api.runtime.settings.max_body_bytes

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    response = await api.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_depth_limit(api: Api) -> None:
    person = await make_person(api)
    nested = (
        "{ me { conversations { edges { node { participants { conversations { edges { node {"
        " participants { conversations { edges { node { participants { id } } } } } } } } } }"
        " } } } }"
    )
    body = await api.post(nested, token=person.token)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "depth" in body["errors"][0]["message"]


async def test_alias_limit(api: Api) -> None:
    aliases = " ".join(f"a{n}: me {{ id }}" for n in range(40))
    body = await api.post(f"{{ {aliases} }}")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "aliases" in body["errors"][0]["message"]


async def test_token_limit(api: Api) -> None:
    fields = " ".join("__typename" for _ in range(3000))
    body = await api.post(f"{{ {fields} }}")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "token" in body["errors"][0]["message"].lower()


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given a storage failure whose text must never reach a client
    person = await make_person(api)

    async def broken(*_: object, **__: object) -> object:
        raise RuntimeError('relation "users" does not exist: SELECT password_hash FROM users')

    monkeypatch.setattr(api.runtime.services.messaging, "conversations", broken)
    # when the query runs
    with caplog.at_level(logging.ERROR, logger="caregraph.errors"):
        response = await api.client.post(
            "/graphql",
            json={"query": "{ me { id conversations { edges { cursor } } } }"},
            headers={"Authorization": f"Bearer {person.token}", "X-Request-ID": "req-42"},
        )
    # then the client sees a masked error with the request id, and the log has the detail
    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "SELECT" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] == "req-42"
    logged = [r for r in caplog.records if "req-42" in r.getMessage()]
    assert logged and "password_hash" in str(logged[0].exc_info[1])  # type: ignore[index]


async def test_every_response_carries_a_request_id(api: Api) -> None:
    response = await api.client.post("/graphql", json={"query": ME})
    assert len(response.headers["x-request-id"]) == 32
    forged = await api.client.post(
        "/graphql", json={"query": ME}, headers={"X-Request-ID": "bad id\nwith newline"}
    )
    assert forged.headers["x-request-id"] != "bad id\nwith newline"


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "broker": True, "models": True}


async def test_readiness_fails_while_the_database_is_down(tmp_path: object) -> None:
    settings = replace(
        Settings.from_env({}),
        data_dir=tmp_path,  # type: ignore[arg-type]
        database_url="postgresql://nobody@127.0.0.1:9/none",
    )
    runtime = build_runtime(settings)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
    await runtime.close()
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] is False


async def test_readiness_waits_for_the_migrations(tmp_path: object) -> None:
    # given a database that answers but was never migrated
    settings = replace(Settings.from_env({}), data_dir=tmp_path)  # type: ignore[arg-type]
    runtime = build_runtime(settings)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        not_yet = await client.get("/readyz")
        # when the migrations run, then it is ready
        from infra.db.migrate import migrate

        await migrate(runtime.engine)
        ready = await client.get("/readyz")
    await runtime.close()
    assert not_yet.status_code == 503 and not_yet.json()["checks"]["database"] is False
    assert ready.json()["checks"]["database"] is True
