"""Failure counters in a fixed time window: in-process, or in Redis so replicas share them."""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis


class MemoryAttemptLimiter:
    def __init__(
        self,
        *,
        max_failures: int,
        window_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}

    async def blocked(self, key: str) -> bool:
        count, _ = self._current(key)
        return count >= self._max

    async def failure(self, key: str) -> None:
        count, started = self._current(key)
        self._failures[key] = (count + 1, started)
        if len(self._failures) > 100_000:
            self._forget_expired()

    async def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _current(self, key: str) -> tuple[int, float]:
        now = self._clock()
        count, started = self._failures.get(key, (0, now))
        if now - started >= self._window:
            return 0, now
        return count, started

    def _forget_expired(self) -> None:
        now = self._clock()
        for key, (_, started) in list(self._failures.items()):
            if now - started >= self._window:
                del self._failures[key]


class RedisAttemptLimiter:
    """INCR with an expiry set by the first failure: one window per key, shared by replicas."""

    def __init__(
        self, redis: Redis, *, prefix: str, max_failures: int, window_seconds: int
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:attempts:"
        self._max = max_failures
        self._window = window_seconds

    async def blocked(self, key: str) -> bool:
        count = await self._redis.get(self._prefix + key)
        return count is not None and int(count) >= self._max

    async def failure(self, key: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._prefix + key)
            pipe.expire(self._prefix + key, self._window, nx=True)
            await pipe.execute()

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
