"""SQL storage for the users subgraph: accounts and refresh tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.principal import Role
from domain.users.models import DoctorProfile, RefreshToken, User
from domain.users.ports import EmailTaken
from infra.db.engine import autocommit
from infra.db.tables import refresh_tokens, users

USER_COLUMNS = [c for c in users.c if c.name != "password_hash"]


def _user(row: Any) -> User:
    profile = None
    if row.role == Role.DOCTOR.value:
        profile = DoctorProfile(specialty=row.specialty or "", bio=row.bio)
    return User(
        id=row.id,
        email=row.email,
        display_name=row.display_name,
        role=Role(row.role),
        created_at=row.created_at,
        disabled=row.disabled,
        doctor_profile=profile,
        external_subject=row.external_subject,
    )


def _user_values(user: User) -> dict[str, Any]:
    profile = user.doctor_profile
    return {
        "email": user.email,
        "display_name": user.display_name,
        "role": user.role.value,
        "disabled": user.disabled,
        "specialty": profile.specialty if profile else None,
        "bio": profile.bio if profile else None,
        "external_subject": user.external_subject,
    }


class SqlUserRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    async def add(self, user: User, password_hash: str | None) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    users.insert().values(
                        id=user.id,
                        created_at=user.created_at,
                        password_hash=password_hash,
                        **_user_values(user),
                    )
                )
        except IntegrityError as error:
            raise EmailTaken(user.email) from error

    async def get_many(self, user_ids: Sequence[str]) -> list[User]:
        if not user_ids:
            return []
        async with self._reads.connect() as conn:
            rows = await conn.execute(select(*USER_COLUMNS).where(users.c.id.in_(user_ids)))
            return [_user(row) for row in rows]

    async def credentials(self, email: str) -> tuple[User, str | None] | None:
        async with self._reads.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.email == email))).first()
        return (_user(row), row.password_hash) if row else None

    async def by_external_subject(self, subject: str) -> User | None:
        async with self._reads.connect() as conn:
            row = (
                await conn.execute(select(*USER_COLUMNS).where(users.c.external_subject == subject))
            ).first()
        return _user(row) if row else None

    async def save_profile(self, user: User) -> None:
        values: dict[str, Any] = {"display_name": user.display_name}
        if user.doctor_profile is not None:
            values.update(specialty=user.doctor_profile.specialty, bio=user.doctor_profile.bio)
        await self._update(user.id, values)

    async def set_role(self, user: User) -> None:
        profile = user.doctor_profile
        await self._update(
            user.id,
            {
                "role": user.role.value,
                "specialty": profile.specialty if profile else None,
                "bio": profile.bio if profile else None,
            },
        )

    async def disable(self, user_id: str) -> None:
        await self._update(user_id, {"disabled": True})

    async def _update(self, user_id: str, values: dict[str, Any]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(**values))

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=password_hash)
            )

    async def doctors(
        self, *, specialty: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[User]:
        query = select(*USER_COLUMNS).where(
            users.c.role == Role.DOCTOR.value, users.c.disabled.is_(False)
        )
        if specialty:
            query = query.where(users.c.specialty == specialty)
        if after:
            query = query.where(tuple_(users.c.display_name, users.c.id) > tuple_(*after))
        query = query.order_by(users.c.display_name, users.c.id).limit(limit)
        async with self._reads.connect() as conn:
            return [_user(row) for row in await conn.execute(query)]

    async def active_roles(self, user_ids: Sequence[str]) -> dict[str, Role]:
        """The directory messaging (and later scheduling) asks: roles of active users."""
        if not user_ids:
            return {}
        async with self._reads.connect() as conn:
            rows = await conn.execute(
                select(users.c.id, users.c.role).where(
                    users.c.id.in_(user_ids), users.c.disabled.is_(False)
                )
            )
            return {row.id: Role(row.role) for row in rows}


class SqlRefreshTokenRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    async def add(self, token: RefreshToken) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                refresh_tokens.insert().values(
                    id=token.id,
                    user_id=token.user_id,
                    family_id=token.family_id,
                    token_hash=token.token_hash,
                    issued_at=token.issued_at,
                    expires_at=token.expires_at,
                )
            )

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        async with self._reads.connect() as conn:
            row = (
                await conn.execute(
                    select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
                )
            ).first()
        if row is None:
            return None
        return RefreshToken(
            id=row.id,
            user_id=row.user_id,
            family_id=row.family_id,
            token_hash=row.token_hash,
            issued_at=row.issued_at,
            expires_at=row.expires_at,
            used_at=row.used_at,
            revoked_at=row.revoked_at,
        )

    async def mark_used(self, token_id: str, at: datetime) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.id == token_id,
                    refresh_tokens.c.used_at.is_(None),
                    refresh_tokens.c.revoked_at.is_(None),
                )
                .values(used_at=at)
            )
            return result.rowcount == 1

    async def revoke_family(self, family_id: str, at: datetime) -> int:
        return await self._revoke(refresh_tokens.c.family_id == family_id, at)

    async def family_revoked(self, family_id: str) -> bool:
        async with self._reads.connect() as conn:
            found = await conn.scalar(
                select(refresh_tokens.c.id)
                .where(
                    refresh_tokens.c.family_id == family_id,
                    refresh_tokens.c.revoked_at.is_not(None),
                )
                .limit(1)
            )
        return found is not None

    async def revoke_user(self, user_id: str, at: datetime) -> int:
        return await self._revoke(refresh_tokens.c.user_id == user_id, at)

    async def _revoke(self, condition: Any, at: datetime) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(refresh_tokens)
                .where(and_(condition, refresh_tokens.c.revoked_at.is_(None)))
                .values(revoked_at=at)
            )
            return int(result.rowcount)
