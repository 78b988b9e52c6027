"""The composition root: settings in, a running set of adapters and domain services out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.messaging.service import MessagingService
from domain.principal import Role
from domain.services import Services
from domain.users.service import UserService
from infra.auth.passwords import Argon2PasswordHasher
from infra.auth.tokens import JwtCodec, load_or_create_secret
from infra.broker.memory import MemoryBroker
from infra.broker.redis import RedisBroker
from infra.db.audit import SqlAuditLog
from infra.db.engine import create_engine
from infra.db.messaging import SqlConversationRepository
from infra.db.users import SqlRefreshTokenRepository, SqlUserRepository
from infra.settings import Settings

Broker = MemoryBroker | RedisBroker


class CareRelationsDirectory:
    """The users subgraph's view of care relations, asked of the subgraphs that create them."""

    def __init__(self, messaging: MessagingService) -> None:
        self._messaging = messaging

    async def related_among(self, viewer_id: str, user_ids: Sequence[str]) -> set[str]:
        return await self._messaging.contacts_among(viewer_id, user_ids)


class LateCareRelations:
    """Breaks the users ↔ messaging construction cycle: bound once both services exist."""

    target: CareRelationsDirectory | None = None

    async def related_among(self, viewer_id: str, user_ids: Sequence[str]) -> set[str]:
        assert self.target is not None
        return await self.target.related_among(viewer_id, user_ids)


class ActiveUserDirectory:
    def __init__(self, users: SqlUserRepository) -> None:
        self._users = users

    async def active_roles(self, user_ids: Sequence[str]) -> dict[str, Role]:
        return await self._users.active_roles(user_ids)


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


def build_runtime(settings: Settings) -> Runtime:
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
    relations = LateCareRelations()
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
    relations.target = CareRelationsDirectory(messaging)
    return Runtime(settings, engine, broker, Services(users=users, messaging=messaging))
