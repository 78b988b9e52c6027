"""Batched, permission-checked messaging lookups for one request."""

from __future__ import annotations

from collections.abc import Sequence

from domain.messaging.models import Conversation
from resolvers.loading import ContextLoader


class ConversationByIdLoader(ContextLoader[str, Conversation | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[Conversation | None]:
        return await self.context.services.messaging.get_conversations(self.context.principal, keys)


class ParticipantIdsByConversationLoader(ContextLoader[str, list[str]]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[list[str]]:
        found = await self.context.services.messaging.participant_ids(self.context.principal, keys)
        return [found.get(key, []) for key in keys]


class UnreadCountByConversationLoader(ContextLoader[str, int]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[int]:
        found = await self.context.services.messaging.unread_counts(self.context.principal, keys)
        return [found.get(key, 0) for key in keys]
