"""``GET /api/v1/me/overview``: aggregation of every source, degrading per source."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from chainflow.core.auth import Principal, Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import ConfigurationError, DependencyUnavailable
from chainflow.gateway.api import MountedRouter, OverviewSource
from chainflow.gateway.app import create_gateway
from chainflow.gateway.overview import build_overview_router
from chainflow.storage.cache.memory import InProcessCache
from tests.fixtures.auth import AuthStack, build_auth_stack, make_principal

START_MS = 1_700_000_000_000


async def profile(principal: Principal) -> dict[str, Any]:
    return {"user_id": principal.user_id, "name": "Ada"}


async def subscription(principal: Principal) -> dict[str, Any]:
    return {"tier": principal.tier.value, "renews_at": None}


async def unavailable(_principal: Principal) -> dict[str, Any]:
    raise DependencyUnavailable("billing provider must answer; it refused the connection")


async def crashing(_principal: Principal) -> dict[str, Any]:
    raise RuntimeError("bug")


@pytest.fixture
def stack() -> AuthStack:
    clock = SimulatedClock(START_MS)
    return build_auth_stack(InProcessCache(clock), clock)


async def get_overview(app: Any, token: str | None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/api/v1/me/overview", headers=headers)


class TestGetOverview:
    async def test_aggregates_principal_limits_usage_and_parts(self, stack: AuthStack) -> None:
        app = stack.app(overview_sources={"profile": profile, "subscription": subscription})
        principal = make_principal(tier=Tier.FREE, limit_overrides={"rest_requests_per_minute": 30})
        response = await get_overview(app, stack.login(principal))
        assert response.status_code == 200
        body = response.json()
        assert body["principal"] == {
            "user_id": "u-1",
            "tenant_id": "t-1",
            "role": "trader",
            "tier": "free",
            "auth_method": "jwt",
        }
        assert body["limits"] == principal.limits.to_dict()
        assert body["usage"] == {"rest_requests": {"limit": 30, "remaining": 29, "reset_s": 2}}
        assert body["profile"] == {"user_id": "u-1", "name": "Ada"}
        assert body["subscription"] == {"tier": "free", "renews_at": None}

    async def test_failing_sources_degrade_to_their_error_code(self, stack: AuthStack) -> None:
        app = stack.app(
            overview_sources={"profile": profile, "billing": unavailable, "charts": crashing}
        )
        response = await get_overview(app, stack.login(make_principal()))
        assert response.status_code == 200
        body = response.json()
        assert body["profile"]["name"] == "Ada"
        assert body["billing"] == {"error": "dependency_unavailable"}
        assert body["charts"] == {"error": "internal_error"}

    async def test_slow_source_times_out_and_is_cancelled(self, stack: AuthStack) -> None:
        cancelled = asyncio.Event()

        async def slow(_principal: Principal) -> dict[str, Any]:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return {}

        sources: dict[str, OverviewSource] = {"profile": profile, "slow": slow}
        router = build_overview_router(sources, timeout_s=0.05)
        app = stack.app(routers=[MountedRouter(service="gateway", router=router)])
        response = await get_overview(app, stack.login(make_principal()))
        assert response.status_code == 200
        assert response.json()["slow"] == {"error": "timeout"}
        assert response.json()["profile"]["name"] == "Ada"
        assert cancelled.is_set()

    async def test_needs_credentials(self, stack: AuthStack) -> None:
        response = await get_overview(stack.app(overview_sources={"profile": profile}), None)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "missing_credentials"


class TestBuildOverviewRouter:
    def test_reserved_part_names_are_refused(self) -> None:
        with pytest.raises(ValueError, match=r"received \['limits'\]"):
            build_overview_router({"limits": profile})

    def test_sources_without_authenticator_are_a_configuration_error(self) -> None:
        async def readiness() -> list[Any]:
            return []

        with pytest.raises(ConfigurationError, match="authenticator"):
            create_gateway(
                title="t",
                version="0",
                routers=[],
                readiness=readiness,
                metrics_registry=CollectorRegistry(),
                overview_sources={"profile": profile},
            )
