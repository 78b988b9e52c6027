"""The users subgraph through real GraphQL text, then a look at what storage holds.

Every test runs against both backends (SQLite + memory broker, PostgreSQL + Redis).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import func, select

from domain.principal import Role
from domain.users.models import User
from infra.auth.tokens import SECRET_FILE, JwtCodec, load_or_create_secret
from infra.container import Runtime, build_runtime
from infra.db.tables import refresh_tokens, users
from infra.http.app import create_app
from resolvers.pagination import encode_cursor
from tests.conftest import PASSWORD, Api, make_person

SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) {
    accessToken refreshToken expiresAt
    user { id email displayName role doctorProfile { specialty } }
  }
}"""

SIGN_IN = """
mutation($email: String!, $password: String!) {
  signIn(email: $email, password: $password) { accessToken refreshToken user { id role } }
}"""

REFRESH = """
mutation($token: String!) {
  refreshSession(refreshToken: $token) { accessToken refreshToken expiresAt user { id } }
}"""

SIGN_OUT = "mutation($token: String!) { signOut(refreshToken: $token) }"

ME = "{ me { id email displayName role doctorProfile { specialty bio } } }"

USER = "query($id: ID!) { user(id: $id) { id displayName role } }"

UPDATE_PROFILE = """
mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { id displayName doctorProfile { specialty bio } }
}"""

SET_ROLE = """
mutation($id: ID!, $role: Role!) {
  setUserRole(userId: $id, role: $role) { id role doctorProfile { specialty bio } }
}"""

DISABLE = "mutation($id: ID!) { disableUser(userId: $id) { id } }"

