"""The embedded broker: events stay inside this process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from infra.broker.feeds import FanOut, Feed


class MemoryBroker:
    def __init__(self) -> None:
        self._fanout = FanOut()

    async def publish(self, topic: str, payload: bytes) -> None:
        self._fanout.deliver(topic, payload)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Feed]:
        feed = Feed()
        self._fanout.add(topic, feed)
        try:
            yield feed
        finally:
            self._fanout.remove(topic, feed)

    async def ping(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
