"""Billing behind the real gateway: the users harness plus the billing router, with a
Midtrans look-alike on loopback as the payment gateway and a simulated clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from chainflow.core.settings import BillingSettings
from chainflow.users.billing.routes import build_billing_router
from chainflow.users.billing.service import BillingService, build_billing_service
from chainflow.users.billing.sweep import SweepResult, sweep_subscriptions
from chainflow.users.billing.usage import UsageSource
from tests.fixtures.database import ProvisionedDatabase, sqlite_database
from tests.users.billing.midtrans_peer import MidtransPeer, running_midtrans_peer
from tests.users.conftest import Account, UsersHarness, users_harness

SERVER_KEY = "SB-Mid-server-test-key-0123456789"
GRACE_DAYS = 3
DAY_MS = 86_400_000


@dataclass
class BillingHarness:
    users: UsersHarness
    peer: MidtransPeer
    billing: BillingService

    @property
    def client(self) -> httpx.AsyncClient:
        return self.users.client

    async def checkout(
        self,
        account: Account,
        plan: str = "pro",
        period: str = "monthly",
        coupon: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"plan": plan, "period": period}
        if coupon is not None:
            body["coupon"] = coupon
        return await self.client.post(
            "/api/v1/billing/checkout", json=body, headers=account.headers
        )

    async def order_id(self, account: Account, plan: str = "pro", period: str = "monthly") -> str:
        """Check out and return the new order's id (awaiting payment)."""
        response = await self.checkout(account, plan, period)
        assert response.status_code == 201, response.text
        return str(response.json()["order_id"])

    async def notify(
        self, order_id: str, transaction_status: str, fraud_status: str | None = None
    ) -> httpx.Response:
        return await self.peer.deliver(self.client, order_id, transaction_status, fraud_status)

    async def pay(self, account: Account, plan: str = "pro", period: str = "monthly") -> str:
        """Check out and settle; return the order id."""
        order_id = await self.order_id(account, plan, period)
        response = await self.notify(order_id, "settlement")
        assert response.status_code == 200, response.text
        return order_id

    async def me(self, account: Account) -> dict[str, Any]:
        response = await self.client.get("/api/v1/users/me", headers=account.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def order(self, account: Account, order_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/billing/orders/{order_id}", headers=account.headers
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def subscription(self, account: Account) -> dict[str, Any]:
        response = await self.client.get("/api/v1/billing/subscription", headers=account.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def invoices(self, account: Account) -> list[dict[str, Any]]:
        response = await self.client.get("/api/v1/billing/invoices", headers=account.headers)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def sweep(self) -> SweepResult:
        return await sweep_subscriptions(self.users.database, self.billing, self.users.clock)

    async def advance_days(self, days: float, *accounts: Account) -> None:
        """Move the clock on and sign ``accounts`` in again (access tokens live minutes)."""
        self.users.clock.advance_ms(int(days * DAY_MS))
        for account in accounts:
            response = await self.users.login(account.email)
            assert response.status_code == 200, response.text
            account.access_token = response.json()["access_token"]


def billing_settings(peer: MidtransPeer, server_key: str = SERVER_KEY) -> BillingSettings:
    return BillingSettings(
        server_key=SecretStr(server_key),
        client_key="SB-Mid-client-test",
        snap_url=peer.snap_url,
        core_api_url=peer.core_api_url,
        payment_links_url=peer.payment_links_url,
        ppn_rate_percent=Decimal("11"),
        grace_period_days=GRACE_DAYS,
        request_timeout_s=5.0,
        sweep_interval_s=0,
    )


@asynccontextmanager
async def billing_harness(
    database: ProvisionedDatabase,
    *,
    server_key: str = SERVER_KEY,
    configure: Callable[[BillingSettings], BillingSettings] | None = None,
    usage: Callable[[UsersHarness], UsageSource] | None = None,
) -> AsyncIterator[BillingHarness]:
    """Serve users + billing on ``database`` with a Midtrans look-alike on loopback;
    ``configure`` adjusts the settings, ``usage`` builds the metering source."""
    with running_midtrans_peer(SERVER_KEY) as peer:
        settings = configure(billing_settings(peer, server_key)) if configure else None
        async with users_harness(database.url) as users, httpx.AsyncClient() as http:
            billing = build_billing_service(
                settings=settings or billing_settings(peer, server_key),
                clock=users.clock,
                bus=users.bus,
                database=users.database,
                change_tier=users.service.admin.change_tier,
                read_tier=users.service.admin.get_tenant,
                customer_of=users.service.accounts.get_profile,
                http=http,
                usage=usage(users) if usage is not None else None,
            )
            router = build_billing_router(billing, users.database, users.clock)
            users.app.include_router(router, prefix="/api/v1")
            yield BillingHarness(users=users, peer=peer, billing=billing)


@pytest.fixture
async def billing(tmp_path: Path) -> AsyncIterator[BillingHarness]:
    """Billing on a fresh SQLite file."""
    async with billing_harness(sqlite_database(tmp_path)) as harness:
        yield harness


@pytest.fixture
async def billing_on_every_backend(
    fresh_database: ProvisionedDatabase,
) -> AsyncIterator[BillingHarness]:
    """Billing on SQLite and on PostgreSQL (a non-superuser role, so RLS applies)."""
    async with billing_harness(fresh_database) as harness:
        yield harness
