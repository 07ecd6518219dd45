"""An in-process app for the users service: its router and resolver behind the real gateway
(``create_gateway`` + ``Authenticator`` + ``RateLimiter``) on the embedded cache and bus, and
a real relational database (SQLite file or PostgreSQL as a non-superuser role)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from chainflow.core.auth import Permission, Principal, Scope
from chainflow.core.clock import SimulatedClock
from chainflow.core.health import HealthReport
from chainflow.core.ids import new_id
from chainflow.core.settings import AuthSettings, BusSettings, CacheSettings, DatabaseSettings
from chainflow.core.tokens import AccessTokenCodec
from chainflow.gateway.api import MountedRouter, require_permission, require_scope
from chainflow.gateway.app import create_gateway
from chainflow.gateway.auth import Authenticator
from chainflow.gateway.rate_limit import RateLimiter
from chainflow.hub.api import BusMessage, EventBus
from chainflow.hub.bus import open_bus
from chainflow.storage.api import Cache
from chainflow.storage.cache import open_cache
from chainflow.storage.relational import Database, upgrade
from chainflow.users.overview import build_profile_overview
from chainflow.users.passwords import Argon2PasswordHasher
from chainflow.users.resolver import UsersCredentialResolver
from chainflow.users.routes import build_users_router
from chainflow.users.service import UsersService, build_users_service
from tests.fixtures.database import sqlite_database

START_MS = 1_750_000_000_000
SECRET = SecretStr("users-test-secret-key-that-is-long-enough-0123")
PASSWORD = "Correct-Horse-42"
# Published by the tests after the events they count: in-process delivery keeps the order.
SETTLE_SUBJECT = "users.test.settled"
# Cheap argon2id parameters: the tests exercise the logic, not the cost.
FAST_HASHING = {"time_cost": 1, "memory_cost_kib": 8, "parallelism": 1}


def probe_router() -> APIRouter:
    """Test-only routes guarded like future signal and tick routes."""
    router = APIRouter(prefix="/probe")

    @router.get("/signals")
    async def list_signals(
        principal: Annotated[Principal, Depends(require_permission(Permission.SIGNALS_READ))],
    ) -> dict[str, str]:
        return {"tenant_id": principal.tenant_id}

    @router.post("/ticks", dependencies=[Depends(require_scope(Scope.TICKS_WRITE))])
    async def ingest_ticks() -> dict[str, bool]:
        return {"accepted": True}

    @router.post("/orders", dependencies=[Depends(require_permission(Permission.TRADE))])
    async def create_order() -> dict[str, bool]:
        return {"accepted": True}

    return router


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


@dataclass
class Account:
    """A registered, signed-in user and the tokens of their first session."""

    email: str
    user_id: str
    tenant_id: str
    access_token: str
    refresh_token: str
    session_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


@dataclass
class UsersHarness:
    client: httpx.AsyncClient
    database: Database
    clock: SimulatedClock
    service: UsersService
    authenticator: Authenticator
    codec: AccessTokenCodec
    app: FastAPI
    cache: Cache
    bus: EventBus
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @asynccontextmanager
    async def client_from(self, ip: str) -> AsyncIterator[httpx.AsyncClient]:
        """Yield a client whose requests come from ``ip`` (``client`` comes from 127.0.0.1)."""
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False, client=(ip, 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

    async def register(
        self, email: str, password: str = PASSWORD, name: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"email": email, "password": password}
        if name is not None:
            body["name"] = name
        return await self.client.post("/api/v1/auth/register", json=body)

    async def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return await self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )

    async def signup(self, email: str) -> Account:
        """Register ``email`` and sign in."""
        registered = await self.register(email)
        assert registered.status_code == 201, registered.text
        tokens = await self.login(email)
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        return Account(
            email=email,
            user_id=registered.json()["user_id"],
            tenant_id=registered.json()["tenant_id"],
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            session_id=body["session_id"],
        )

    async def make_superadmin(self, email: str) -> None:
        async with self.database.unit_of_work(system=True) as uow:
            await self.service.admin.grant_superadmin(uow, email)

    async def set_tier(self, superadmin: Account, tenant_id: str, tier: str) -> httpx.Response:
        return await self.client.put(
            f"/api/v1/admin/tenants/{tenant_id}/tier",
            json={"tier": tier},
            headers=superadmin.headers,
        )

    async def event(self, subject: str, **match: Any) -> dict[str, Any]:
        """Return the latest event on ``subject`` whose payload has ``match``; wait for it."""
        for _ in range(200):
            for seen_subject, payload in reversed(self.events):
                if seen_subject == subject and all(payload.get(k) == v for k, v in match.items()):
                    return payload
            await asyncio.sleep(0.005)
        raise AssertionError(f"no event on {subject} with {match}; saw {self.events}")

    async def settled_subjects(self) -> list[str]:
        """Return the subjects of every event published so far, once all have arrived."""
        marker = new_id()
        await self.bus.publish(SETTLE_SUBJECT, json.dumps({"marker": marker}).encode())
        await self.event(SETTLE_SUBJECT, marker=marker)
        return [subject for subject, _ in self.events if subject != SETTLE_SUBJECT]

    def advance(self, seconds: float) -> None:
        self.clock.advance_ms(int(seconds * 1000))


@asynccontextmanager
async def users_harness(
    database_url: str,
    *,
    requires_email_verification: bool = False,
    passwords: Argon2PasswordHasher | None = None,
    extra_routers: Sequence[MountedRouter] = (),
    database_settings: DatabaseSettings | None = None,
    auth: AuthSettings | None = None,
) -> AsyncIterator[UsersHarness]:
    """Migrate ``database_url`` and serve the users routes behind the gateway's auth."""
    await upgrade(database_url)
    clock = SimulatedClock(START_MS)
    database = Database(
        database_url, database_settings or DatabaseSettings(url=database_url), clock=clock
    )
    bus = open_bus(BusSettings(url="memory://"))
    await bus.start()
    cache = open_cache(CacheSettings(url="memory://"), clock)
    auth = auth or AuthSettings()
    codec = AccessTokenCodec(auth, SECRET, clock)
    resolver = UsersCredentialResolver(database=database, clock=clock)
    authenticator = Authenticator(codec, resolver, cache, clock, auth.context_cache_ttl_s)
    service = build_users_service(
        auth=auth,
        requires_email_verification=requires_email_verification,
        clock=clock,
        bus=bus,
        access_tokens=codec,
        cache=cache,
        passwords=passwords or Argon2PasswordHasher(**FAST_HASHING),
        invalidate_session=authenticator.invalidate_session,
        invalidate_api_key=authenticator.invalidate_api_key,
    )

    async def readiness() -> Sequence[HealthReport]:
        return []

    app = create_gateway(
        title="users-test",
        version="0",
        routers=[
            MountedRouter("users", build_users_router(service=service, database=database)),
            MountedRouter("probe", probe_router()),
            *extra_routers,
        ],
        readiness=readiness,
        metrics_registry=CollectorRegistry(),
        authenticator=authenticator,
        rate_limiter=RateLimiter(cache),
        overview_sources={"profile": build_profile_overview(service, database)},
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://test")
    harness = UsersHarness(client, database, clock, service, authenticator, codec, app, cache, bus)

    async def remember(message: BusMessage) -> None:
        harness.events.append((message.subject, json.loads(message.data)))

    subscription = await bus.subscribe("users.>", remember)
    try:
        yield harness
    finally:
        await client.aclose()
        await authenticator.drain()
        await subscription.unsubscribe()
        await bus.close()
        await cache.close()
        await database.dispose()


@pytest.fixture
async def users(tmp_path: Path) -> AsyncIterator[UsersHarness]:
    """The users app on a fresh SQLite file, in dev mode (no e-mail verification needed)."""
    async with users_harness(sqlite_database(tmp_path).url) as harness:
        yield harness
