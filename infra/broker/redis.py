"""Redis pub/sub broker: events reach subscribers of every process that shares the Redis.

One pub/sub connection per process carries all of its topics; a reader task fans messages
out to local feeds. Redis pub/sub forgets what it could not deliver, so after a reconnect
every feed gets ``None`` and its consumer catches up from the database: once, and only when
the new connection is subscribed again, so that nothing falls between the catch-up and the
first live event.
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

CONFIRMATION_SECONDS = 10.0
STANDING_TOPIC = "__process__"


class RedisBroker:
    def __init__(self, url: str, *, prefix: str = "caregraph") -> None:
        # Named, so that an operator (or a test) finds this process's connections in CLIENT LIST.
        self.client_name = f"{prefix}-broker".replace(" ", "-")
        self._redis: Redis = Redis.from_url(url, client_name=self.client_name)
        self._pubsub: Any = self._redis.pubsub()
        self._prefix = prefix + ":"
        self._fanout = FanOut()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def client(self) -> Redis:
        """The broker's command connection pool, for other small shared state (rate limits)."""
        return self._redis

    def channel(self, topic: str) -> str:
        """The Redis channel that carries ``topic``."""
        return self._prefix + topic

    async def start(self) -> None:
        # A standing subscription keeps the connection in pub/sub mode from the start.
        await self._pubsub.subscribe(self.channel(STANDING_TOPIC))
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
        await self._redis.publish(self.channel(topic), payload)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Feed]:
        feed = Feed()
        async with self._lock:
            await self._add(topic, feed)
        try:
            yield feed
        finally:
            async with self._lock:
                await self._remove(topic, feed)

    async def _add(self, topic: str, feed: Feed) -> None:
        if not self._fanout.add(topic, feed):
            return
        # Return only once Redis confirms, so that whatever is published after this point is
        # delivered: the caller reads storage next and relies on that.
        channel = self.channel(topic)
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmed
        try:
            await self._pubsub.subscribe(channel)
            await asyncio.wait_for(confirmed, timeout=CONFIRMATION_SECONDS)
        except BaseException:
            # Cancelled (a client that left) or never confirmed: leave nothing behind, or the
            # channel would stay subscribed for good, feeding a queue that nobody reads.
            self._confirmations.pop(channel, None)
            await self._remove(topic, feed)
            raise

    async def _remove(self, topic: str, feed: Feed) -> None:
        if self._fanout.remove(topic, feed):
            with suppress(RedisConnectionError, RedisTimeoutError, OSError):
                await self._pubsub.unsubscribe(self.channel(topic))

    async def _read(self) -> None:
        standing = self.channel(STANDING_TOPIC)
        connections = 0
        while True:
            try:
                message = await self._pubsub.get_message(timeout=5.0)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                # The next get_message reconnects; redis-py then subscribes the new connection
                # to every channel again. It may also do so inside get_message, unseen here.
                log.warning("redis pub/sub connection lost; reconnecting")
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "subscribe":
                if channel == standing:
                    connections += 1
                    if connections > 1:
                        self._resubscribed()
                confirmed = self._confirmations.pop(channel, None)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
            elif message["type"] == "message" and channel.startswith(self._prefix):
                self._fanout.deliver(channel[len(self._prefix) :], message["data"])

    def _resubscribed(self) -> None:
        # The standing channel is confirmed again: a new connection, subscribed by redis-py to
        # all channels in one SUBSCRIBE (Redis runs a command whole before it replies). What was
        # published while disconnected is lost to pub/sub but committed to storage.
        log.warning("redis pub/sub resubscribed; subscribers catch up from storage")
        self._fanout.deliver_all(None)
