"""Redis pub/sub broker: events reach subscribers of every process that shares the Redis.

One pub/sub connection per process carries all of its topics; a reader task fans messages
out to local feeds. Redis pub/sub forgets what it could not deliver, so after a reconnect
every feed gets ``None`` and its consumer catches up from the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.broker.feeds import FanOut, Feed

log = logging.getLogger(__name__)


class RedisBroker:
    def __init__(self, url: str, *, prefix: str = "caregraph") -> None:
        self._redis: Redis = Redis.from_url(url)
        self._pubsub: Any = self._redis.pubsub()
        self._prefix = prefix + ":"
        self._fanout = FanOut()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def _channel(self, topic: str) -> str:
        return self._prefix + topic

    async def start(self) -> None:
        # A standing subscription keeps the connection in pub/sub mode from the start.
        await self._pubsub.subscribe(self._channel("__process__"))
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisConnectionError, RedisTimeoutError, OSError):
            return False

    async def publish(self, topic: str, payload: bytes) -> None:
        await self._redis.publish(self._channel(topic), payload)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Feed]:
        feed = Feed()
        channel = self._channel(topic)
        async with self._lock:
            if self._fanout.add(topic, feed):
                # Return only once Redis confirms, so that whatever is published after this
                # point is delivered: the caller reads storage next and relies on that.
                confirmed = asyncio.get_running_loop().create_future()
                self._confirmations[channel] = confirmed
                await self._pubsub.subscribe(channel)
                await asyncio.wait_for(confirmed, timeout=10)
        try:
            yield feed
        finally:
            async with self._lock:
                if self._fanout.remove(topic, feed):
                    with suppress(RedisConnectionError, RedisTimeoutError, OSError):
                        await self._pubsub.unsubscribe(channel)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=5.0)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                log.warning("redis pub/sub connection lost; reconnecting")
                await asyncio.sleep(0.5)
                self._fanout.deliver_all(None)
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "subscribe":
                confirmed = self._confirmations.pop(channel, None)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
            elif message["type"] == "message" and channel.startswith(self._prefix):
                self._fanout.deliver(channel[len(self._prefix) :], message["data"])
