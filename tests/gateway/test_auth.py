"""Gateway authentication and authorization, through a real app made by ``create_gateway``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
import structlog
from fastapi import APIRouter, Depends, WebSocket
from prometheus_client import CollectorRegistry

from chainflow.core.auth import Feature, Permission, Principal, Role, Scope, Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import Unauthenticated
from chainflow.core.tokens import hash_api_key
from chainflow.gateway.api import (
    CurrentPrincipal,
    MountedRouter,
    require_feature,
    require_permission,
    require_scope,
    require_superadmin,
    websocket_principal,
)
from chainflow.gateway.app import create_gateway
from chainflow.storage.cache.memory import InProcessCache
from tests.fixtures.auth import CONTEXT_TTL_S, AuthStack, build_auth_stack, make_principal

START_MS = 1_700_000_000_000


def demo_router() -> APIRouter:
    router = APIRouter(prefix="/demo")

    @router.get("/me")
    async def get_me(principal: CurrentPrincipal) -> dict[str, Any]:
        return {
            "user_id": principal.user_id,
            "tenant_id": principal.tenant_id,
            "role": principal.role,
            "session_id": principal.session_id,
            "log_context": structlog.contextvars.get_contextvars(),
        }

    @router.get("/signals")
    async def list_signals(
        principal: Annotated[Principal, Depends(require_permission(Permission.SIGNALS_READ))],
    ) -> dict[str, str]:
        return {"tenant_id": principal.tenant_id}

    @router.get("/signals-by-scope", dependencies=[Depends(require_scope(Scope.SIGNALS_READ))])
    async def list_signals_by_scope() -> dict[str, bool]:
        return {"ok": True}

    @router.post(
        "/tenant/settings", dependencies=[Depends(require_permission(Permission.TENANT_MANAGE))]
    )
    async def update_tenant_settings() -> dict[str, bool]:
        return {"ok": True}

    @router.post("/walk-forward", dependencies=[Depends(require_feature(Feature.WALK_FORWARD))])
    async def create_walk_forward() -> dict[str, bool]:
        return {"ok": True}

    @router.get("/platform", dependencies=[Depends(require_superadmin)])
    async def get_platform() -> dict[str, bool]:
        return {"ok": True}

    return router


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
def stack(clock: SimulatedClock) -> AuthStack:
    return build_auth_stack(InProcessCache(clock), clock)


@pytest.fixture
async def client(stack: AuthStack) -> AsyncIterator[httpx.AsyncClient]:
    app = stack.app(routers=[MountedRouter(service="demo", router=demo_router())])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
    await stack.authenticator.drain()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    return response.json()["error"]


class TestCurrentPrincipal:
    async def test_no_header_is_missing_credentials(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/demo/me")
        assert response.status_code == 401
        assert error_of(response)["code"] == "missing_credentials"
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_bearer_without_token_is_missing_credentials(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/api/v1/demo/me", headers={"Authorization": "Bearer "})
        assert error_of(response)["code"] == "missing_credentials"

    async def test_other_scheme_is_invalid_credentials_without_echo(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(
            "/api/v1/demo/me", headers={"Authorization": "Basic dXNlcjpodW50ZXIy"}
        )
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_credentials"
        assert "dXNlcjpodW50ZXIy" not in response.text

    async def test_bad_token_is_invalid_token(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/demo/me", headers=bearer("not.a.jwt"))
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_token"

    async def test_expired_token_is_token_expired(
        self, client: httpx.AsyncClient, stack: AuthStack, clock: SimulatedClock
    ) -> None:
        token = stack.login(make_principal())
        clock.advance_ms(900_000)
        response = await client.get("/api/v1/demo/me", headers=bearer(token))
        assert response.status_code == 401
        assert error_of(response)["code"] == "token_expired"
        assert token not in response.text

    async def test_valid_jwt_returns_the_principal(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal(user_id="u-7", tenant_id="t-7", role=Role.ADMIN))
        response = await client.get("/api/v1/demo/me", headers=bearer(token))
        assert response.status_code == 200
        body = response.json()
        assert (body["user_id"], body["tenant_id"], body["role"]) == ("u-7", "t-7", "admin")
        assert body["log_context"]["tenant_id"] == "t-7"
        assert body["log_context"]["user_id"] == "u-7"

    async def test_session_id_is_filled_from_the_token(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal(session_id="s-9"))
        stack.resolver.sessions["s-9"] = make_principal(session_id=None)
        response = await client.get("/api/v1/demo/me", headers=bearer(token))
        assert response.json()["session_id"] == "s-9"

    async def test_revoked_session_is_invalid_credentials(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal())
        stack.resolver.sessions.clear()
        response = await client.get("/api/v1/demo/me", headers=bearer(token))
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_credentials"

    async def test_principal_of_another_tenant_is_rejected(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal(tenant_id="t-1"))
        stack.resolver.sessions["s-1"] = make_principal(tenant_id="t-other")
        response = await client.get("/api/v1/demo/me", headers=bearer(token))
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_credentials"

    async def test_unconfigured_gateway_is_a_logged_500(self) -> None:
        async def readiness() -> list[Any]:
            return []

        app = create_gateway(
            title="t",
            version="0",
            routers=[MountedRouter(service="demo", router=demo_router())],
            readiness=readiness,
            metrics_registry=CollectorRegistry(),
        )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.get("/api/v1/demo/me", headers=bearer("x"))
        assert response.status_code == 500
        assert error_of(response)["code"] == "configuration_error"


class TestContextCache:
    async def test_resolution_is_one_resolver_call_for_many_requests(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal())
        for _ in range(5):
            assert (await client.get("/api/v1/demo/me", headers=bearer(token))).status_code == 200
        assert stack.resolver.session_calls == 1

    async def test_entry_expires_after_the_context_ttl(
        self, client: httpx.AsyncClient, stack: AuthStack, clock: SimulatedClock
    ) -> None:
        token = stack.login(make_principal())
        await client.get("/api/v1/demo/me", headers=bearer(token))
        clock.advance_ms(round(CONTEXT_TTL_S * 1000) + 1)
        await client.get("/api/v1/demo/me", headers=bearer(token))
        assert stack.resolver.session_calls == 2

    async def test_invalidate_session_forces_resolution(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal())
        assert (await client.get("/api/v1/demo/me", headers=bearer(token))).status_code == 200
        stack.resolver.sessions.clear()
        assert (await client.get("/api/v1/demo/me", headers=bearer(token))).status_code == 200
        await stack.authenticator.invalidate_session("s-1")
        response = await client.get("/api/v1/demo/me", headers=bearer(token))
        assert response.status_code == 401 and stack.resolver.session_calls == 2

    async def test_refusal_is_cached_briefly(
        self, client: httpx.AsyncClient, stack: AuthStack, clock: SimulatedClock
    ) -> None:
        token = stack.login(make_principal())
        stack.resolver.sessions.clear()
        for _ in range(3):
            await client.get("/api/v1/demo/me", headers=bearer(token))
        assert stack.resolver.session_calls == 1
        clock.advance_ms(5_001)
        await client.get("/api/v1/demo/me", headers=bearer(token))
        assert stack.resolver.session_calls == 2


class TestApiKeys:
    def ticks_writer(self) -> Principal:
        return make_principal(
            auth_method="api_key", scopes=frozenset({Scope.TICKS_WRITE}), api_key_id="k-1"
        )

    async def test_ticks_write_key_cannot_read_signals(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        key = stack.add_api_key(self.ticks_writer())
        response = await client.get("/api/v1/demo/signals", headers=bearer(key))
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"
        assert "'signals:read'" in error_of(response)["message"]
        response = await client.get("/api/v1/demo/signals-by-scope", headers=bearer(key))
        assert response.status_code == 403
        assert error_of(response)["code"] == "scope_denied"
        assert key not in response.text

    async def test_signals_read_key_reads_signals(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        principal = make_principal(
            auth_method="api_key", scopes=frozenset({Scope.SIGNALS_READ}), api_key_id="k-2"
        )
        key = stack.add_api_key(principal)
        for path in ("/api/v1/demo/signals", "/api/v1/demo/signals-by-scope"):
            assert (await client.get(path, headers=bearer(key))).status_code == 200

    async def test_unknown_key_is_invalid_credentials_and_refusal_is_cached(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        key = stack.add_api_key(self.ticks_writer())
        stack.resolver.api_keys.clear()
        for _ in range(3):
            response = await client.get("/api/v1/demo/me", headers=bearer(key))
            assert error_of(response)["code"] == "invalid_credentials"
        assert stack.resolver.api_key_calls == 1

    async def test_malformed_key_is_refused_without_lookup(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        response = await client.get("/api/v1/demo/me", headers=bearer("cfk_guess"))
        assert error_of(response)["code"] == "invalid_credentials"
        assert stack.resolver.api_key_calls == 0

    async def test_resolution_is_cached_until_invalidated(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        key = stack.add_api_key(self.ticks_writer())
        for _ in range(4):
            assert (await client.get("/api/v1/demo/me", headers=bearer(key))).status_code == 200
        assert stack.resolver.api_key_calls == 1
        stack.resolver.api_keys.clear()
        await stack.authenticator.invalidate_api_key(hash_api_key(key))
        assert (await client.get("/api/v1/demo/me", headers=bearer(key))).status_code == 401

    async def test_last_use_is_recorded_once_per_minute(
        self, client: httpx.AsyncClient, stack: AuthStack, clock: SimulatedClock
    ) -> None:
        key = stack.add_api_key(self.ticks_writer())
        for _ in range(3):
            await client.get("/api/v1/demo/me", headers=bearer(key))
        await stack.authenticator.drain()
        assert stack.resolver.key_uses == [("k-1", START_MS)]
        clock.advance_ms(60_000)
        await client.get("/api/v1/demo/me", headers=bearer(key))
        await stack.authenticator.drain()
        assert stack.resolver.key_uses == [("k-1", START_MS), ("k-1", START_MS + 60_000)]

    async def test_failed_last_use_recording_is_logged_not_raised(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        stack.resolver.record_failure = RuntimeError("database is down")
        key = stack.add_api_key(self.ticks_writer())
        with structlog.testing.capture_logs() as logs:
            assert (await client.get("/api/v1/demo/me", headers=bearer(key))).status_code == 200
            await stack.authenticator.drain()
        failures = [e for e in logs if e["event"] == "api_key_last_used_not_recorded"]
        assert failures and failures[0]["key_id"] == "k-1"
        assert failures[0]["error_type"] == "RuntimeError"

    async def test_resolver_answer_for_a_session_is_refused(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        key = stack.add_api_key(make_principal(auth_method="jwt"))
        response = await client.get("/api/v1/demo/me", headers=bearer(key))
        assert error_of(response)["code"] == "invalid_credentials"


class TestRequirements:
    async def test_viewer_cannot_manage_the_tenant(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal(role=Role.VIEWER))
        response = await client.post("/api/v1/demo/tenant/settings", headers=bearer(token))
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"
        assert "'tenant:manage'" in error_of(response)["message"]
        assert "'viewer'" in error_of(response)["message"]

    async def test_admin_manages_the_tenant(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal(role=Role.ADMIN))
        response = await client.post("/api/v1/demo/tenant/settings", headers=bearer(token))
        assert response.status_code == 200

    async def test_feature_outside_the_tier_is_feature_not_in_tier(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal(tier=Tier.FREE))
        response = await client.post("/api/v1/demo/walk-forward", headers=bearer(token))
        assert response.status_code == 403
        assert error_of(response)["code"] == "feature_not_in_tier"
        assert error_of(response)["details"] == {"required_feature": "walk_forward", "tier": "free"}

    async def test_feature_inside_the_tier_passes(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal(tier=Tier.PRO))
        assert (
            await client.post("/api/v1/demo/walk-forward", headers=bearer(token))
        ).status_code == 200

    async def test_superadmin_only_route(self, client: httpx.AsyncClient, stack: AuthStack) -> None:
        owner = stack.login(make_principal(role=Role.OWNER, session_id="s-owner"))
        response = await client.get("/api/v1/demo/platform", headers=bearer(owner))
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"
        admin = stack.login(make_principal(is_superadmin=True, session_id="s-admin"))
        assert (await client.get("/api/v1/demo/platform", headers=bearer(admin))).status_code == 200


class TestWebSocketPrincipal:
    async def connect(self, stack: AuthStack, headers: list[tuple[bytes, bytes]], query: str):
        app = stack.app()

        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(_message: dict[str, Any]) -> None:
            return None

        scope = {
            "type": "websocket",
            "path": "/ws/ticks",
            "headers": headers,
            "query_string": query.encode(),
            "app": app,
        }
        return await websocket_principal(WebSocket(scope, receive, send))

    async def test_authorization_header(self, stack: AuthStack) -> None:
        token = stack.login(make_principal())
        principal = await self.connect(stack, [(b"authorization", f"Bearer {token}".encode())], "")
        assert principal.user_id == "u-1"

    async def test_access_token_query(self, stack: AuthStack) -> None:
        token = stack.login(make_principal())
        principal = await self.connect(stack, [], f"access_token={token}")
        assert principal.auth_method == "jwt"

    async def test_api_key_query(self, stack: AuthStack) -> None:
        key = stack.add_api_key(
            make_principal(
                auth_method="api_key", scopes=frozenset({Scope.TICKS_WRITE}), api_key_id="k-ws"
            )
        )
        principal = await self.connect(stack, [], f"api_key={key}")
        assert principal.api_key_id == "k-ws"
        await stack.authenticator.drain()

    async def test_jwt_in_api_key_query_is_refused(self, stack: AuthStack) -> None:
        token = stack.login(make_principal())
        with pytest.raises(Unauthenticated) as caught:
            await self.connect(stack, [], f"api_key={token}")
        assert caught.value.code == "invalid_credentials"

    async def test_no_credentials_is_missing_credentials(self, stack: AuthStack) -> None:
        with pytest.raises(Unauthenticated) as caught:
            await self.connect(stack, [], "")
        assert caught.value.code == "missing_credentials"
