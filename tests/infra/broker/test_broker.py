"""Both brokers against the same expectations: the in-process one, and Redis where it is set.

A broker only notifies: what it cannot deliver it must say it lost (a feed yields ``None``
once), because the consumer then catches up from storage.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from typing import TypeVar

import pytest
from redis.asyncio import Redis

from infra.broker.feeds import FEED_CAPACITY, Feed
from infra.broker.memory import MemoryBroker
from infra.broker.redis import RedisBroker
from tests.conftest import TEST_REDIS_URL

# Every wait is bounded: a lost event fails the test instead of hanging it.
WAIT = 10.0

Broker = MemoryBroker | RedisBroker
T = TypeVar("T")

needs_redis = pytest.mark.skipif(
    not TEST_REDIS_URL, reason="set CAREGRAPH_TEST_REDIS_URL to test the Redis broker"
)


async def bounded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, WAIT)


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    started: Broker = (
        MemoryBroker() if request.param == "memory"
        else RedisBroker(TEST_REDIS_URL, prefix=f"caregraph-broker-{uuid.uuid4().hex[:8]}")
    )
    await bounded(started.start())
    try:
        yield started
    finally:
        await bounded(started.close())


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(TEST_REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def take(feed: Feed, count: int) -> list[bytes | None]:
    """The next ``count`` events of ``feed``."""

    async def read() -> list[bytes | None]:
        events: list[bytes | None] = []
        async for event in feed:
            events.append(event)
            if len(events) == count:
                break
        return events

    return await bounded(read())


async def settle(broker: Broker) -> None:
    """Return once everything published before the call has reached local feeds: a probe is
    published on a topic of its own and awaited; Redis delivers one connection's messages in
    the order it received them."""
    probe = f"probe-{uuid.uuid4().hex}"
    async with broker.subscribe(probe) as feed:
        await broker.publish(probe, b"probe")
        assert await take(feed, 1) == [b"probe"]


# ---- subscribe, publish, unsubscribe


async def test_a_subscriber_gets_its_topics_events_in_order_and_no_others(broker: Broker) -> None:
    async with broker.subscribe("a") as a, broker.subscribe("b") as b:
        for topic, payload in [("a", b"1"), ("b", b"2"), ("a", b"3"), ("a", b"4")]:
            await broker.publish(topic, payload)

        assert await take(a, 3) == [b"1", b"3", b"4"]
        assert await take(b, 1) == [b"2"]


async def test_every_subscriber_of_a_topic_gets_each_event(broker: Broker) -> None:
    async with broker.subscribe("t") as first:
        async with broker.subscribe("t") as second:
            await broker.publish("t", b"both")
            assert await take(first, 1) == await take(second, 1) == [b"both"]
        # the topic stays subscribed while one local subscriber is left
        await broker.publish("t", b"first only")
        assert await take(first, 1) == [b"first only"]


async def test_an_unsubscribed_feed_gets_nothing_more(broker: Broker) -> None:
    # given a subscriber that has left
    async with broker.subscribe("t") as left:
        await broker.publish("t", b"seen")
        assert await take(left, 1) == [b"seen"]

    # when an event is published on its topic and everything published has been delivered
    await broker.publish("t", b"too late")
    await settle(broker)

    # then nothing waits in its feed, and a new subscriber starts with what comes next
    assert left.pending == 0
    async with broker.subscribe("t") as later:
        await broker.publish("t", b"next")
        assert await take(later, 1) == [b"next"]


async def test_publishing_to_a_topic_nobody_listens_to_is_fine(broker: Broker) -> None:
    await bounded(broker.publish(f"nobody-{uuid.uuid4().hex}", b"into the void"))


# ---- overflow


async def test_an_overflowing_feed_says_so_once_then_carries_on(broker: Broker) -> None:
    async with broker.subscribe("busy") as feed:
        # given a consumer that does not read while more events arrive than its feed holds
        for n in range(FEED_CAPACITY + 5):
            await broker.publish("busy", str(n).encode())
        await settle(broker)

        # then it reads what fitted, in order, and then one None: "catch up from storage"
        held = await take(feed, FEED_CAPACITY + 1)
        assert held == [str(n).encode() for n in range(FEED_CAPACITY)] + [None]
        # and once it has caught up, events flow again, without another None
        await broker.publish("busy", b"after")
        assert await take(feed, 1) == [b"after"]


async def test_a_feed_that_overflows_twice_says_so_twice() -> None:
    feed = Feed(capacity=2)
    for payload in (b"1", b"2", b"lost"):
        feed.push(payload)
    assert await take(feed, 3) == [b"1", b"2", None]

    for payload in (b"3", b"4", b"lost too"):
        feed.push(payload)
    assert await take(feed, 3) == [b"3", b"4", None]


# ---- Redis only


@needs_redis
async def test_redis_subscribe_returns_only_once_redis_confirms(redis: Redis) -> None:
    # given a broker whose reader (which sees confirmations) is not running yet
    broker = RedisBroker(TEST_REDIS_URL, prefix=f"caregraph-broker-{uuid.uuid4().hex[:8]}")
    name = broker.channel("t")
    entered = asyncio.Event()

    async def hold() -> None:
        async with broker.subscribe("t"):
            entered.set()
            await asyncio.Event().wait()

    holding = asyncio.create_task(hold())
    try:
        # when Redis has the subscription, the subscriber is still waiting for the confirmation
        await bounded(until_numsub(redis, name, 1))
        assert not entered.is_set()
        # then it is in as soon as the reader reads that confirmation
        await bounded(broker.start())
        await bounded(entered.wait())
    finally:
        holding.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holding
        await bounded(broker.close())


@needs_redis
async def test_what_another_broker_publishes_right_after_subscribe_returns_arrives(
    redis: Redis,
) -> None:
    # given two brokers on one Redis, as two processes would have
    prefix = f"caregraph-broker-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        here, there = (RedisBroker(TEST_REDIS_URL, prefix=prefix),
                       RedisBroker(TEST_REDIS_URL, prefix=prefix))
        for broker in (here, there):
            await bounded(broker.start())
            stack.push_async_callback(broker.close)

        for attempt in range(20):
            topic = f"fresh-{attempt}"
            # when a subscriber is in, with nothing awaited in between
            async with here.subscribe(topic) as feed:
                # then Redis counts it already, and what the other broker publishes arrives
                assert await redis.pubsub_numsub(here.channel(topic)) == [
                    (here.channel(topic).encode(), 1)]
                await there.publish(topic, b"right away")
                assert await take(feed, 1) == [b"right away"]


@needs_redis
async def test_redis_unsubscribes_when_the_last_local_subscriber_leaves(redis: Redis) -> None:
    broker = RedisBroker(TEST_REDIS_URL, prefix=f"caregraph-broker-{uuid.uuid4().hex[:8]}")
    await bounded(broker.start())
    try:
        name = broker.channel("t")
        async with broker.subscribe("t"), broker.subscribe("t"):
            assert await redis.pubsub_numsub(name) == [(name.encode(), 1)]
        await bounded(until_numsub(redis, name, 0))
    finally:
        await bounded(broker.close())


@needs_redis
async def test_a_subscriber_that_gives_up_before_confirmation_leaves_no_subscription(
    redis: Redis,
) -> None:
    # given a broker whose confirmations cannot arrive (its reader is not running)
    broker = RedisBroker(TEST_REDIS_URL, prefix=f"caregraph-broker-{uuid.uuid4().hex[:8]}")
    name = broker.channel("t")

    async def hold() -> None:
        async with broker.subscribe("t"):
            raise AssertionError("entered without a confirmation")

    try:
        # when a subscriber is cancelled once Redis has the subscription but before it is
        # confirmed (a WebSocket client that disconnects at that moment)
        waiting = asyncio.create_task(hold())
        await bounded(until_numsub(redis, name, 1))
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(waiting)

        # then the broker drops it: Redis forgets the channel, and the next subscriber is
        # confirmed afresh
        await bounded(until_numsub(redis, name, 0))
        await bounded(broker.start())
        async with broker.subscribe("t") as feed:
            assert await redis.pubsub_numsub(name) == [(name.encode(), 1)]
            await broker.publish("t", b"works")
            assert await take(feed, 1) == [b"works"]
    finally:
        await bounded(broker.close())


@needs_redis
async def test_after_a_lost_redis_connection_feeds_catch_up_once_resubscribed(
    redis: Redis,
) -> None:
    broker = RedisBroker(TEST_REDIS_URL, prefix=f"caregraph-broker-{uuid.uuid4().hex[:8]}")
    await bounded(broker.start())
    try:
        async with broker.subscribe("t") as feed:
            # given a subscriber whose broker loses its pub/sub connection
            [killed] = [c for c in await redis.client_list()
                        if c["name"] == broker.client_name and int(c["sub"]) > 0]
            await redis.client_kill_filter(_id=killed["id"])

            # then its feed yields None (events may have been missed: read storage), and by
            # then the broker is subscribed again, so what is published next arrives
            assert await take(feed, 1) == [None]
            assert await redis.pubsub_numsub(broker.channel("t")) == [
                (broker.channel("t").encode(), 1)]
            await broker.publish("t", b"after the outage")
            assert await take(feed, 1) == [b"after the outage"]
    finally:
        await bounded(broker.close())


async def until_numsub(redis: Redis, name: str, count: int) -> None:
    """Wait (callers bound it) until Redis counts ``count`` subscribers of ``name``."""
    while True:
        if await redis.pubsub_numsub(name) == [(name.encode(), count)]:
            return
        await asyncio.sleep(0.01)
