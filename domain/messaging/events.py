"""The wire form of a message event: JSON, self-contained, ordered by ``seq``."""

from __future__ import annotations

import json
from datetime import datetime

from domain.messaging.models import Message


def topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


def encode(message: Message) -> bytes:
    return json.dumps(
        {
            "id": message.id,
            "conversation_id": message.conversation_id,
            "seq": message.seq,
            "sender_id": message.sender_id,
            "body": message.body,
            "sent_at": message.sent_at.isoformat(),
            "study_id": message.study_id,
        },
        separators=(",", ":"),
    ).encode()


def decode(payload: bytes) -> Message:
    data = json.loads(payload)
    return Message(
        id=data["id"],
        conversation_id=data["conversation_id"],
        seq=int(data["seq"]),
        sender_id=data["sender_id"],
        body=data["body"],
        sent_at=datetime.fromisoformat(data["sent_at"]),
        study_id=data.get("study_id"),
    )
