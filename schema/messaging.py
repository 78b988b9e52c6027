"""The messaging subgraph: conversations, messages, read markers, live message events."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import datetime

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet

from domain.messaging import models
from resolvers.messaging import mutations, queries, subscriptions
from schema.context import Info
from schema.pagination import Connection
from schema.subgraph import SubgraphSpec


@strawberry.federation.type(keys=["id"])
class User:
    """The users' entity, as messaging sees it: an id to hang conversations on."""

    id: strawberry.ID

    @strawberry.field(description="The caller's own conversations, most recent activity first.")
    async def conversations(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Conversation]:
        page, cursors = await queries.conversations(
            info.context, user_id=self.id, first=first, after=after
        )
        return Connection.of(
            [Conversation.from_domain(c) for c in page.conversations],
            cursors,
            has_next_page=page.has_next_page,
            has_previous_page=after is not None,
        )

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.federation.type(keys=[Key(fields=FieldSet("id"), resolvable=False)])
class ImagingStudy:
    """The imaging subgraph's entity, as a message refers to it: by id only."""

    id: strawberry.ID


@strawberry.federation.type(keys=["id"])
class Conversation:
    id: strawberry.ID
    subject: str | None
    created_at: datetime
    last_activity_at: datetime

    @classmethod
    def from_domain(cls, conversation: models.Conversation) -> Conversation:
        return cls(
            id=strawberry.ID(conversation.id),
            subject=conversation.subject,
            created_at=conversation.created_at,
            last_activity_at=conversation.last_activity_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Conversation:
        return cls.from_domain(await queries.conversation(info.context, id))

    @strawberry.field
    async def participants(self, info: Info) -> list[User]:
        return [
            User(id=strawberry.ID(uid))
            for uid in await queries.participant_ids(info.context, self.id)
        ]

    @strawberry.field(description="Messages from others after the caller's read marker.")
    async def unread_count(self, info: Info) -> int:
        return await queries.unread_count(info.context, self.id)

    @strawberry.field(description="Oldest first. `last`/`before` page backwards from the newest.")
    async def messages(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Message]:
        page = await queries.messages(
            info.context,
            conversation_id=self.id,
            first=first,
            after=after,
            last=last,
            before=before,
        )
        nodes = [Message.from_domain(m) for m in page.messages]
        return Connection.of(
            nodes,
            [node.cursor for node in nodes],
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
        )


@strawberry.federation.type(keys=["id"])
class Message:
    id: strawberry.ID
    body: str
    sent_at: datetime
    cursor: str = strawberry.field(description="Pass as `after` to resume after this message.")
    conversation_id: strawberry.Private[str]
    sender_id: strawberry.Private[str]
    study_id: strawberry.Private[str | None] = None

    @classmethod
    def from_domain(cls, message: models.Message) -> Message:
        return cls(
            id=strawberry.ID(message.id),
            body=message.body,
            sent_at=message.sent_at,
            cursor=queries.message_cursor(message),
            conversation_id=message.conversation_id,
            sender_id=message.sender_id,
            study_id=message.study_id,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Message:
        return cls.from_domain(await queries.message(info.context, id))

    @strawberry.field
    async def conversation(self, info: Info) -> Conversation:
        return Conversation.from_domain(
            await queries.conversation(info.context, self.conversation_id)
        )

    @strawberry.field
    def sender(self) -> User:
        return User(id=strawberry.ID(self.sender_id))

    @strawberry.field(description="A study shared in this message, if the reader may see it.")
    def study(self) -> ImagingStudy | None:
        return ImagingStudy(id=strawberry.ID(self.study_id)) if self.study_id else None


@strawberry.type(name="Query")
class MessagingQuery:
    @strawberry.field
    async def conversation(self, info: Info, id: strawberry.ID) -> Conversation | None:
        return Conversation.from_domain(await queries.conversation(info.context, id))


@strawberry.type(name="Mutation")
class MessagingMutation:
    @strawberry.mutation(description="Patients may start conversations with doctors only.")
    async def start_conversation(
        self, info: Info, participant_ids: list[strawberry.ID], subject: str | None = None
    ) -> Conversation:
        return Conversation.from_domain(
            await mutations.start_conversation(
                info.context, participant_ids=[str(i) for i in participant_ids], subject=subject
            )
        )

    @strawberry.mutation(
        description="`studyId`: share a study you may see, of a patient in the conversation."
    )
    async def send_message(
        self,
        info: Info,
        conversation_id: strawberry.ID,
        body: str,
        study_id: strawberry.ID | None = None,
    ) -> Message:
        return Message.from_domain(
            await mutations.send_message(
                info.context, conversation_id=conversation_id, body=body, study_id=study_id
            )
        )

    @strawberry.mutation
    async def mark_conversation_read(
        self, info: Info, conversation_id: strawberry.ID
    ) -> Conversation:
        return Conversation.from_domain(
            await mutations.mark_conversation_read(info.context, conversation_id=conversation_id)
        )


@strawberry.type(name="Subscription")
class MessagingSubscription:
    @strawberry.subscription(
        description="Messages after the `after` cursor (or from now on), then live ones, in order."
    )
    async def message_added(
        self, info: Info, conversation_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[Message, None]:
        stream = subscriptions.message_added(
            info.context, conversation_id=conversation_id, after=after
        )
        # aclosing: when the client leaves, the broker subscription ends now, not at GC time.
        async with aclosing(stream) as messages:
            async for message in messages:
                yield Message.from_domain(message)


SUBGRAPH = SubgraphSpec(
    name="messaging",
    query=MessagingQuery,
    mutation=MessagingMutation,
    subscription=MessagingSubscription,
    types=(User, Conversation, Message, ImagingStudy),
)
