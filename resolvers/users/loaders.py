"""Batched, permission-checked user lookups for one request."""

from __future__ import annotations

from collections.abc import Sequence

from domain.users.models import User
from resolvers.loading import ContextLoader


class UserByIdLoader(ContextLoader[str, User | None]):
    """Users by id; None where the record is absent or not the caller's to see."""

    async def batch_load_fn(self, keys: Sequence[str]) -> list[User | None]:
        context = self.context
        return await context.services.users.get_users(context.principal, keys)
