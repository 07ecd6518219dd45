"""Per-tenant WebSocket connection limits, on the in-process cache and on Redis.

Windows are read from a ``SimulatedClock`` on both backends; counter expiry is far longer
than any test, so only the window arithmetic decides what is counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import TierLimitExceeded
from chainflow.core.ids import TenantId
from chainflow.gateway.websocket_limit import WebSocketLimiter
from chainflow.storage.api import Cache
from chainflow.storage.cache.memory import InProcessCache
from chainflow.storage.cache.redis_cache import RedisCache
from tests.fixtures.auth import make_principal
from tests.fixtures.backends import delete_redis_keys, require_backend, unique_name

START_MS = 1_700_000_000_000
LIFETIME_S = 60.0


@dataclass
class Subject:
    limiter: WebSocketLimiter
    clock: SimulatedClock
    cache: Cache


@pytest.fixture(params=["memory", "redis"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    prefix = f"{unique_name('ws')}:"
    clock = SimulatedClock(START_MS)
    if request.param == "memory":
        cache: Cache = InProcessCache(clock, key_prefix=prefix)
    else:
        url = require_backend("redis")
        cache = RedisCache(url, clock, key_prefix=prefix)
    yield Subject(
        WebSocketLimiter(cache, clock, max_connection_lifetime_s=LIFETIME_S), clock, cache
    )
    await cache.close()
    if request.param == "redis":
        await delete_redis_keys(url, f"{prefix}*")


def two_connection_tier(tenant_id: str = "t-1"):
    return make_principal(tenant_id=tenant_id, limit_overrides={"websocket_connections": 2})


class TestAcquire:
    async def test_admits_up_to_the_tier_limit(self, subject: Subject) -> None:
        principal = two_connection_tier()
        await subject.limiter.acquire(principal)
        await subject.limiter.acquire(principal)
        with pytest.raises(TierLimitExceeded) as caught:
            await subject.limiter.acquire(principal)
        assert caught.value.code == "websocket_limit" and caught.value.status == 403
        assert caught.value.details == {"limit": 2, "open": 2}
        assert await subject.limiter.open_connections(TenantId("t-1")) == 2

    async def test_tenants_are_counted_apart(self, subject: Subject) -> None:
        for _ in range(2):
            await subject.limiter.acquire(two_connection_tier("t-1"))
        await subject.limiter.acquire(two_connection_tier("t-2"))

    async def test_tier_without_connections_is_refused(self, subject: Subject) -> None:
        principal = make_principal(limit_overrides={"websocket_connections": 0})
        with pytest.raises(TierLimitExceeded, match="allows 0"):
            await subject.limiter.acquire(principal)

    async def test_connection_is_counted_into_the_next_window(self, subject: Subject) -> None:
        principal = two_connection_tier()
        first = await subject.limiter.acquire(principal)
        await subject.limiter.acquire(principal)
        subject.clock.advance_ms(round(LIFETIME_S * 1000))
        with pytest.raises(TierLimitExceeded):
            await subject.limiter.acquire(principal)
        await subject.limiter.release(first)
        await subject.limiter.acquire(principal)

    async def test_slots_of_a_crashed_process_free_after_two_windows(
        self, subject: Subject
    ) -> None:
        principal = two_connection_tier()
        await subject.limiter.acquire(principal)
        await subject.limiter.acquire(principal)  # never released
        subject.clock.advance_ms(round(2 * LIFETIME_S * 1000))
        assert await subject.limiter.open_connections(TenantId("t-1")) == 0
        await subject.limiter.acquire(principal)


class TestRelease:
    async def test_release_frees_a_slot(self, subject: Subject) -> None:
        principal = two_connection_tier()
        slot = await subject.limiter.acquire(principal)
        await subject.limiter.acquire(principal)
        await subject.limiter.release(slot)
        await subject.limiter.acquire(principal)

    async def test_release_twice_frees_one_slot(self, subject: Subject) -> None:
        principal = two_connection_tier()
        slot = await subject.limiter.acquire(principal)
        await subject.limiter.acquire(principal)
        await subject.limiter.release(slot)
        await subject.limiter.release(slot)
        assert slot.is_released
        assert await subject.limiter.open_connections(TenantId("t-1")) == 1


class TestConstruction:
    def test_lifetime_must_be_positive(self) -> None:
        clock = SimulatedClock(START_MS)
        with pytest.raises(ValueError, match="received 0"):
            WebSocketLimiter(InProcessCache(clock), clock, max_connection_lifetime_s=0)

    def test_lifetime_is_exposed_for_the_handler(self) -> None:
        clock = SimulatedClock(START_MS)
        limiter = WebSocketLimiter(InProcessCache(clock), clock, max_connection_lifetime_s=90)
        assert limiter.max_connection_lifetime_s == 90.0
