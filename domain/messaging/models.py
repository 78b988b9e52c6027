"""Conversations between patients and doctors, and the messages in them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    subject: str | None
    created_at: datetime
    last_activity_at: datetime
    last_seq: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    """``seq`` numbers a conversation's messages 1, 2, 3… in commit order; cursors carry it."""

    id: str
    conversation_id: str
    seq: int
    sender_id: str
    body: str
    sent_at: datetime
    study_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationPage:
    conversations: list[Conversation]
    has_next_page: bool


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: list[Message]
    has_next_page: bool
    has_previous_page: bool
