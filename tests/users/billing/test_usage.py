"""``GET /api/v1/billing/usage`` from real metering (the bridge's usage table on DuckDB,
backtest jobs), and the Enterprise overage line on the next renewal order, billed once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chainflow.backtest.models import BacktestJob
from chainflow.bridge.usage import UsageMeter
from chainflow.core.settings import BillingSettings, TimeSeriesSettings
from chainflow.runtime.billing_usage import MeteredUsage
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries
from chainflow.users.billing.ports import tenant_context_for
from tests.fixtures.database import sqlite_database
from tests.users.billing.conftest import BillingHarness, billing_harness
from tests.users.conftest import Account, UsersHarness

INCLUDED_TICKS = 1_000
IDR_PER_MILLION = 1_000_000  # one rupiah per tick above the allowance


@dataclass
class Metered:
    billing: BillingHarness
    meter: UsageMeter

    async def ticks(self, account: Account, count: int) -> None:
        self.meter.record(account.tenant_id, ticks=count, messages=1)
        await self.meter.flush()

    async def usage(self, account: Account) -> dict[str, Any]:
        response = await self.billing.client.get("/api/v1/billing/usage", headers=account.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())


def overage_settings(settings: BillingSettings) -> BillingSettings:
    return settings.model_copy(
        update={
            "enterprise_included_ticks": INCLUDED_TICKS,
            "enterprise_overage_idr_per_million_ticks": IDR_PER_MILLION,
        }
    )


@pytest.fixture
async def metered(tmp_path: Path) -> AsyncIterator[Metered]:
    store: TimeSeriesStore = open_timeseries(
        f"duckdb://{tmp_path}/usage.duckdb", TimeSeriesSettings()
    )
    await store.start()

    def usage(users: UsersHarness) -> MeteredUsage:
        return MeteredUsage(database=users.database, timeseries=store)

    try:
        async with billing_harness(
            sqlite_database(tmp_path), configure=overage_settings, usage=usage
        ) as harness:
            yield Metered(harness, UsageMeter(store=store, clock=harness.users.clock))
    finally:
        await store.close()


async def add_backtest(billing: BillingHarness, account: Account) -> None:
    tenant = tenant_context_for(account.tenant_id)
    async with billing.users.database.unit_of_work(tenant) as uow:
        uow.session.add(
            BacktestJob(
                tenant_id=account.tenant_id,
                kind="backtest",
                status="succeeded",
                symbol="EURUSD",
                timeframe="H1",
                strategy="sma_cross",
                request={},
            )
        )


class TestUsage:
    async def test_usage_of_the_current_period_with_the_enterprise_overage(
        self, metered: Metered
    ) -> None:
        billing = metered.billing
        owner = await billing.users.signup("usage@example.com")
        await billing.pay(owner, "enterprise", "monthly")
        await metered.ticks(owner, 3_500)
        await add_backtest(billing, owner)

        usage = await metered.usage(owner)

        subscription = await billing.subscription(owner)
        assert usage["plan"] == "enterprise"
        assert usage["period_start"] == subscription["current_period_start"]
        assert (usage["ticks"], usage["messages"], usage["backtests"]) == (3_500, 1, 1)
        assert usage["model_trainings"] == 0 and usage["api_calls"] == 0
        assert usage["included_ticks"] == INCLUDED_TICKS
        assert (usage["overage_ticks"], usage["overage_idr"]) == (2_500, 2_500)

    async def test_a_free_tenant_sees_its_calendar_month_without_overage(
        self, metered: Metered
    ) -> None:
        owner = await metered.billing.users.signup("free-usage@example.com")
        await metered.ticks(owner, 5_000)
        usage = await metered.usage(owner)
        assert usage["plan"] == "free" and usage["ticks"] == 5_000
        assert usage["period_start"].startswith("2025-06-01")
        assert usage["included_ticks"] is None and usage["overage_idr"] == 0


class TestOverage:
    async def test_the_next_renewal_bills_a_finished_period_once(self, metered: Metered) -> None:
        billing = metered.billing
        owner = await billing.users.signup("overage@example.com")
        first = await billing.pay(owner, "enterprise", "monthly")
        await metered.ticks(owner, 3_500)  # 2,500 above the allowance

        await billing.advance_days(24, owner)  # the first period has not ended yet
        renewal = (await billing.sweep()).renewals[owner.tenant_id]
        assert [i["id"] for i in billing.peer.sent(renewal)["item_details"]] == [
            "enterprise-monthly",
            "ppn",
        ]
        await billing.notify(renewal, "settlement")

        await billing.advance_days(31, owner)  # the first period ended; the second ends soon
        second = (await billing.sweep()).renewals[owner.tenant_id]
        items = {i["id"]: i["price"] for i in billing.peer.sent(second)["item_details"]}
        # PPN 11% of 2,501,500 = 275,165
        assert items == {"enterprise-monthly": 2_499_000, f"overage-{first}": 2_500, "ppn": 275_165}
        await billing.notify(second, "settlement")
        [invoice, *_] = await billing.invoices(owner)
        assert invoice["subtotal_idr"] == 2_501_500
        assert invoice["total_idr"] == 2_501_500 + items["ppn"]

        await billing.advance_days(31, owner)
        third = (await billing.sweep()).renewals[owner.tenant_id]
        assert third != second
        ids = [i["id"] for i in billing.peer.sent(third)["item_details"]]
        assert ids == ["enterprise-monthly", "ppn"]  # billed once; later periods had none
