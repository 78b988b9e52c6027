"""Local fan-out shared by both brokers: one bounded queue per subscriber."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

FEED_CAPACITY = 1000


class Feed:
    """A subscriber's queue. On overflow it drops events and yields ``None`` once, which tells
    the consumer to catch up from storage instead of silently missing messages."""

    def __init__(self, capacity: int = FEED_CAPACITY) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(capacity)
        self._overflowed = False

    def push(self, payload: bytes | None) -> None:
        if self._overflowed:
            return
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            self._overflowed = True

    @property
    def pending(self) -> int:
        """Events waiting to be read."""
        return self._queue.qsize()

    async def __aiter__(self) -> AsyncIterator[bytes | None]:
        while True:
            if self._overflowed and self._queue.empty():
                self._overflowed = False
                yield None
                continue
            yield await self._queue.get()


class FanOut:
    def __init__(self) -> None:
        self._feeds: defaultdict[str, set[Feed]] = defaultdict(set)

    def add(self, topic: str, feed: Feed) -> bool:
        """Register a feed; True when it is the topic's first local subscriber."""
        first = not self._feeds[topic]
        self._feeds[topic].add(feed)
        return first

    def remove(self, topic: str, feed: Feed) -> bool:
        """Unregister a feed; True when the topic has no local subscriber left."""
        feeds = self._feeds.get(topic)
        if feeds is None:
            return False
        feeds.discard(feed)
        if feeds:
            return False
        del self._feeds[topic]
        return True

    def deliver(self, topic: str, payload: bytes | None) -> None:
        for feed in tuple(self._feeds.get(topic, ())):
            feed.push(payload)

    def deliver_all(self, payload: bytes | None) -> None:
        for topic in tuple(self._feeds):
            self.deliver(topic, payload)

    @property
    def topics(self) -> list[str]:
        return list(self._feeds)
