"""Per-tenant REST rate limits through the app, on the in-process cache and on Redis.

The in-process cache runs on a ``SimulatedClock`` that ``wait`` advances; Redis refills by
its own server time, so there the quota is larger (a faster refill) and ``wait`` sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Response

from chainflow.core.clock import SimulatedClock, WallClock
from chainflow.core.errors import TierLimitExceeded
from chainflow.gateway.api import CurrentPrincipal, MountedRouter
from chainflow.storage.cache.memory import InProcessCache
from chainflow.storage.cache.redis_cache import RedisCache
from tests.fixtures.auth import AuthStack, build_auth_stack, make_principal
from tests.fixtures.backends import delete_redis_keys, require_backend, unique_name

START_MS = 1_700_000_000_000


def quota_router() -> APIRouter:
    router = APIRouter(prefix="/demo")

    @router.get("/ping")
    async def get_ping(principal: CurrentPrincipal) -> dict[str, str]:
        return {"tenant_id": principal.tenant_id}

    @router.delete("/things/{thing_id}", status_code=204)
    async def delete_thing(thing_id: str, principal: CurrentPrincipal) -> Response:
        del thing_id, principal
        return Response(status_code=204)

    return router


@dataclass
class Backend:
    name: str
    stack: AuthStack
    client: httpx.AsyncClient
    per_minute: int  # a quota small enough to exhaust, large enough to refill quickly
    clock: SimulatedClock | None

    async def wait(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.advance_ms(round(seconds * 1000))
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    prefix = f"{unique_name('rl')}:"
    clock: SimulatedClock | None
    if request.param == "memory":
        clock = SimulatedClock(START_MS)
        stack = build_auth_stack(InProcessCache(clock, key_prefix=prefix), clock)
        per_minute = 3
    else:
        url = require_backend("redis")
        clock = None
        wall = WallClock()
        stack = build_auth_stack(RedisCache(url, wall, key_prefix=prefix), wall)
        per_minute = 120
    app = stack.app(routers=[MountedRouter(service="demo", router=quota_router())])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Backend(request.param, stack, client, per_minute, clock)
    await stack.authenticator.drain()
    await stack.cache.close()
    if request.param == "redis":
        await delete_redis_keys(url, f"{prefix}*")


def login(backend: Backend, tenant_id: str = "t-1", session_id: str = "s-1") -> dict[str, str]:
    principal = make_principal(
        tenant_id=tenant_id,
        session_id=session_id,
        limit_overrides={"rest_requests_per_minute": backend.per_minute},
    )
    return {"Authorization": f"Bearer {backend.stack.login(principal)}"}


async def exhaust(backend: Backend, headers: dict[str, str]) -> tuple[int, httpx.Response]:
    """Send requests until one is refused; return how many passed and the refusal."""
    passed = 0
    for _ in range(backend.per_minute * 3):
        response = await backend.client.get("/api/v1/demo/ping", headers=headers)
        if response.status_code != 200:
            return passed, response
        passed += 1
    raise AssertionError(f"quota of {backend.per_minute} was never enforced")


class TestRateLimit:
    async def test_quota_then_429_with_headers(self, backend: Backend) -> None:
        passed, refused = await exhaust(backend, login(backend))
        if backend.clock is not None:
            assert passed == backend.per_minute
        else:  # real time refills a little while the requests run
            assert backend.per_minute <= passed <= backend.per_minute + 10
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "rate_limited"
        assert error["details"]["limit"] == backend.per_minute
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-limit"] == str(backend.per_minute)
        assert refused.headers["ratelimit-remaining"] == "0"
        assert int(refused.headers["ratelimit-reset"]) >= 1

    async def test_recovers_after_refill(self, backend: Backend) -> None:
        headers = login(backend)
        _, refused = await exhaust(backend, headers)
        await backend.wait(refused.json()["error"]["details"]["retry_after_s"] + 0.05)
        response = await backend.client.get("/api/v1/demo/ping", headers=headers)
        assert response.status_code == 200

    async def test_tenants_have_separate_buckets(self, backend: Backend) -> None:
        await exhaust(backend, login(backend, "t-1", "s-1"))
        other = login(backend, "t-2", "s-2")
        assert (await backend.client.get("/api/v1/demo/ping", headers=other)).status_code == 200


class TestRateLimitHeaders:
    @pytest.fixture
    async def client(self) -> AsyncIterator[tuple[httpx.AsyncClient, AuthStack]]:
        clock = SimulatedClock(START_MS)
        stack = build_auth_stack(InProcessCache(clock), clock)
        app = stack.app(routers=[MountedRouter(service="demo", router=quota_router())])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c, stack

    async def test_every_200_carries_the_quota(
        self, client: tuple[httpx.AsyncClient, AuthStack]
    ) -> None:
        http, stack = client
        principal = make_principal(limit_overrides={"rest_requests_per_minute": 10})
        headers = {"Authorization": f"Bearer {stack.login(principal)}"}
        seen: list[dict[str, Any]] = []
        for _ in range(3):
            response = await http.get("/api/v1/demo/ping", headers=headers)
            assert response.status_code == 200
            seen.append(
                {k: response.headers[k] for k in ("ratelimit-limit", "ratelimit-remaining")}
            )
        assert seen == [
            {"ratelimit-limit": "10", "ratelimit-remaining": "9"},
            {"ratelimit-limit": "10", "ratelimit-remaining": "8"},
            {"ratelimit-limit": "10", "ratelimit-remaining": "7"},
        ]
        assert response.headers["ratelimit-reset"] == "18"  # 3 tokens at one per 6 s

    async def test_route_returning_its_own_response_carries_the_quota(
        self, client: tuple[httpx.AsyncClient, AuthStack]
    ) -> None:
        http, stack = client
        headers = {"Authorization": f"Bearer {stack.login(make_principal())}"}
        response = await http.delete("/api/v1/demo/things/a", headers=headers)
        assert response.status_code == 204
        assert response.headers["ratelimit-limit"] == "600"

    async def test_unauthenticated_response_has_no_quota(
        self, client: tuple[httpx.AsyncClient, AuthStack]
    ) -> None:
        http, _ = client
        response = await http.get("/api/v1/demo/ping")
        assert response.status_code == 401 and "ratelimit-limit" not in response.headers

    async def test_cors_exposes_the_quota_headers(
        self, client: tuple[httpx.AsyncClient, AuthStack]
    ) -> None:
        http, stack = client
        headers = {
            "Authorization": f"Bearer {stack.login(make_principal())}",
            "Origin": "https://app.example",
        }
        response = await http.get("/api/v1/demo/ping", headers=headers)
        exposed = response.headers["access-control-expose-headers"].lower()
        assert "ratelimit-remaining" in exposed and "retry-after" in exposed

    async def test_tier_without_rest_requests_is_refused(
        self, client: tuple[httpx.AsyncClient, AuthStack]
    ) -> None:
        _, stack = client
        principal = make_principal(limit_overrides={"rest_requests_per_minute": 0})
        with pytest.raises(TierLimitExceeded):
            await stack.rate_limiter.check(principal)
