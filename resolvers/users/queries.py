"""Read paths of the users subgraph."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.errors import bad_input, not_found
from domain.principal import require
from domain.users.models import User, UserPage
from resolvers.pagination import decode_cursor, encode_cursor, page_size
from resolvers.users.loaders import UserByIdLoader

if TYPE_CHECKING:
    from schema.context import Context


async def me(context: Context) -> User | None:
    if context.principal is None:
        return None
    return await context.loader(UserByIdLoader).load(context.principal.user_id)


async def user(context: Context, user_id: str) -> User:
    require(context.principal)
    found = await context.loader(UserByIdLoader).load(user_id)
    if found is None:
        raise not_found("User")
    return found


async def doctors(
    context: Context, *, specialty: str | None, first: int | None, after: str | None
) -> tuple[UserPage, list[str]]:
    """A page of the doctor directory and each row's cursor."""
    key = _doctor_key(after) if after is not None else None
    page = await context.services.users.doctors(
        context.principal, specialty=specialty, after=key, first=page_size(first)
    )
    return page, [encode_cursor("doctor", u.display_name, u.id) for u in page.users]


def _doctor_key(cursor: str) -> tuple[str, str]:
    """The (display name, id) a doctor cursor points after; BAD_USER_INPUT for any other shape."""
    parts = decode_cursor(cursor, "doctor")
    if len(parts) != 2 or not all(isinstance(part, str) for part in parts):
        raise bad_input("Invalid cursor", field="after")
    return parts[0], parts[1]