DOCTORS = """
query($specialty: String, $first: Int, $after: String) {
  doctors(specialty: $specialty, first: $first, after: $after) {
    edges { cursor node { id displayName doctorProfile { specialty } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

START_CONVERSATION = """
mutation($ids: [ID!]!) { startConversation(participantIds: $ids) { id } }"""

ENTITIES = """
query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id email } } }"""

SUPABASE_SECRET = "supabase-test-secret-" + "s" * 32


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.org"


async def user_rows(api: Api, email: str) -> list[Any]:
    async with api.runtime.engine.connect() as conn:
        return list(await conn.execute(select(users).where(users.c.email == email)))


async def user_row(api: Api, user_id: str) -> Any:
    async with api.runtime.engine.connect() as conn:
        return (await conn.execute(select(users).where(users.c.id == user_id))).one()


async def token_rows(api: Api, user_id: str) -> list[Any]:
    async with api.runtime.engine.connect() as conn:
        query = select(refresh_tokens).where(refresh_tokens.c.user_id == user_id)
        return list(await conn.execute(query.order_by(refresh_tokens.c.issued_at)))


async def token_row(api: Api, raw_token: str) -> Any:
    digest = hashlib.sha256(raw_token.encode()).hexdigest()
    async with api.runtime.engine.connect() as conn:
        query = select(refresh_tokens).where(refresh_tokens.c.token_hash == digest)
        return (await conn.execute(query)).one()


async def raw_post(api: Api, query: str, authorization: str | None,
                   variables: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return await api.client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def payload_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def header_of(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def hs256(claims: dict[str, Any], secret: bytes, header: dict[str, Any] | None = None) -> str:
    """A JWT signed by hand, so the test controls every byte of it."""
    signing_input = f"{b64url_json(header or {'alg': 'HS256', 'typ': 'JWT'})}.{b64url_json(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def our_claims(
    api: Api, subject: str, *, lifetime: timedelta = timedelta(minutes=15)
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "iss": api.runtime.settings.jwt_issuer,
        "sub": subject,
        "role": "ADMIN",
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }


async def sign_up(api: Api, email: str, *, name: str = "New Patient") -> dict[str, Any]:
    variables = {"input": {"email": email, "password": PASSWORD, "displayName": name}}
    session: dict[str, Any] = (await api.data(SIGN_UP, variables))["signUp"]
    return session


# ---- 1. sign-up and sign-in


async def test_sign_up_starts_a_patient_session_and_stores_an_argon2id_hash(api: Api) -> None:
    email = unique_email("signup")

    session = await sign_up(api, email.upper(), name="  Pat Newcomer  ")

    assert session["user"]["role"] == "PATIENT"
    assert session["user"]["email"] == email
    assert session["user"]["displayName"] == "Pat Newcomer"
    assert session["user"]["doctorProfile"] is None
    me = (await api.data(ME, token=session["accessToken"]))["me"]
    assert me["id"] == session["user"]["id"]
    [row] = await user_rows(api, email)
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash


async def test_sign_up_with_a_taken_email_is_a_conflict(api: Api) -> None:
    email = unique_email("dup")
    await sign_up(api, email)

    variables = {"input": {"email": email.title(), "password": PASSWORD, "displayName": "Again"}}
    code = await api.error_code(SIGN_UP, variables)

    assert code == "CONFLICT"
    assert len(await user_rows(api, email)) == 1


@pytest.mark.parametrize(
    ("email", "password", "display_name", "field"),
    [
        ("not-an-email", PASSWORD, "Name", "email"),
        ("two@@example.org", PASSWORD, "Name", "email"),
        ("{uid}@nodot", PASSWORD, "Name", "email"),
        ("{uid}@example.org", "short", "Name", "password"),
        ("{uid}@example.org", "x" * 1025, "Name", "password"),
        ("{uid}@example.org", PASSWORD, "", "displayName"),
        ("{uid}@example.org", PASSWORD, "   ", "displayName"),
        ("{uid}@example.org", PASSWORD, "n" * 101, "displayName"),
    ],
)
async def test_sign_up_refuses_bad_input_and_writes_nothing(
    api: Api, email: str, password: str, display_name: str, field: str
) -> None:
    email = email.format(uid=uuid.uuid4().hex[:10])
    variables = {"input": {"email": email, "password": password, "displayName": display_name}}

    body = await api.post(SIGN_UP, variables)

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert await user_rows(api, email.strip().lower()) == []


async def test_sign_in_does_not_say_whether_the_email_or_the_password_was_wrong(api: Api) -> None:
    email = unique_email("signin")
    await sign_up(api, email)

    wrong_password = await api.post(SIGN_IN, {"email": email, "password": "wrong password!"})
    unknown_email = await api.post(SIGN_IN, {"email": unique_email("nobody"), "password": PASSWORD})

    for body in (wrong_password, unknown_email):
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert wrong_password["errors"][0]["message"] == unknown_email["errors"][0]["message"]
    session = (await api.data(SIGN_IN, {"email": f"  {email.upper()} ", "password": PASSWORD}))
    assert session["signIn"]["user"]["role"] == "PATIENT"


# ---- 2. access tokens


async def test_access_tokens_are_hs256_for_fifteen_minutes_with_the_data_dir_secret(
    api: Api,
) -> None:
    session = await sign_up(api, unique_email("jwt"))

    token = session["accessToken"]

    assert header_of(token)["alg"] == "HS256"
    claims = payload_of(token)
    assert claims["exp"] - claims["iat"] == 900
    assert claims["sub"] == session["user"]["id"]
    secret_file = api.runtime.settings.data_dir / SECRET_FILE
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_bytes().strip()
    verified = jwt.decode(token, OctKey.import_key(secret), algorithms=["HS256"])
    assert verified.claims["sub"] == session["user"]["id"]
    assert load_or_create_secret(api.runtime.settings.data_dir) == secret


# ---- 3. refresh tokens


async def test_refresh_rotates_and_the_new_token_works(api: Api) -> None:
    person = await make_person(api)

    first = (await api.data(REFRESH, {"token": person.refresh_token}))["refreshSession"]
    second = (await api.data(REFRESH, {"token": first["refreshToken"]}))["refreshSession"]

    assert len({person.refresh_token, first["refreshToken"], second["refreshToken"]}) == 3
    assert (await api.data(ME, token=second["accessToken"]))["me"]["id"] == person.id
    original = await token_row(api, person.refresh_token)
    rotated = await token_row(api, first["refreshToken"])
    newest = await token_row(api, second["refreshToken"])
    assert original.used_at is not None and rotated.used_at is not None
    assert newest.used_at is None and newest.revoked_at is None
    assert original.family_id == rotated.family_id == newest.family_id


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(api: Api) -> None:
    person = await make_person(api)
    rotated = (await api.data(REFRESH, {"token": person.refresh_token}))["refreshSession"]
    other_device = (await api.data(SIGN_IN, {"email": person.email, "password": PASSWORD}))

    reuse = await api.error_code(REFRESH, {"token": person.refresh_token})

    assert reuse == "UNAUTHENTICATED"
    assert await api.error_code(REFRESH, {"token": rotated["refreshToken"]}) == "UNAUTHENTICATED"
    family = (await token_row(api, person.refresh_token)).family_id
    rows = await token_rows(api, person.id)
    assert all(row.revoked_at is not None for row in rows if row.family_id == family)
    # A session started elsewhere (another family) lives on.
    assert await api.data(REFRESH, {"token": other_device["signIn"]["refreshToken"]})


async def test_an_expired_refresh_token_is_refused(api: Api) -> None:
    person = await make_person(api)
    async with api.runtime.engine.begin() as conn:
        await conn.execute(
            refresh_tokens.update()
            .where(refresh_tokens.c.user_id == person.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    code = await api.error_code(REFRESH, {"token": person.refresh_token})

    assert code == "UNAUTHENTICATED"
    assert (await token_row(api, person.refresh_token)).used_at is None


async def test_refresh_tokens_are_stored_only_as_sha256(api: Api) -> None:
    person = await make_person(api)
    rotated = (await api.data(REFRESH, {"token": person.refresh_token}))["refreshSession"]

    rows = await token_rows(api, person.id)

    stored = " ".join(str(value) for row in rows for value in row)
    for raw in (person.refresh_token, rotated["refreshToken"]):
        assert raw not in stored
    assert {row.token_hash for row in rows} == {
        hashlib.sha256(raw.encode()).hexdigest()
        for raw in (person.refresh_token, rotated["refreshToken"])
    }


async def test_an_unknown_refresh_token_is_refused(api: Api) -> None:
    assert await api.error_code(REFRESH, {"token": secrets.token_urlsafe(32)}) == "UNAUTHENTICATED"
    assert await api.error_code(REFRESH, {"token": ""}) == "UNAUTHENTICATED"


async def test_sign_out_ends_the_family(api: Api) -> None:
    person = await make_person(api)
    rotated = (await api.data(REFRESH, {"token": person.refresh_token}))["refreshSession"]

    ended = (await api.data(SIGN_OUT, {"token": rotated["refreshToken"]}))["signOut"]

    assert ended is True
    assert await api.error_code(REFRESH, {"token": rotated["refreshToken"]}) == "UNAUTHENTICATED"
    assert all(row.revoked_at is not None for row in await token_rows(api, person.id))
    assert (await api.data(SIGN_OUT, {"token": rotated["refreshToken"]}))["signOut"] is False
    assert (await api.data(SIGN_OUT, {"token": "never-issued"}))["signOut"] is False


# ---- 4. bad access tokens


async def test_malformed_expired_and_forged_tokens_get_401(api: Api) -> None:
    person = await make_person(api)
    victim = await make_person(api)
    secret = (api.runtime.settings.data_dir / SECRET_FILE).read_bytes().strip()
    in_the_past = datetime.now(UTC) - timedelta(hours=1)
    codec = JwtCodec(issuer=api.runtime.settings.jwt_issuer, ttl=timedelta(minutes=15),
                     secret=secret)
    expired, _ = codec.issue(
        User(id=person.id, email=person.email, display_name="x", role=Role.PATIENT,
             created_at=in_the_past),
        in_the_past,
    )
    header, _, signature = person.token.split(".")
    altered = f"{header}.{b64url_json({**payload_of(person.token), 'sub': victim.id})}.{signature}"
    none_header = b64url_json({"alg": "none", "typ": "JWT"})
    alg_none = f"{none_header}.{b64url_json(our_claims(api, person.id))}."
    bad_tokens = {
        "malformed": "not-a-jwt",
        "three junk parts": "a.b.c",
        "truncated": person.token[:-10],
        "expired": expired,
        "expired by hand": hs256(our_claims(api, person.id, lifetime=-timedelta(minutes=5)),
                                 secret),
        "wrong key": hs256(our_claims(api, person.id), secrets.token_bytes(48)),
        "altered payload": altered,
        "alg none": alg_none,
        "other issuer": hs256({**our_claims(api, person.id), "iss": "someone-else"}, secret),
        "no such user": hs256(our_claims(api, str(uuid.uuid4())), secret),
        "absurd subject": hs256(our_claims(api, "x" * 300), secret),
        "no expiry": hs256({k: v for k, v in our_claims(api, person.id).items() if k != "exp"},
                           secret),
    }

    for name, token in bad_tokens.items():
        response = await raw_post(api, ME, f"Bearer {token}")
        assert response.status_code == 401, (name, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", name
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await api.data(ME, token=person.token))["me"]["id"] == person.id


@pytest.mark.parametrize("authorization", ["Basic x", "Bearer", "Bearer    ", "Token abc"])
async def test_an_authorization_header_that_is_not_bearer_is_refused(
    api: Api, authorization: str
) -> None:
    response = await raw_post(api, ME, authorization)

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_without_a_token_me_is_null_and_user_needs_a_session(api: Api) -> None:
    doctor = await make_person(api, Role.DOCTOR)

    assert (await api.data(ME))["me"] is None
    assert await api.error_code(USER, {"id": doctor.id}) == "UNAUTHENTICATED"
    assert await api.error_code(DOCTORS, {}) == "UNAUTHENTICATED"


# ---- 5. administration and profiles


async def test_disabling_a_user_ends_their_access_and_refresh_tokens_at_once(api: Api) -> None:
    admin = await make_person(api, Role.ADMIN)
    patient = await make_person(api)
    assert (await api.data(ME, token=patient.token))["me"]["id"] == patient.id

    await api.data(DISABLE, {"id": patient.id}, token=admin.token)

    response = await raw_post(api, ME, f"Bearer {patient.token}")
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    rows = await token_rows(api, patient.id)
    assert rows and all(row.revoked_at is not None for row in rows)
    assert await api.error_code(REFRESH, {"token": patient.refresh_token}) == "UNAUTHENTICATED"
    signing_in = await api.error_code(SIGN_IN, {"email": patient.email, "password": PASSWORD})
    assert signing_in == "UNAUTHENTICATED"
    assert (await user_row(api, patient.id)).disabled is True


@pytest.mark.parametrize("caller_role", [Role.PATIENT, Role.DOCTOR, Role.ANALYST])
async def test_only_an_admin_may_set_roles_or_disable_users(api: Api, caller_role: Role) -> None:
    caller = await make_person(api, caller_role)
    target = await make_person(api)

    set_role = await api.error_code(SET_ROLE, {"id": target.id, "role": "ADMIN"},
                                    token=caller.token)
    promote_self = await api.error_code(SET_ROLE, {"id": caller.id, "role": "ADMIN"},
                                        token=caller.token)
    disable = await api.error_code(DISABLE, {"id": target.id}, token=caller.token)

    assert (set_role, promote_self, disable) == ("FORBIDDEN", "FORBIDDEN", "FORBIDDEN")
    row = await user_row(api, target.id)
    assert (row.role, row.disabled) == ("PATIENT", False)
    assert (await user_row(api, caller.id)).role == caller_role.value
    assert all(r.revoked_at is None for r in await token_rows(api, target.id))


async def test_set_user_role_to_doctor_gives_a_doctor_profile(api: Api) -> None:
    admin = await make_person(api, Role.ADMIN)
    patient = await make_person(api)

    promoted = (await api.data(SET_ROLE, {"id": patient.id, "role": "DOCTOR"},
                               token=admin.token))["setUserRole"]

    assert promoted["role"] == "DOCTOR"
    assert promoted["doctorProfile"]["specialty"]
    me = (await api.data(ME, token=patient.token))["me"]
    assert me["role"] == "DOCTOR" and me["doctorProfile"] == promoted["doctorProfile"]
    demoted = (await api.data(SET_ROLE, {"id": patient.id, "role": "PATIENT"},
                              token=admin.token))["setUserRole"]
    assert demoted["doctorProfile"] is None
    assert (await user_row(api, patient.id)).specialty is None


async def test_admins_cannot_demote_or_disable_themselves_and_unknown_ids_are_not_found(
    api: Api,
) -> None:
    admin = await make_person(api, Role.ADMIN)
    missing = str(uuid.uuid4())

    assert await api.error_code(SET_ROLE, {"id": admin.id, "role": "PATIENT"},
                                token=admin.token) == "FORBIDDEN"
    assert await api.error_code(DISABLE, {"id": admin.id}, token=admin.token) == "FORBIDDEN"
    assert await api.error_code(SET_ROLE, {"id": missing, "role": "DOCTOR"},
                                token=admin.token) == "NOT_FOUND"
    assert await api.error_code(DISABLE, {"id": missing}, token=admin.token) == "NOT_FOUND"
    assert (await user_row(api, admin.id)).role == "ADMIN"


async def test_anyone_may_change_their_display_name(api: Api) -> None:
    patient = await make_person(api)

    updated = (await api.data(UPDATE_PROFILE, {"input": {"displayName": " Renamed "}},
                              token=patient.token))["updateProfile"]

    assert updated["displayName"] == "Renamed"
    assert (await user_row(api, patient.id)).display_name == "Renamed"
    empty = await api.error_code(UPDATE_PROFILE, {"input": {"displayName": "  "}},
                                 token=patient.token)
    assert empty == "BAD_USER_INPUT"
    assert (await user_row(api, patient.id)).display_name == "Renamed"
    anonymous = await api.error_code(UPDATE_PROFILE, {"input": {"displayName": "X"}})
    assert anonymous == "UNAUTHENTICATED"


async def test_only_doctors_have_a_specialty_and_a_bio(api: Api) -> None:
    doctor = await make_person(api, Role.DOCTOR, specialty="Dermatology")
    patient = await make_person(api)

    updated = (await api.data(
        UPDATE_PROFILE, {"input": {"specialty": "Radiology", "bio": "Twenty years of X-rays."}},
        token=doctor.token,
    ))["updateProfile"]

    assert updated["doctorProfile"] == {"specialty": "Radiology", "bio": "Twenty years of X-rays."}
    row = await user_row(api, doctor.id)
    assert (row.specialty, row.bio) == ("Radiology", "Twenty years of X-rays.")
    for change in ({"specialty": "Cardiology"}, {"bio": "I am not a doctor"}):
        code = await api.error_code(UPDATE_PROFILE, {"input": change}, token=patient.token)
        assert code == "BAD_USER_INPUT"
    row = await user_row(api, patient.id)
    assert (row.specialty, row.bio) == (None, None)
    too_long = await api.error_code(UPDATE_PROFILE, {"input": {"bio": "b" * 2001}},
                                    token=doctor.token)
    assert too_long == "BAD_USER_INPUT"


# ---- 6. the doctor directory


async def test_doctors_pages_through_the_directory_in_display_name_order(api: Api) -> None:
    specialty = f"Specialty {uuid.uuid4().hex[:8]}"
    names = ["Echo Doc", "Alpha Doc", "Delta Doc", "Charlie Doc", "Bravo Doc"]
    for name in names:
        await make_person(api, Role.DOCTOR, specialty=specialty, name=name)
    await make_person(api, Role.DOCTOR, specialty=f"Other {specialty}", name="Aaron Other")
    reader = await make_person(api)

    seen: list[str] = []
    has_next: list[bool] = []
    after: str | None = None
    while True:
        page = (await api.data(DOCTORS, {"specialty": specialty, "first": 2, "after": after},
                               token=reader.token))["doctors"]
        seen += [edge["node"]["displayName"] for edge in page["edges"]]
        has_next.append(page["pageInfo"]["hasNextPage"])
        assert all(e["node"]["doctorProfile"]["specialty"] == specialty for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert seen == sorted(names)
    assert has_next == [True, True, False]


async def test_disabled_doctors_leave_the_directory(api: Api) -> None:
    specialty = f"Specialty {uuid.uuid4().hex[:8]}"
    admin = await make_person(api, Role.ADMIN)
    staying = await make_person(api, Role.DOCTOR, specialty=specialty, name="Staying Doc")
    leaving = await make_person(api, Role.DOCTOR, specialty=specialty, name="Leaving Doc")

    await api.data(DISABLE, {"id": leaving.id}, token=admin.token)

    page = (await api.data(DOCTORS, {"specialty": specialty}, token=admin.token))["doctors"]
    assert [edge["node"]["id"] for edge in page["edges"]] == [staying.id]


@pytest.mark.parametrize(
    "after",
    [
        "not a cursor!",
        "e30",  # {}
        encode_cursor("message", "a", "b"),
        encode_cursor("doctor"),
        encode_cursor("doctor", "only a name"),
        encode_cursor("doctor", "a", "b", "c"),
        encode_cursor("doctor", {"name": 1}, ["id"]),
        b64url(b"\xff\xfe not json"),
    ],
)
async def test_an_invalid_cursor_is_bad_input(api: Api, after: str) -> None:
    reader = await make_person(api)

    body = await api.post(DOCTORS, {"first": 2, "after": after}, token=reader.token)

    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_a_page_size_out_of_range_is_bad_input(api: Api, first: int) -> None:
    reader = await make_person(api)

    body = await api.post(DOCTORS, {"first": first}, token=reader.token)

    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}


# ---- 7. who may see whom


async def test_a_patient_sees_doctors_but_not_other_patients(api: Api) -> None:
    patient = await make_person(api)
    other = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)

    assert await api.error_code(USER, {"id": other.id}, token=patient.token) == "NOT_FOUND"
    assert await api.error_code(USER, {"id": str(uuid.uuid4())}, token=patient.token) == (
        "NOT_FOUND"
    )
    seen = (await api.data(USER, {"id": doctor.id}, token=patient.token))["user"]
    assert seen == {"id": doctor.id, "displayName": seen["displayName"], "role": "DOCTOR"}
    assert (await api.data(USER, {"id": patient.id}, token=patient.token))["user"]["id"] == (
        patient.id
    )


async def test_a_doctor_sees_a_patient_only_through_a_conversation(api: Api) -> None:
    doctor = await make_person(api, Role.DOCTOR)
    their_patient = await make_person(api)
    stranger = await make_person(api)
    await api.data(START_CONVERSATION, {"ids": [doctor.id]}, token=their_patient.token)

    seen = (await api.data(USER, {"id": their_patient.id}, token=doctor.token))["user"]

    assert seen["id"] == their_patient.id
    assert await api.error_code(USER, {"id": stranger.id}, token=doctor.token) == "NOT_FOUND"


async def test_an_analyst_does_not_see_patients_and_an_admin_does(api: Api) -> None:
    analyst = await make_person(api, Role.ANALYST)
    admin = await make_person(api, Role.ADMIN)
    patient = await make_person(api)

    assert await api.error_code(USER, {"id": patient.id}, token=analyst.token) == "NOT_FOUND"
    assert (await api.data(USER, {"id": patient.id}, token=admin.token))["user"]["id"] == (
        patient.id
    )


async def test_entities_is_not_exposed_on_the_composed_graph(api: Api) -> None:
    patient = await make_person(api)
    other = await make_person(api)

    entities = (
        f'{{ _entities(representations: [{{__typename: "User", id: "{other.id}"}}]) '
        "{ ... on User { id email } } }"
    )
    body = await api.post(entities, token=patient.token)
    service = await api.post("{ _service { sdl } }", token=patient.token)

    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "_entities" in body["errors"][0]["message"]
    assert service["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_entities_in_subgraph_mode_apply_the_same_visibility(api: Api) -> None:
    runtime = api.runtime
    subgraph = Runtime(replace(runtime.settings, subgraph="users"), runtime.engine,
                       runtime.broker, runtime.services)
    patient = await make_person(api)
    other = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    transport = httpx.ASGITransport(app=create_app(subgraph))
    async with httpx.AsyncClient(transport=transport, base_url="http://users.test") as client:
        users_api = Api(client, runtime)

        reps = [{"__typename": "User", "id": doctor.id}, {"__typename": "User", "id": other.id}]
        body = await users_api.post(ENTITIES, {"reps": reps}, token=patient.token)

    assert body["data"]["_entities"][0] == {"id": doctor.id, "email": doctor.email}
    assert body["data"]["_entities"][1] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]


# ---- 8. Supabase-issued tokens


@pytest.fixture(scope="module")
async def supabase_api(runtime: Runtime) -> AsyncIterator[Api]:
    """The same database, served by an app that also accepts Supabase access tokens."""
    supabase_runtime = build_runtime(replace(runtime.settings, supabase_jwt_secret=SUPABASE_SECRET))
    await supabase_runtime.broker.start()
    transport = httpx.ASGITransport(app=create_app(supabase_runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://caregraph.test") as c:
            yield Api(c, supabase_runtime)
    finally:
        await supabase_runtime.close()


def supabase_token(subject: str, email: Any, *, secret: str = SUPABASE_SECRET,
                   audience: str = "authenticated",
                   lifetime: timedelta = timedelta(hours=1)) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": "https://project.supabase.co/auth/v1",
        "aud": audience,
        "sub": subject,
        "email": email,
        "role": "authenticated",
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    return hs256(claims, secret.encode())


async def external_rows(api: Api, subject: str) -> list[Any]:
    async with api.runtime.engine.connect() as conn:
        query = select(users).where(users.c.external_subject == subject)
        return list(await conn.execute(query))


async def test_a_supabase_token_provisions_a_patient_once(supabase_api: Api) -> None:
    subject = str(uuid.uuid4())
    email = unique_email("supa")
    token = supabase_token(subject, email)

    first = (await supabase_api.data(ME, token=token))["me"]
    second = (await supabase_api.data(ME, token=token))["me"]

    assert first == second
    assert (first["email"], first["role"]) == (email, "PATIENT")
    [row] = await external_rows(supabase_api, subject)
    assert (row.id, row.password_hash, row.role) == (first["id"], None, "PATIENT")
    async with supabase_api.runtime.engine.connect() as conn:
        count = await conn.scalar(select(func.count()).where(users.c.email == email))
    assert count == 1


async def test_our_own_tokens_still_work_when_supabase_is_configured(supabase_api: Api) -> None:
    person = await make_person(supabase_api)

    assert (await supabase_api.data(ME, token=person.token))["me"]["id"] == person.id


@pytest.mark.parametrize(
    "token",
    [
        supabase_token("sub-wrong-secret", "a@example.org", secret="not-the-secret-" + "x" * 32),
        supabase_token("sub-wrong-aud", "b@example.org", audience="anon"),
        supabase_token("sub-expired", "c@example.org", lifetime=-timedelta(minutes=5)),
        supabase_token("sub-no-email", None),
        supabase_token("sub-odd-email", 12345),
        supabase_token("sub-bad-email", "not an email"),
    ],
    ids=["wrong-secret", "wrong-aud", "expired", "no-email", "email-not-a-string", "bad-email"],
)
async def test_a_bad_supabase_token_is_refused_and_provisions_nobody(
    supabase_api: Api, token: str
) -> None:
    response = await raw_post(supabase_api, ME, f"Bearer {token}")

    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await external_rows(supabase_api, payload_of(token)["sub"]) == []


async def test_a_supabase_token_for_an_email_with_a_local_account_is_refused(
    supabase_api: Api,
) -> None:
    local = await make_person(supabase_api)
    subject = str(uuid.uuid4())

    response = await raw_post(supabase_api, ME, f"Bearer {supabase_token(subject, local.email)}")

    assert response.status_code == 401
    assert await external_rows(supabase_api, subject) == []


async def test_supabase_tokens_are_refused_where_supabase_is_not_configured(api: Api) -> None:
    response = await raw_post(api, ME, f"Bearer {supabase_token(str(uuid.uuid4()), 'x@y.org')}")

    assert response.status_code == 401
