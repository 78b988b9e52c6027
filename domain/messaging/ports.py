"""What messaging needs from outside: its tables, the people directory, and an event bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from domain.messaging.models import Conversation, Message
from domain.principal import Principal, Role


class ConversationRepository(Protocol):
    async def create(self, conversation: Conversation, participant_ids: Sequence[str]) -> None: ...
    async def get_many(self, conversation_ids: Sequence[str]) -> list[Conversation]: ...
    async def message(self, message_id: str) -> Message | None: ...
    async def participant_ids(self, conversation_ids: Sequence[str]) -> dict[str, list[str]]: ...
    async def for_user(
        self, user_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[Conversation]: ...
    async def unread_counts(
        self, user_id: str, conversation_ids: Sequence[str]
    ) -> dict[str, int]: ...
    async def append(self, message: Message) -> Message:
        """Store a message with the conversation's next ``seq``; return it as stored."""
        ...

    async def messages(
        self,
        conversation_id: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int,
        newest_first: bool = False,
    ) -> list[Message]: ...
    async def mark_read(self, conversation_id: str, user_id: str) -> None: ...
    async def contacts_among(self, user_id: str, other_ids: Sequence[str]) -> set[str]: ...


class UserDirectory(Protocol):
    async def active_roles(self, user_ids: Sequence[str]) -> dict[str, Role]:
        """Roles of the users that exist and are not disabled."""
        ...


class LiveFeed(Protocol):
    """A topic subscription. ``None`` means events may have been dropped: catch up from storage."""

    def __aiter__(self) -> AsyncIterator[bytes | None]: ...


class EventBus(Protocol):
    async def publish(self, topic: str, payload: bytes) -> None: ...
    def subscribe(self, topic: str) -> AbstractAsyncContextManager[LiveFeed]: ...


class StudyDirectory(Protocol):
    async def patient_of_visible_study(self, viewer: Principal, study_id: str) -> str | None:
        """The study's patient, when ``viewer`` may see the study; None otherwise."""
        ...
