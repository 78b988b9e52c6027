"""Read paths of the messaging subgraph."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.errors import bad_input, not_found
from domain.messaging.models import Conversation, ConversationPage, Message, MessagePage
from resolvers.messaging.loaders import (
    ConversationByIdLoader,
    ParticipantIdsByConversationLoader,
    UnreadCountByConversationLoader,
)
from resolvers.pagination import decode_cursor, encode_cursor, page_size

if TYPE_CHECKING:
    from schema.context import Context


def message_cursor(message: Message) -> str:
    return encode_cursor("msg", message.seq)


def message_seq(cursor: str | None, *, field: str) -> int | None:
    if cursor is None:
        return None
    [seq] = decode_cursor(cursor, "msg", field=field)
    if not isinstance(seq, int) or seq < 0:
        raise bad_input("Invalid cursor", field=field)
    return seq


async def conversation(context: Context, conversation_id: str) -> Conversation:
    found = await context.loader(ConversationByIdLoader).load(conversation_id)
    if found is None:
        raise not_found("Conversation")
    return found


async def conversations(
    context: Context, *, user_id: str, first: int | None, after: str | None
) -> tuple[ConversationPage, list[str]]:
    key = None
    if after is not None:
        at, cid = decode_cursor(after, "conv")
        try:
            key = (datetime.fromisoformat(str(at)), str(cid))
        except ValueError:
            raise bad_input("Invalid cursor", field="after") from None
    page = await context.services.messaging.conversations(
        context.principal, user_id=user_id, first=page_size(first), after=key
    )
    cursors = [
        encode_cursor("conv", c.last_activity_at.isoformat(), c.id) for c in page.conversations
    ]
    return page, cursors


async def participant_ids(context: Context, conversation_id: str) -> list[str]:
    return await context.loader(ParticipantIdsByConversationLoader).load(conversation_id)


async def unread_count(context: Context, conversation_id: str) -> int:
    return await context.loader(UnreadCountByConversationLoader).load(conversation_id)


async def messages(
    context: Context,
    *,
    conversation_id: str,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> MessagePage:
    if first is not None and last is not None:
        raise bad_input("Use first or last, not both", field="last")
    return await context.services.messaging.messages(
        context.principal,
        conversation_id=conversation_id,
        first=page_size(first) if last is None else None,
        after=message_seq(after, field="after"),
        last=page_size(last, field="last") if last is not None else None,
        before=message_seq(before, field="before"),
    )


async def message(context: Context, message_id: str) -> Message:
    return await context.services.messaging.get_message(context.principal, message_id)
