"""The composition root: settings in, a running set of adapters and domain services out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.clock import Clock, utc_now
from domain.messaging.service import MessagingService
from domain.principal import Role
from domain.scheduling.service import SchedulingService
from domain.services import Services
from domain.users.service import UserService
from infra.auth.passwords import Argon2PasswordHasher
from infra.auth.tokens import JwtCodec, load_or_create_secret
from infra.broker.memory import MemoryBroker
from infra.broker.redis import RedisBroker
from infra.db.audit import SqlAuditLog
from infra.db.engine import create_engine
from infra.db.messaging import SqlConversationRepository
from infra.db.scheduling import SqlAppointmentRepository, SqlAvailabilityRepository
from infra.db.users import SqlRefreshTokenRepository, SqlUserRepository
from infra.settings import Settings
from infra.video.livekit import video_rooms

Broker = MemoryBroker | RedisBroker


class CareRelations:
    """The users subgraph asks here whom a viewer is in care with; the subgraphs that create
    care relations answer. Bound after construction: users and messaging need each other."""

    def __init__(self) -> None:
        self.messaging: MessagingService | None = None
        self.scheduling: SchedulingService | None = None

    async def related_among(self, viewer_id: str, user_ids: Sequence[str]) -> set[str]:
        assert self.messaging is not None, "bind the subgraph services first"
        related = await self.messaging.contacts_among(viewer_id, user_ids)
        rest = [uid for uid in user_ids if uid not in related]
        if self.scheduling is not None and rest:
            related |= await self.scheduling.care_partners_among(viewer_id, rest)
        return related


class ActiveUserDirectory:
    def __init__(self, users: SqlUserRepository) -> None:
        self._users = users

    async def active_roles(self, user_ids: Sequence[str]) -> dict[str, Role]:
        return await self._users.active_roles(user_ids)

    async def display_names(self, user_ids: Sequence[str]) -> dict[str, str]:
        return {user.id: user.display_name for user in await self._users.get_many(user_ids)}


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    broker: Broker
    services: Services

    async def ready(self) -> dict[str, bool]:
        checks = {"database": False, "broker": await self.broker.ping()}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = True
        except Exception:  # readiness reports the failure; the log has it from the driver
            checks["database"] = False
        return checks

    async def close(self) -> None:
        await self.broker.close()
        await self.engine.dispose()


def build_runtime(settings: Settings, *, scheduling_clock: Clock = utc_now) -> Runtime:
    """``scheduling_clock`` lets a test move scheduling's "now" (to an appointment's start)
    while sign-in tokens keep the real time."""
    engine = create_engine(settings.effective_database_url)
    broker: Broker = (
        RedisBroker(settings.redis_url, prefix=settings.redis_prefix)
        if settings.redis_url
        else MemoryBroker()
    )
    audit = SqlAuditLog(engine)
    users_repo = SqlUserRepository(engine)
    private_key = (
        settings.jwt_private_key_file.read_bytes() if settings.jwt_private_key_file else None
    )
    codec = JwtCodec(
        issuer=settings.jwt_issuer,
        ttl=timedelta(minutes=settings.access_token_minutes),
        secret=None if private_key else load_or_create_secret(settings.data_dir),
        private_key_pem=private_key,
        supabase_secret=settings.supabase_jwt_secret,
    )
    relations = CareRelations()
    users = UserService(
        users=users_repo,
        refresh_tokens=SqlRefreshTokenRepository(engine),
        hasher=Argon2PasswordHasher(),
        tokens=codec,
        audit=audit,
        care_relations=relations,
        refresh_token_ttl=timedelta(days=settings.refresh_token_days),
    )
    messaging = MessagingService(
        conversations=SqlConversationRepository(engine),
        directory=ActiveUserDirectory(users_repo),
        bus=broker,
        audit=audit,
    )
    scheduling = SchedulingService(
        appointments=SqlAppointmentRepository(engine),
        availability=SqlAvailabilityRepository(engine),
        directory=ActiveUserDirectory(users_repo),
        bus=broker,
        video=video_rooms(settings),
        audit=audit,
        clock=scheduling_clock,
    )
    relations.messaging = messaging
    relations.scheduling = scheduling
    return Runtime(
        settings,
        engine,
        broker,
        Services(users=users, messaging=messaging, scheduling=scheduling),
    )
