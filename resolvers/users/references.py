"""Entity references into the users subgraph: same access checks as ``user(id)``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.users.models import User
from resolvers.users import queries

if TYPE_CHECKING:
    from schema.context import Context


async def user(context: Context, user_id: str) -> User:
    return await queries.user(context, user_id)
