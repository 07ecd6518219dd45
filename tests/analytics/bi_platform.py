"""The embedded kernel on a simulated clock with the history of ``bi_seed`` stored in its
real tables (tenants, paid orders, subscriptions, the bridge's usage rows), and users of
every role to call the superadmin routes with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import insert, update

from chainflow.bridge.usage import ALL_SYMBOLS, USAGE_TABLE
from chainflow.core.clock import SimulatedClock
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from chainflow.users.billing.models import BillingOrder, Subscription
from chainflow.users.models import Tenant, User
from tests.analytics.bi_seed import NOW, TENANTS, USAGE, at
from tests.fixtures.api_client import PASSWORD
from tests.fixtures.settings import embedded_settings

ROLES = ("owner", "admin", "trader", "viewer")


@dataclass
class BiPlatform:
    http: httpx.AsyncClient
    kernel: Kernel
    clock: SimulatedClock
    headers: dict[str, dict[str, str]]


def order_row(number: int, tenant: str, plan: str, period: str, start: datetime, end: datetime):
    return {
        "tenant_id": tenant,
        "order_id": f"order-{number}",
        "user_id": "seeded-user",
        "plan": plan,
        "period": period,
        "status": "paid",
        "subtotal_idr": 1,
        "discount_idr": 0,
        "tax_idr": 0,
        "gross_amount_idr": 1,
        "tax_rate_percent": "0",
        "item_details": [],
        "customer_details": {},
        "kind": "new",
        "credit_idr": 0,
        "paid_at": start,
        "granted_at": start,
        "granted_period_start": start,
        "granted_period_end": end,
    }


def orders() -> list[dict[str, object]]:
    rows = [order_row(1, "tenant-a", "pro", "monthly", at(2, 1), at(3, 1))]
    for month in range(3, 7):
        rows.append(
            order_row(month, "tenant-a", "enterprise", "monthly", at(month, 1), at(month + 1, 1))
        )
    rows.append(
        order_row(
            7, "tenant-b", "pro", "yearly", at(1, 25), datetime(2026, 1, 25, tzinfo=NOW.tzinfo)
        )
    )
    refunded = order_row(8, "tenant-c", "pro", "monthly", at(2, 5), at(3, 5))
    refunded.update(status="refunded", revoked_at=at(2, 20))
    rows.append(refunded)
    return rows


def subscription_row(tenant: str, plan: str, period: str, status: str, end: datetime):
    return {
        "tenant_id": tenant,
        "plan": plan,
        "period": period,
        "status": status,
        "current_period_start": at(1, 1),
        "current_period_end": end,
        "cancel_at_period_end": False,
    }


async def seed(kernel: Kernel) -> None:
    tenants = [
        {
            "id": t.tenant_id,
            "name": t.tenant_id,
            "tier": t.tier,
            "limit_overrides": {},
            "created_at": t.created_at,
            "updated_at": t.created_at,
        }
        for t in TENANTS
    ]
    subscriptions = [
        subscription_row("tenant-a", "enterprise", "monthly", "active", at(7, 1)),
        subscription_row("tenant-b", "pro", "yearly", "active", at(12, 1)),
        subscription_row("tenant-c", "pro", "monthly", "expired", at(3, 5)),
    ]
    async with kernel.infra.database.unit_of_work(system=True) as uow:
        await uow.session.execute(insert(Tenant), tenants)
        await uow.session.execute(insert(BillingOrder), orders())
        await uow.session.execute(insert(Subscription), subscriptions)
    store = kernel.infra.timeseries
    await store.ensure_table(USAGE_TABLE)
    rows = [
        {
            "tenant_id": tenant,
            "symbol": ALL_SYMBOLS,
            "ts": day.day_ms,
            "ticks": day.ticks,
            "messages": day.messages,
        }
        for tenant, days in USAGE.items()
        for day in days
    ]
    await store.append(USAGE_TABLE.name, rows)


async def sign_in(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    credentials = {"email": email, "password": PASSWORD}
    answer = await http.post("/api/v1/auth/login", json=credentials)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@asynccontextmanager
async def bi_platform(home: Path) -> AsyncIterator[BiPlatform]:
    """Yield the kernel with the seeded history, a superadmin and a user of each role."""
    clock = SimulatedClock(int(NOW.timestamp() * 1000))
    kernel = Kernel(embedded_settings(home), clock=clock)
    app = create_app(kernel)
    await kernel.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await seed(kernel)
            emails = {who: f"{who}@example.com" for who in ("root", *ROLES)}
            for email in emails.values():
                body = {"email": email, "password": PASSWORD}
                assert (await http.post("/api/v1/auth/register", json=body)).status_code == 201
            assert kernel.users is not None
            async with kernel.infra.database.unit_of_work(system=True) as uow:
                await kernel.users.admin.grant_superadmin(uow, emails["root"])
                for role in ROLES:
                    statement = update(User).where(User.email == emails[role]).values(role=role)
                    await uow.session.execute(statement)
            headers = {who: await sign_in(http, email) for who, email in emails.items()}
            yield BiPlatform(http, kernel, clock, headers)
    finally:
        await kernel.stop()
