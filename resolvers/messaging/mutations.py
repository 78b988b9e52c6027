"""Write paths of the messaging subgraph."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.messaging.models import Conversation, Message

if TYPE_CHECKING:
    from schema.context import Context


async def start_conversation(
    context: Context, *, participant_ids: list[str], subject: str | None
) -> Conversation:
    return await context.services.messaging.start_conversation(
        context.principal, participant_ids=participant_ids, subject=subject
    )


async def send_message(
    context: Context, *, conversation_id: str, body: str, study_id: str | None
) -> Message:
    return await context.services.messaging.send_message(
        context.principal, conversation_id=conversation_id, body=body, study_id=study_id
    )


async def mark_conversation_read(context: Context, *, conversation_id: str) -> Conversation:
    return await context.services.messaging.mark_read(
        context.principal, conversation_id=conversation_id
    )
