"""Live paths of the messaging subgraph."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING

from domain.messaging.models import Message
from resolvers.messaging.queries import message_seq

if TYPE_CHECKING:
    from schema.context import Context


async def message_added(
    context: Context, *, conversation_id: str, after: str | None
) -> AsyncGenerator[Message, None]:
    stream = context.services.messaging.stream(
        context.principal, conversation_id=conversation_id, after=message_seq(after, field="after")
    )
    async with aclosing(stream) as messages:
        async for message in messages:
            yield message
