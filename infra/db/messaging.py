"""SQL storage for the messaging subgraph: conversations, participants, messages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.messaging.models import Conversation, Message
from infra.db.engine import autocommit
from infra.db.tables import conversation_participants as participants
from infra.db.tables import conversations, messages


def _conversation(row: Any) -> Conversation:
    return Conversation(
        id=row.id,
        subject=row.subject,
        created_at=row.created_at,
        last_activity_at=row.last_activity_at,
        last_seq=row.last_seq,
    )


def _message(row: Any) -> Message:
    return Message(
        id=row.id,
        conversation_id=row.conversation_id,
        seq=row.seq,
        sender_id=row.sender_id,
        body=row.body,
        sent_at=row.sent_at,
        study_id=row.study_id,
    )


class SqlConversationRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    async def create(self, conversation: Conversation, participant_ids: Sequence[str]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                conversations.insert().values(
                    id=conversation.id,
                    subject=conversation.subject,
                    created_at=conversation.created_at,
                    last_activity_at=conversation.last_activity_at,
                    last_seq=0,
                )
            )
            await conn.execute(
                participants.insert(),
                [
                    {"conversation_id": conversation.id, "user_id": uid, "last_read_seq": 0}
                    for uid in participant_ids
                ],
            )

    async def get_many(self, conversation_ids: Sequence[str]) -> list[Conversation]:
        if not conversation_ids:
            return []
        async with self._reads.connect() as conn:
            rows = await conn.execute(
                select(conversations).where(conversations.c.id.in_(conversation_ids))
            )
            return [_conversation(row) for row in rows]

    async def message(self, message_id: str) -> Message | None:
        async with self._reads.connect() as conn:
            row = (await conn.execute(select(messages).where(messages.c.id == message_id))).first()
        return _message(row) if row else None

    async def participant_ids(self, conversation_ids: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = defaultdict(list)
        if not conversation_ids:
            return found
        async with self._reads.connect() as conn:
            rows = await conn.execute(
                select(participants.c.conversation_id, participants.c.user_id)
                .where(participants.c.conversation_id.in_(conversation_ids))
                .order_by(participants.c.conversation_id, participants.c.user_id)
            )
            for row in rows:
                found[row.conversation_id].append(row.user_id)
        return dict(found)

    async def for_user(
        self, user_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Conversation]:
        query = (
            select(conversations)
            .join(participants, participants.c.conversation_id == conversations.c.id)
            .where(participants.c.user_id == user_id)
        )
        if after:
            query = query.where(
                tuple_(conversations.c.last_activity_at, conversations.c.id) < tuple_(*after)
            )
        query = query.order_by(
            conversations.c.last_activity_at.desc(), conversations.c.id.desc()
        ).limit(limit)
        async with self._reads.connect() as conn:
            return [_conversation(row) for row in await conn.execute(query)]

    async def unread_counts(self, user_id: str, conversation_ids: Sequence[str]) -> dict[str, int]:
        if not conversation_ids:
            return {}
        query = (
            select(participants.c.conversation_id, func.count(messages.c.id).label("unread"))
            .select_from(participants)
            .outerjoin(
                messages,
                and_(
                    messages.c.conversation_id == participants.c.conversation_id,
                    messages.c.seq > participants.c.last_read_seq,
                    messages.c.sender_id != participants.c.user_id,
                ),
            )
            .where(
                participants.c.user_id == user_id,
                participants.c.conversation_id.in_(conversation_ids),
            )
            .group_by(participants.c.conversation_id)
        )
        async with self._reads.connect() as conn:
            return {row.conversation_id: int(row.unread) for row in await conn.execute(query)}

    async def append(self, message: Message) -> Message:
        async with self._engine.begin() as conn:
            # Taking the next seq is an UPDATE of the conversation row, so concurrent senders
            # queue on its lock and seq order is commit order.
            seq = (
                await conn.execute(
                    update(conversations)
                    .where(conversations.c.id == message.conversation_id)
                    .values(last_seq=conversations.c.last_seq + 1, last_activity_at=message.sent_at)
                    .returning(conversations.c.last_seq)
                )
            ).scalar_one()
            await conn.execute(
                messages.insert().values(
                    id=message.id,
                    conversation_id=message.conversation_id,
                    seq=seq,
                    sender_id=message.sender_id,
                    body=message.body,
                    study_id=message.study_id,
                    sent_at=message.sent_at,
                )
            )
        return Message(
            id=message.id,
            conversation_id=message.conversation_id,
            seq=seq,
            sender_id=message.sender_id,
            body=message.body,
            sent_at=message.sent_at,
            study_id=message.study_id,
        )

    async def messages(
        self,
        conversation_id: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int,
        newest_first: bool = False,
    ) -> list[Message]:
        query = select(messages).where(messages.c.conversation_id == conversation_id)
        if after_seq is not None:
            query = query.where(messages.c.seq > after_seq)
        if before_seq is not None:
            query = query.where(messages.c.seq < before_seq)
        order = messages.c.seq.desc() if newest_first else messages.c.seq.asc()
        async with self._reads.connect() as conn:
            rows = await conn.execute(query.order_by(order).limit(limit))
            return [_message(row) for row in rows]

    async def mark_read(self, conversation_id: str, user_id: str) -> None:
        latest = (
            select(conversations.c.last_seq)
            .where(conversations.c.id == conversation_id)
            .scalar_subquery()
        )
        async with self._engine.begin() as conn:
            await conn.execute(
                update(participants)
                .where(
                    participants.c.conversation_id == conversation_id,
                    participants.c.user_id == user_id,
                )
                .values(last_read_seq=latest)
            )

    async def contacts_among(self, user_id: str, other_ids: Sequence[str]) -> set[str]:
        if not other_ids:
            return set()
        mine = participants.alias("mine")
        theirs = participants.alias("theirs")
        query = (
            select(theirs.c.user_id)
            .distinct()
            .select_from(mine.join(theirs, mine.c.conversation_id == theirs.c.conversation_id))
            .where(mine.c.user_id == user_id, theirs.c.user_id.in_(other_ids))
        )
        async with self._reads.connect() as conn:
            return {row.user_id for row in await conn.execute(query)}
