"""``AttemptThrottle``: counts per key, locks that double up to a cap, and counts shared by
every process through the cache (Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio

from chainflow.core.clock import SimulatedClock, WallClock
from chainflow.core.settings import CacheSettings
from chainflow.storage.cache import open_cache
from chainflow.users.throttle import AttemptLimit, AttemptThrottle
from tests.fixtures.backends import require_backend, unique_name

START_MS = 1_750_000_000_000
LIMIT = AttemptLimit(max_attempts=3, window_s=60.0, lock_s=10.0, max_lock_s=35.0)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
async def throttle(clock: SimulatedClock) -> AsyncIterator[AttemptThrottle]:
    cache = open_cache(CacheSettings(url="memory://"), clock)
    yield AttemptThrottle(cache, clock, namespace="t", limit=LIMIT)
    await cache.close()


class TestLockLength:
    def test_doubles_per_earlier_lock_up_to_the_cap(self) -> None:
        assert [LIMIT.lock_length_s(n) for n in range(5)] == [10.0, 20.0, 35.0, 35.0, 35.0]

    def test_huge_streak_stays_at_the_cap(self) -> None:
        assert LIMIT.lock_length_s(10_000) == 35.0


class TestAdmit:
    async def test_attempt_past_the_limit_starts_the_lock(self, throttle: AttemptThrottle) -> None:
        admissions = [await throttle.admit("k") for _ in range(5)]
        assert [a.admitted for a in admissions] == [True, True, True, False, False]
        started = admissions[3].started
        assert started is not None and started.lock_s == 10.0
        assert started.locked_until_ms == START_MS + 10_000
        assert admissions[4].started is None and admissions[4].retry_after_s == 10.0

    async def test_released_attempts_do_not_count(self, throttle: AttemptThrottle) -> None:
        for _ in range(10):
            assert (await throttle.admit("k")).admitted
            await throttle.release("k")

    async def test_concurrent_burst_gets_the_limit_through(self, throttle: AttemptThrottle) -> None:
        admissions = await asyncio.gather(*(throttle.admit("k") for _ in range(50)))
        assert sum(a.admitted for a in admissions) == LIMIT.max_attempts
        assert sum(a.started is not None for a in admissions) == 1

    async def test_keys_are_independent(self, throttle: AttemptThrottle) -> None:
        for _ in range(4):
            await throttle.admit("a")
        assert (await throttle.admit("b")).admitted
        assert await throttle.retry_after_s("b") is None

    async def test_count_expires_with_the_window(
        self, throttle: AttemptThrottle, clock: SimulatedClock
    ) -> None:
        for _ in range(3):
            await throttle.admit("k")
        clock.advance_ms(60_001)
        assert (await throttle.admit("k")).admitted


class TestLock:
    async def test_retry_after_counts_down_and_ends(
        self, throttle: AttemptThrottle, clock: SimulatedClock
    ) -> None:
        for _ in range(4):
            await throttle.admit("k")
        clock.advance_ms(4_000)
        assert await throttle.retry_after_s("k") == 6.0
        clock.advance_ms(6_000)
        assert await throttle.retry_after_s("k") is None
        assert (await throttle.admit("k")).admitted

    async def test_next_locks_double_and_clear_resets_them(
        self, throttle: AttemptThrottle, clock: SimulatedClock
    ) -> None:
        lengths = []
        for _ in range(3):
            admissions = [await throttle.admit("k") for _ in range(4)]
            started = admissions[-1].started
            assert started is not None
            lengths.append(started.lock_s)
            clock.advance_ms(round(started.lock_s * 1000))
        assert lengths == [10.0, 20.0, 35.0]
        await throttle.clear("k")
        admissions = [await throttle.admit("k") for _ in range(4)]
        assert admissions[-1].started is not None and admissions[-1].started.lock_s == 10.0


class TestRecordFailure:
    async def test_failure_reaching_the_limit_starts_the_lock(
        self, throttle: AttemptThrottle
    ) -> None:
        locks = [await throttle.record_failure("k") for _ in range(3)]
        assert locks[:2] == [None, None] and locks[2] is not None
        assert await throttle.retry_after_s("k") == 10.0


class TestSharedCache:
    async def test_two_processes_share_counts_and_locks(self) -> None:
        url = require_backend("redis")
        prefix = f"{unique_name('throttle')}:"
        clock = WallClock()
        caches = [open_cache(CacheSettings(url=url, key_prefix=prefix), clock) for _ in range(2)]
        first, second = (
            AttemptThrottle(cache, clock, namespace="t", limit=LIMIT) for cache in caches
        )
        try:
            assert [(await t.admit("k")).admitted for t in (first, second, first)] == [True] * 3
            refused = await second.admit("k")
            assert not refused.admitted and refused.started is not None
            retry_after_s = await first.retry_after_s("k")
            assert retry_after_s is not None and 0 < retry_after_s <= LIMIT.lock_s
        finally:
            for cache in caches:
                await cache.close()
            client = redis_asyncio.Redis.from_url(url)
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
