"""Write paths of the users subgraph: each validates shape and calls one domain function."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.principal import Role
from domain.users.models import Session, User

if TYPE_CHECKING:
    from schema.context import Context


async def sign_up(context: Context, *, email: str, password: str, display_name: str) -> Session:
    return await context.services.users.sign_up(
        email=email, password=password, display_name=display_name, request_id=context.request_id
    )


async def sign_in(context: Context, *, email: str, password: str) -> Session:
    return await context.services.users.sign_in(
        email=email, password=password, request_id=context.request_id
    )


async def refresh_session(context: Context, *, refresh_token: str) -> Session:
    return await context.services.users.refresh(
        refresh_token=refresh_token, request_id=context.request_id
    )


async def sign_out(context: Context, *, refresh_token: str) -> bool:
    return await context.services.users.sign_out(
        refresh_token=refresh_token, request_id=context.request_id
    )


async def update_profile(
    context: Context, *, display_name: str | None, specialty: str | None, bio: str | None
) -> User:
    return await context.services.users.update_profile(
        context.principal, display_name=display_name, specialty=specialty, bio=bio
    )


async def set_user_role(context: Context, *, user_id: str, role: Role) -> User:
    return await context.services.users.set_role(context.principal, user_id=user_id, role=role)


async def disable_user(context: Context, *, user_id: str) -> User:
    return await context.services.users.disable_user(context.principal, user_id=user_id)
