"""Failed sign-ins are counted per account in a window, in-process or shared through Redis."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from domain.users.ports import AttemptLimiter
from infra.attempts import MemoryAttemptLimiter, RedisAttemptLimiter
from tests.conftest import TEST_REDIS_URL, Api, make_person

SIGN_IN = """
mutation($email: String!, $password: String!) { signIn(email: $email, password: $password) {
  user { id } } }"""


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_limiter_blocks_after_the_limit_until_the_window_passes() -> None:
    clock = Clock()
    limiter = MemoryAttemptLimiter(max_failures=3, window_seconds=60, clock=clock)
    for _ in range(3):
        assert not await limiter.blocked("k")
        await limiter.failure("k")
    assert await limiter.blocked("k")
    assert not await limiter.blocked("other")
    clock.now += 60
    assert not await limiter.blocked("k")
    await limiter.failure("k")
    await limiter.clear("k")
    assert not await limiter.blocked("k")


@pytest.mark.skipif(not TEST_REDIS_URL, reason="set CAREGRAPH_TEST_REDIS_URL (.ci/run does)")
async def test_redis_limiters_of_two_processes_count_together() -> None:
    prefix = f"caregraph-test-{uuid.uuid4().hex[:8]}"
    first, second = Redis.from_url(TEST_REDIS_URL), Redis.from_url(TEST_REDIS_URL)
    try:
        a: AttemptLimiter = RedisAttemptLimiter(
            first, prefix=prefix, max_failures=4, window_seconds=60
        )
        b: AttemptLimiter = RedisAttemptLimiter(
            second, prefix=prefix, max_failures=4, window_seconds=60
        )
        for limiter in (a, b, a, b):
            await limiter.failure("sign-in:x@example.org")
        assert await a.blocked("sign-in:x@example.org")
        assert await b.blocked("sign-in:x@example.org")
        assert 0 < await first.ttl(f"{prefix}:attempts:sign-in:x@example.org") <= 60
        await b.clear("sign-in:x@example.org")
        assert not await a.blocked("sign-in:x@example.org")
    finally:
        await first.aclose()
        await second.aclose()


async def test_sign_in_is_rate_limited_per_account_after_repeated_failures(api: Api) -> None:
    # given an account, and the default limit of 5 failures per 15 minutes
    person = await make_person(api)
    bystander = await make_person(api)
    limit = api.runtime.settings.sign_in_max_failures
    # when someone guesses its password wrongly that many times
    for _ in range(limit):
        code = await api.error_code(SIGN_IN, {"email": person.email, "password": "guess-guess!"})
        assert code == "UNAUTHENTICATED"
    # then even the right password is refused for now, with RATE_LIMITED
    body = await api.post(
        SIGN_IN, {"email": person.email, "password": "correct horse battery staple"}
    )
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # and other accounts are not affected
    ok = await api.data(
        SIGN_IN, {"email": bystander.email, "password": "correct horse battery staple"}
    )
    assert ok["signIn"]["user"]["id"] == bystander.id
