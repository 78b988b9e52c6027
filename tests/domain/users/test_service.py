"""UserService with real storage and a clock the test moves: expiry and interleavings that
HTTP tests cannot reach without sleeping."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from domain.errors import DomainError, ErrorCode
from domain.principal import Principal, Role
from domain.users.models import RefreshToken, User
from domain.users.service import UserService
from infra.auth.passwords import Argon2PasswordHasher
from infra.auth.tokens import JwtCodec
from infra.container import Runtime
from infra.db.audit import SqlAuditLog
from infra.db.tables import refresh_tokens, users
from infra.db.users import SqlRefreshTokenRepository, SqlUserRepository

PASSWORD = "correct horse battery staple"
START = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Gate:
    """Holds the next call that passes it until the test lets it go."""

    armed: bool = False
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def passing(self) -> None:
        if self.armed:
            self.armed = False
            self.reached.set()
            await self.released.wait()


class GatedRefreshTokens(SqlRefreshTokenRepository):
    def __init__(self, engine: Any, gate: Gate) -> None:
        super().__init__(engine)
        self.gate = gate

    async def add(self, token: RefreshToken) -> None:
        await self.gate.passing()
        await super().add(token)


class GatedUsers(SqlUserRepository):
    """Pauses a profile write after the service read the user, before it writes."""

    def __init__(self, engine: Any, gate: Gate) -> None:
        super().__init__(engine)
        self.gate = gate

    async def save_profile(self, user: User) -> None:
        await self.gate.passing()
        await super().save_profile(user)


class NoRelations:
    async def related_among(self, viewer_id: str, user_ids: Sequence[str]) -> set[str]:
        return set()


@dataclass
class World:
    service: UserService
    clock: Clock
    token_gate: Gate
    user_gate: Gate
    runtime: Runtime


@pytest.fixture
def world(runtime: Runtime) -> World:
    clock, token_gate, user_gate = Clock(), Gate(), Gate()
    service = UserService(
        users=GatedUsers(runtime.engine, user_gate),
        refresh_tokens=GatedRefreshTokens(runtime.engine, token_gate),
        hasher=Argon2PasswordHasher(time_cost=1, memory_cost=8 * 1024),
        tokens=JwtCodec(issuer="caregraph", ttl=timedelta(minutes=15), secret=b"k" * 48),
        audit=SqlAuditLog(runtime.engine),
        care_relations=NoRelations(),
        refresh_token_ttl=timedelta(days=7),
        clock=clock,
    )
    return World(service, clock, token_gate, user_gate, runtime)


async def new_user(world: World, role: Role = Role.PATIENT) -> User:
    return await world.service.create_user(
        email=f"svc-{uuid.uuid4().hex[:10]}@example.org", password=PASSWORD,
        display_name="Service Test", role=role,
    )


def refused(code: ErrorCode = ErrorCode.UNAUTHENTICATED) -> Any:
    return pytest.raises(DomainError, check=lambda error: error.code is code)


async def test_a_refresh_token_expires_after_its_lifetime(world: World) -> None:
    user = await new_user(world)
    session = await world.service.sign_in(email=user.email, password=PASSWORD)

    world.clock.advance(timedelta(days=7, seconds=1))

    with refused():
        await world.service.refresh(refresh_token=session.refresh_token)


async def test_a_refresh_token_works_until_its_lifetime_ends(world: World) -> None:
    user = await new_user(world)
    session = await world.service.sign_in(email=user.email, password=PASSWORD)

    world.clock.advance(timedelta(days=6, hours=23))
    rotated = await world.service.refresh(refresh_token=session.refresh_token)

    assert rotated.user.id == user.id
    assert rotated.expires_at == world.clock.now + timedelta(minutes=15)


async def test_an_access_token_stops_working_after_fifteen_minutes(world: World) -> None:
    user = await new_user(world)
    session = await world.service.sign_in(email=user.email, password=PASSWORD)

    world.clock.advance(timedelta(minutes=14))
    principal = await world.service.authenticate(session.access_token)
    world.clock.advance(timedelta(minutes=2))

    assert principal.user_id == user.id
    with refused():
        await world.service.authenticate(session.access_token)


async def test_reuse_during_a_rotation_also_ends_the_token_that_rotation_issues(
    world: World,
) -> None:
    user = await new_user(world)
    session = await world.service.sign_in(email=user.email, password=PASSWORD)
    world.token_gate.armed = True
    rotation = asyncio.create_task(world.service.refresh(refresh_token=session.refresh_token))
    await world.token_gate.reached.wait()

    with refused():
        await world.service.refresh(refresh_token=session.refresh_token)
    world.token_gate.released.set()
    rotated = await rotation

    with refused():
        await world.service.refresh(refresh_token=rotated.refresh_token)
    async with world.runtime.engine.connect() as conn:
        rows = list(await conn.execute(
            select(refresh_tokens).where(refresh_tokens.c.user_id == user.id)))
    assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)


async def test_a_profile_change_racing_a_disable_does_not_enable_the_account(
    world: World,
) -> None:
    admin = await new_user(world, Role.ADMIN)
    patient = await new_user(world)
    as_patient = Principal(user_id=patient.id, role=Role.PATIENT)
    as_admin = Principal(user_id=admin.id, role=Role.ADMIN)
    world.user_gate.armed = True
    renaming = asyncio.create_task(
        world.service.update_profile(as_patient, display_name="Renamed")
    )
    await world.user_gate.reached.wait()

    await world.service.disable_user(as_admin, user_id=patient.id)
    world.user_gate.released.set()
    await renaming

    async with world.runtime.engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.id == patient.id))).one()
    assert (row.disabled, row.display_name) == (True, "Renamed")
    with refused():
        await world.service.sign_in(email=patient.email, password=PASSWORD)


async def test_a_role_change_racing_a_profile_change_keeps_the_new_role(world: World) -> None:
    admin = await new_user(world, Role.ADMIN)
    patient = await new_user(world)
    world.user_gate.armed = True
    renaming = asyncio.create_task(world.service.update_profile(
        Principal(user_id=patient.id, role=Role.PATIENT), display_name="Renamed"))
    await world.user_gate.reached.wait()

    promote = asyncio.create_task(world.service.set_role(
        Principal(user_id=admin.id, role=Role.ADMIN), user_id=patient.id, role=Role.DOCTOR))
    await promote
    world.user_gate.released.set()
    await renaming

    async with world.runtime.engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.id == patient.id))).one()
    assert (row.role, row.display_name) == ("DOCTOR", "Renamed")
    assert row.specialty
