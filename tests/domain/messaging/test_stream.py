"""The stream's ordering rules, with storage and the live feed under the test's control.

Real transports deliver events late, twice, out of order or not at all (a dropped Redis
connection, an overflowing feed). Whatever the feed does, a subscriber sees every message
after its cursor once, in ``seq`` order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from domain.audit import AuditEvent
from domain.messaging import events
from domain.messaging.models import Conversation, Message
from domain.messaging.service import MessagingService
from domain.principal import Principal, Role

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALICE = Principal(user_id="alice", role=Role.PATIENT)


def message(seq: int) -> Message:
    return Message(id=f"m{seq}", conversation_id="c1", seq=seq, sender_id="bob",
                   body=f"body {seq}", sent_at=NOW)


class Storage:
    """Just enough of ConversationRepository for streaming."""

    def __init__(self, count: int) -> None:
        self.rows = [message(seq) for seq in range(1, count + 1)]

    async def participant_ids(self, ids: Sequence[str]) -> dict[str, list[str]]:
        return {"c1": ["alice", "bob"]} if "c1" in ids else {}

    async def get_many(self, ids: Sequence[str]) -> list[Conversation]:
        last = self.rows[-1].seq if self.rows else 0
        return [Conversation("c1", None, NOW, NOW, last_seq=last)]

    async def messages(self, conversation_id: str, *, after_seq: int | None = None,
                       before_seq: int | None = None, limit: int,
                       newest_first: bool = False) -> list[Message]:
        return [m for m in self.rows if m.seq > (after_seq or 0)][:limit]


class Feed:
    """A live feed whose events the test pushes by hand."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def __aiter__(self) -> AsyncIterator[bytes | None]:
        while True:
            yield await self.queue.get()


class Bus:
    """Like pub/sub: a publish reaches only feeds subscribed at that moment."""

    def __init__(self) -> None:
        self.feed = Feed()
        self.subscribed = False

    async def publish(self, topic: str, payload: bytes) -> None:
        if self.subscribed:
            await self.feed.queue.put(payload)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Feed]:
        self.subscribed = True
        try:
            yield self.feed
        finally:
            self.subscribed = False


class NoAudit:
    async def record(self, *events: AuditEvent) -> None:
        return None


def service(storage: Storage, bus: Bus) -> MessagingService:
    return MessagingService(conversations=storage, directory=None, bus=bus,  # type: ignore[arg-type]
                            audit=NoAudit(), clock=lambda: NOW)


async def take(stream: AsyncIterator[Message], count: int) -> list[int]:
    async def collect() -> list[int]:
        return [(await anext(stream)).seq for _ in range(count)]

    return await asyncio.wait_for(collect(), timeout=5)


async def test_replays_after_the_cursor_then_goes_live() -> None:
    storage, bus = Storage(5), Bus()
    stream = service(storage, bus).stream(ALICE, conversation_id="c1", after=2)
    assert await take(stream, 3) == [3, 4, 5]
    storage.rows.append(message(6))
    await bus.feed.queue.put(events.encode(message(6)))
    assert await take(stream, 1) == [6]


async def test_a_message_committed_during_the_replay_is_not_lost() -> None:
    # given storage where another sender commits message 4 right after the replay query
    storage, bus = Storage(3), Bus()
    replay = storage.messages

    async def racing_messages(*args: object, **kwargs: object) -> list[Message]:
        page = await replay(*args, **kwargs)  # type: ignore[arg-type]
        if len(storage.rows) == 3:
            storage.rows.append(message(4))
            await bus.publish("conversation:c1", events.encode(message(4)))
        return page

    storage.messages = racing_messages  # type: ignore[method-assign]
    # then the subscriber gets it, although nothing is published after it
    stream = service(storage, bus).stream(ALICE, conversation_id="c1", after=0)
    assert await take(stream, 4) == [1, 2, 3, 4]


async def test_duplicates_from_the_feed_are_dropped() -> None:
    storage, bus = Storage(3), Bus()
    stream = service(storage, bus).stream(ALICE, conversation_id="c1", after=0)
    assert await take(stream, 3) == [1, 2, 3]
    # the feed still carries messages committed during the replay
    for seq in (2, 3):
        await bus.feed.queue.put(events.encode(message(seq)))
    storage.rows.append(message(4))
    await bus.feed.queue.put(events.encode(message(4)))
    assert await take(stream, 1) == [4]


async def test_a_gap_is_filled_from_storage() -> None:
    storage, bus = Storage(1), Bus()
    stream = service(storage, bus).stream(ALICE, conversation_id="c1", after=1)
    storage.rows += [message(2), message(3), message(4)]
    # 2 and 3 were published by another process and arrive after 4, or never
    await bus.feed.queue.put(events.encode(message(4)))
    await bus.feed.queue.put(events.encode(message(2)))
    await bus.feed.queue.put(events.encode(message(3)))
    storage.rows.append(message(5))
    await bus.feed.queue.put(events.encode(message(5)))
    assert await take(stream, 4) == [2, 3, 4, 5]


async def test_a_lost_feed_makes_the_subscriber_catch_up() -> None:
    storage, bus = Storage(2), Bus()
    stream = service(storage, bus).stream(ALICE, conversation_id="c1", after=2)
    storage.rows += [message(3), message(4)]
    await bus.feed.queue.put(None)  # the feed overflowed or the broker reconnected
    assert await take(stream, 2) == [3, 4]


async def test_no_cursor_starts_after_the_latest_message() -> None:
    storage, bus = Storage(10), Bus()
    stream = service(storage, bus).stream(ALICE, conversation_id="c1", after=None)
    pending = asyncio.ensure_future(take(stream, 1))
    await asyncio.sleep(0.05)  # the subscription is open and has read the latest seq (10)
    storage.rows.append(message(11))
    await bus.feed.queue.put(events.encode(message(11)))
    assert await pending == [11]
