"""API-call metering: calls the gateway admits are counted per tenant in memory, flushed to
the ``api_usage`` table (DuckDB here), shown by ``GET /api/v1/billing/usage`` and priced as
Enterprise overage on the next renewal."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chainflow.core.clock import SimulatedClock
from chainflow.core.settings import BillingSettings, TimeSeriesSettings
from chainflow.gateway.api_metering import ApiCallMeter, MeteredRateLimiter, count_api_calls
from chainflow.runtime.billing_usage import MeteredUsage
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries
from tests.fixtures.api_client import logged_in_client
from tests.fixtures.database import sqlite_database
from tests.users.billing.conftest import DAY_MS, BillingHarness, billing_harness
from tests.users.conftest import START_MS, Account, UsersHarness

INCLUDED_CALLS = 5
IDR_PER_MILLION_CALLS = 2_000_000  # two rupiah per call above the allowance


@dataclass
class Metered:
    billing: BillingHarness
    meter: ApiCallMeter
    store: TimeSeriesStore

    async def calls(self, account: Account, count: int) -> None:
        """Make ``count`` authenticated calls as ``account``."""
        for _ in range(count):
            response = await self.billing.client.get("/api/v1/users/me", headers=account.headers)
            assert response.status_code == 200, response.text

    async def usage(self, account: Account) -> dict[str, Any]:
        """Flush the meter, then read the usage report (itself one more call, unflushed)."""
        await self.meter.flush()
        response = await self.billing.client.get("/api/v1/billing/usage", headers=account.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())


def api_overage(settings: BillingSettings) -> BillingSettings:
    return settings.model_copy(
        update={
            "enterprise_included_api_calls": INCLUDED_CALLS,
            "enterprise_overage_idr_per_million_api_calls": IDR_PER_MILLION_CALLS,
        }
    )


@pytest.fixture
async def metered(tmp_path: Path) -> AsyncIterator[Metered]:
    store = open_timeseries(f"duckdb://{tmp_path}/api.duckdb", TimeSeriesSettings())
    await store.start()

    def usage(users: UsersHarness) -> MeteredUsage:
        return MeteredUsage(database=users.database, timeseries=store)

    try:
        async with billing_harness(
            sqlite_database(tmp_path), configure=api_overage, usage=usage
        ) as harness:
            # The gateway's limiter as the kernel builds it: it counts what it admits.
            meter = ApiCallMeter(store=store, clock=harness.users.clock, interval_s=3600)
            harness.users.app.state.rate_limiter = MeteredRateLimiter(harness.users.cache, meter)
            yield Metered(harness, meter, store)
            await meter.stop()
    finally:
        await store.close()


class TestCounting:
    async def test_n_calls_show_as_n_after_a_flush_per_tenant(self, metered: Metered) -> None:
        alice = await metered.billing.users.signup("alice@example.com")
        bob = await metered.billing.users.signup("bob@example.com")
        await metered.calls(alice, 7)
        await metered.calls(bob, 3)

        assert metered.meter.pending == 10
        assert (await metered.usage(alice))["api_calls"] == 7
        assert (await metered.usage(bob))["api_calls"] == 3
        # Each usage read was a call too; it shows after the next flush.
        assert (await metered.usage(alice))["api_calls"] == 8

    async def test_unauthenticated_and_refused_calls_are_not_counted(
        self, metered: Metered
    ) -> None:
        owner = await metered.billing.users.signup("anon@example.com")
        anonymous = await metered.billing.client.get("/api/v1/users/me")
        forged = await metered.billing.client.get(
            "/api/v1/users/me", headers={"Authorization": "Bearer not-a-token"}
        )
        assert (anonymous.status_code, forged.status_code) == (401, 401)
        assert metered.meter.pending == 0
        assert (await metered.usage(owner))["api_calls"] == 0

    async def test_calls_count_on_their_utc_day(self, metered: Metered) -> None:
        owner = await metered.billing.users.signup("days@example.com")
        await metered.calls(owner, 2)
        await metered.meter.flush()
        await metered.billing.advance_days(1, owner)
        await metered.calls(owner, 4)
        await metered.meter.flush()

        now_ms = metered.billing.users.clock.now_ms()
        today = now_ms // DAY_MS * DAY_MS
        counted_today = await count_api_calls(metered.store, owner.tenant_id, today, today + DAY_MS)
        counted_both = await count_api_calls(
            metered.store, owner.tenant_id, today - DAY_MS, today + DAY_MS
        )
        assert (counted_today, counted_both) == (4, 6)

    async def test_stopping_flushes_what_is_pending(self, metered: Metered) -> None:
        owner = await metered.billing.users.signup("stop@example.com")
        await metered.calls(owner, 3)
        await metered.meter.stop()
        assert metered.meter.pending == 0
        assert (await metered.usage(owner))["api_calls"] == 3


class TestEnterpriseOverage:
    async def test_calls_above_the_allowance_are_priced_and_billed_on_renewal(
        self, metered: Metered
    ) -> None:
        billing = metered.billing
        owner = await billing.users.signup("api-ent@example.com")
        first = await billing.pay(owner, "enterprise", "monthly")  # checkout: call 1
        await metered.calls(owner, 11)  # 12 calls: 7 above the allowance of 5

        usage = await metered.usage(owner)

        assert usage["plan"] == "enterprise" and usage["api_calls"] == 12
        assert usage["included_api_calls"] == INCLUDED_CALLS
        assert (usage["overage_api_calls"], usage["overage_idr"]) == (7, 14)

        await billing.advance_days(24, owner)
        renewal = (await billing.sweep()).renewals[owner.tenant_id]
        await billing.notify(renewal, "settlement")
        await metered.meter.flush()  # the period's calls are all stored before it is billed
        await billing.advance_days(31, owner)
        second = (await billing.sweep()).renewals[owner.tenant_id]

        items = {i["id"]: i["price"] for i in billing.peer.sent(second)["item_details"]}
        calls_in_first_period = 12 + 1  # and the usage read
        assert items[f"overage-api-{first}"] == 2 * (calls_in_first_period - INCLUDED_CALLS)
        await billing.notify(second, "settlement")
        await billing.advance_days(31, owner)
        third = (await billing.sweep()).renewals[owner.tenant_id]
        third_ids = [i["id"] for i in billing.peer.sent(third)["item_details"]]
        assert f"overage-api-{first}" not in third_ids  # billed once


class TestCost:
    async def test_counting_a_call_costs_about_a_microsecond(self, tmp_path: Path) -> None:
        store = open_timeseries(f"duckdb://{tmp_path}/cost.duckdb", TimeSeriesSettings())
        await store.start()
        meter = ApiCallMeter(store=store, clock=SimulatedClock(START_MS), interval_s=3600)
        calls = 200_000
        started = time.perf_counter()
        for index in range(calls):
            meter.record(f"tenant-{index % 50}")
        per_call_us = (time.perf_counter() - started) / calls * 1e6
        assert meter.pending == calls
        assert await meter.flush() == 50  # one row per tenant and day
        await meter.stop()
        await store.close()
        assert per_call_us < 20  # about 0.5 us here; generous for a shared CI machine


class TestKernelWiring:
    async def test_the_kernel_meters_calls_into_the_usage_report(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, kernel, _tenant_id):
            for _ in range(5):
                assert (await http.get("/api/v1/users/me")).status_code == 200
            await kernel.api_calls.flush()

            usage = await http.get("/api/v1/billing/usage")

            assert usage.status_code == 200, usage.text
            assert usage.json()["api_calls"] == 5
