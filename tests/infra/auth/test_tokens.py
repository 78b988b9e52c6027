"""Access tokens: HS256 with a generated secret, RS256 with a configured key, nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from domain.errors import DomainError, ErrorCode
from domain.principal import Role
from domain.users.models import User
from infra.auth.tokens import SECRET_FILE, JwtCodec, load_or_create_secret
from infra.container import build_runtime
from infra.db.migrate import migrate
from infra.http.app import create_app
from infra.settings import Settings
from tests.conftest import PASSWORD, Api

SIGN_UP = """
mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }"""

ME = "{ me { id } }"

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)


def a_user() -> User:
    return User(id=str(uuid.uuid4()), email="pat@example.org", display_name="Pat",
                role=Role.PATIENT, created_at=NOW)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def part(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def decode_part(token: str, index: int) -> dict[str, Any]:
    raw = token.split(".")[index]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return value


def hmac_signed(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{part(header)}.{part(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def rsa_key_pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def refused(codec: JwtCodec, token: str, now: datetime = NOW) -> bool:
    with pytest.raises(DomainError) as caught:
        codec.verify(token, now)
    return caught.value.code is ErrorCode.UNAUTHENTICATED


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[Api]:
    """A fresh embedded runtime on ``settings``, migrated, behind an in-process client."""
    runtime = build_runtime(settings)
    try:
        await migrate(runtime.engine)
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://caregraph.test") as c:
            yield Api(c, runtime)
    finally:
        await runtime.close()


async def sign_up(api: Api) -> dict[str, Any]:
    email = f"tok-{uuid.uuid4().hex[:10]}@example.org"
    variables = {"input": {"email": email, "password": PASSWORD, "displayName": "Tok"}}
    session: dict[str, Any] = (await api.data(SIGN_UP, variables))["signUp"]
    return session


# ---- the HS256 secret


def test_the_secret_is_created_once_readable_by_the_owner_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"

    secret = load_or_create_secret(data_dir)

    path = data_dir / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret) >= 32
    assert path.read_bytes().strip() == secret
    assert load_or_create_secret(data_dir) == secret
    assert [p.name for p in data_dir.iterdir()] == [SECRET_FILE]  # no draft left behind


# ---- HS256


def test_hs256_tokens_last_fifteen_minutes() -> None:
    codec = JwtCodec(issuer="caregraph", ttl=TTL, secret=b"s" * 48)
    user = a_user()

    token, expires_at = codec.issue(user, NOW)

    assert decode_part(token, 0) == {"alg": "HS256", "typ": "JWT"}
    claims = decode_part(token, 1)
    assert claims["exp"] - claims["iat"] == 900
    assert expires_at == NOW + TTL
    assert codec.verify(token, NOW + TTL - timedelta(seconds=1)).subject == user.id
    assert refused(codec, token, NOW + TTL + timedelta(minutes=1))


def test_hs256_refuses_other_secrets_algorithms_and_issuers() -> None:
    secret = b"s" * 48
    codec = JwtCodec(issuer="caregraph", ttl=TTL, secret=secret)
    token, _ = codec.issue(a_user(), NOW)
    claims = decode_part(token, 1)

    assert refused(JwtCodec(issuer="caregraph", ttl=TTL, secret=b"t" * 48), token)
    assert refused(codec, f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.")
    assert refused(codec, hmac_signed({"alg": "HS512", "typ": "JWT"}, claims, secret))
    assert refused(codec, hmac_signed({"alg": "HS256"}, {**claims, "iss": "other"}, secret))
    assert refused(codec, hmac_signed({"alg": "HS256"}, {**claims, "sub": ""}, secret))
    assert refused(codec, hmac_signed({"alg": "HS256"}, {**claims, "exp": "soon"}, secret))
    assert refused(codec, hmac_signed({"alg": "HS256"}, {**claims, "nbf": claims["exp"]}, secret))
    assert codec.verify(hmac_signed({"alg": "HS256"}, claims, secret), NOW).subject == claims["sub"]


# ---- RS256


def test_rs256_tokens_verify_with_the_public_key_and_refuse_algorithm_confusion() -> None:
    private_pem, public_pem = rsa_key_pair()
    codec = JwtCodec(issuer="caregraph", ttl=TTL, private_key_pem=private_pem)
    user = a_user()

    token, _ = codec.issue(user, NOW)

    assert decode_part(token, 0)["alg"] == "RS256"
    verified = jwt.decode(token, RSAKey.import_key(public_pem), algorithms=["RS256"])
    assert verified.claims["sub"] == user.id
    assert codec.verify(token, NOW).subject == user.id
    claims = decode_part(token, 1)
    assert refused(codec, hmac_signed({"alg": "HS256", "typ": "JWT"}, claims, public_pem))
    assert refused(codec, f"{part({'alg': 'none'})}.{part(claims)}.")
    other_private, _ = rsa_key_pair()
    forged, _ = JwtCodec(issuer="caregraph", ttl=TTL, private_key_pem=other_private).issue(
        user, NOW
    )
    assert refused(codec, forged)


def test_a_codec_needs_a_secret_or_a_key() -> None:
    with pytest.raises(ValueError, match="secret or a private key"):
        JwtCodec(issuer="caregraph", ttl=TTL)


# ---- through the app, configured from the environment


async def test_the_generated_secret_is_reused_by_the_next_run(tmp_path: Path) -> None:
    settings = Settings.from_env({"CAREGRAPH_DATA_DIR": str(tmp_path)})
    async with served(settings) as first_run:
        session = await sign_up(first_run)
    secret = (tmp_path / SECRET_FILE).read_bytes()

    async with served(settings) as second_run:
        me = (await second_run.data(ME, token=session["accessToken"]))["me"]

    assert me["id"] == session["user"]["id"]
    assert (tmp_path / SECRET_FILE).read_bytes() == secret
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600


async def test_a_configured_private_key_switches_the_app_to_rs256(tmp_path: Path) -> None:
    private_pem, public_pem = rsa_key_pair()
    key_file = tmp_path / "jwt.pem"
    key_file.write_bytes(private_pem)
    settings = Settings.from_env(
        {"CAREGRAPH_DATA_DIR": str(tmp_path / "data"),
         "CAREGRAPH_JWT_PRIVATE_KEY_FILE": str(key_file)}
    )

    async with served(settings) as api:
        session = await sign_up(api)
        token = session["accessToken"]
        me = (await api.data(ME, token=token))["me"]
        confused = hmac_signed({"alg": "HS256", "typ": "JWT"}, decode_part(token, 1), public_pem)
        response = await api.client.post(
            "/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {confused}"}
        )

    assert decode_part(token, 0)["alg"] == "RS256"
    assert me["id"] == session["user"]["id"]
    verified = jwt.decode(token, RSAKey.import_key(public_pem), algorithms=["RS256"])
    assert verified.claims["sub"] == session["user"]["id"]
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert not (tmp_path / "data" / SECRET_FILE).exists()


def test_an_empty_secret_file_is_an_error_not_an_empty_key(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_bytes(b"\n")

    with pytest.raises(ValueError, match="is empty"):
        load_or_create_secret(tmp_path)
