"""Business-intelligence figures from a known history: movements, cohorts, MRR per month,
conversion, usage per tier, and the monthly usage rollup (incremental equals rebuilt)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from chainflow.analytics.bi.movement import cohorts, movements
from chainflow.analytics.bi.revenue import conversion, paying_months, revenue_by_month
from chainflow.analytics.bi.snapshot import build_snapshot
from chainflow.analytics.bi.usage import MonthlyUsageRollup, UsageDay, month_totals
from tests.analytics.bi_seed import (
    APR,
    ENTERPRISE_MONTHLY,
    FEB,
    JAN,
    JUN,
    MAR,
    MAY,
    NOW,
    PRO_MONTHLY,
    PRO_YEARLY_PER_MONTH,
    SPANS,
    TENANTS,
    USAGE,
    ListedDays,
    day_ms,
    history,
)
from tests.analytics.builders import started_store, store_url

ACTIVE = {tenant: set(month_totals(days)) for tenant, days in USAGE.items()}
SIGNUPS = {"tenant-a": JAN, "tenant-b": JAN, "tenant-c": FEB, "tenant-d": MAR}


def as_rows(found: list) -> list[tuple[int, ...]]:
    return [(m.month, m.active, m.new, m.churned, m.reactivated) for m in found]


class TestMovements:
    def test_activity_gives_new_churned_and_reactivated(self) -> None:
        assert as_rows(movements(ACTIVE, JAN, JUN)) == [
            (JAN, 2, 2, 0, 0),
            (FEB, 3, 1, 0, 0),
            (MAR, 1, 0, 2, 0),
            (APR, 2, 0, 0, 1),
            (MAY, 1, 0, 1, 0),
            (JUN, 1, 0, 0, 0),
        ]

    def test_paid_spans_give_paying_movements(self) -> None:
        paying = paying_months(SPANS)
        assert paying["tenant-c"] == {FEB}
        assert as_rows(movements(paying, JAN, MAR)) == [
            (JAN, 1, 1, 0, 0),
            (FEB, 3, 2, 0, 0),
            (MAR, 2, 0, 1, 0),
        ]


class TestCohorts:
    def test_each_signup_month_counts_its_active_tenants_after(self) -> None:
        rows = {c.month: (c.tenants, c.active) for c in cohorts(SIGNUPS, ACTIVE, JAN, JUN)}
        assert rows[JAN] == (2, (2, 2, 1, 2, 1, 1))
        assert rows[FEB] == (1, (1, 0, 0, 0, 0))
        assert rows[MAR] == (1, (0, 0, 0, 0))
        assert rows[JUN] == (0, (0,))


class TestRevenue:
    def test_mrr_of_each_month_counts_the_spans_in_force_at_its_end(self) -> None:
        rows = revenue_by_month(list(SPANS), JAN, JUN, NOW)
        both = ENTERPRISE_MONTHLY + PRO_YEARLY_PER_MONTH
        assert [(r.mrr_idr, r.paying_tenants) for r in rows] == [
            (PRO_YEARLY_PER_MONTH, 1),
            (PRO_MONTHLY + PRO_YEARLY_PER_MONTH, 2),  # C was refunded on 20 Feb
            (both, 2),
            (both, 2),
            (both, 2),
            (both, 2),
        ]
        assert rows[2].by_plan == {"enterprise": ENTERPRISE_MONTHLY, "pro": PRO_YEARLY_PER_MONTH}

    def test_conversion_follows_the_first_paid_plan_and_upgrades(self) -> None:
        found = conversion(TENANTS, SPANS, JAN, JUN)
        assert (found.signups, found.paid_ever, found.free_to_pro, found.free_to_enterprise) == (
            4,
            3,
            3,
            0,
        )
        assert (found.pro_ever, found.pro_to_enterprise) == (3, 1)
        assert found.free_to_paid_rate == 0.75
        assert found.pro_to_enterprise_rate == pytest.approx(1 / 3)
        assert found.median_days_to_first_payment == 5.0  # 22, 5 and 0 days
        months = {m.month: m for m in found.by_month}
        assert (months[JAN].signups, months[JAN].free_to_pro) == (2, 1)
        assert (months[FEB].signups, months[FEB].free_to_pro) == (1, 2)
        assert (months[MAR].signups, months[MAR].pro_to_enterprise) == (1, 1)


class TestSnapshot:
    def test_usage_per_tier_and_terminals_in_the_month_under_way(self) -> None:
        usage = {tenant: month_totals(days) for tenant, days in USAGE.items()}
        snapshot = build_snapshot(
            history(), usage, Counter({"tenant-b": 2, "tenant-d": 1}), now=NOW, months=6
        )
        assert (snapshot.first_month, snapshot.last_month) == (JAN, JUN)
        assert snapshot.arr_idr == 12 * (ENTERPRISE_MONTHLY + PRO_YEARLY_PER_MONTH)
        june = {row.tier: row for row in snapshot.months[-1].usage}
        assert (june["pro"].tenants, june["pro"].active_tenants, june["pro"].ticks) == (1, 1, 1000)
        assert (june["pro"].api_calls, june["pro"].terminals) == (3, 2)
        assert (june["free"].tenants, june["free"].terminals, june["free"].ticks) == (2, 1, 0)
        april = {row.tier: row for row in snapshot.months[3].usage}
        assert (april["enterprise"].ticks, april["enterprise"].api_calls) == (10, 4)
        assert april["enterprise"].terminals == 0
        assert snapshot.terminals == 3
        assert snapshot.terminals_by_tier == {"pro": 2, "free": 1}


@pytest.mark.parametrize("backend", ["duckdb", "chdb"])
class TestMonthlyUsageRollup:
    async def test_incremental_rollup_equals_a_rebuild_and_survives_a_restart(
        self, backend: str, tmp_path: Path
    ) -> None:
        if backend == "chdb":
            pytest.importorskip("chdb")
        source = ListedDays(USAGE)
        async with started_store(store_url(backend, tmp_path / "a")) as store:
            rollup = MonthlyUsageRollup(store, source)
            await rollup.refresh(SIGNUPS, MAY)  # first sight: backfilled from signup
            source.days_by_tenant["tenant-d"] = [UsageDay(day_ms(6, 2), 5, 1)]
            source.days_by_tenant["tenant-a"].append(UsageDay(day_ms(5, 30), 3, 0))
            written = await rollup.refresh(SIGNUPS, JUN)  # incremental: April on
            assert written == 3  # A's May, B's June, D's June
            incremental = rollup.months
            expected = {
                tenant: month_totals(days) for tenant, days in source.days_by_tenant.items()
            }
            for tenant, months in expected.items():
                assert {m: v for m, v in incremental[tenant].items() if v.is_active} == months
            reloaded = MonthlyUsageRollup(store, source)
            await reloaded.load()
            assert reloaded.months == incremental
        async with started_store(store_url(backend, tmp_path / "b")) as fresh:
            rebuilt = MonthlyUsageRollup(fresh, source)
            await rebuilt.refresh(SIGNUPS, JUN)
            active = {
                t: {m for m, v in ms.items() if v.is_active} for t, ms in rebuilt.months.items()
            }
            assert active == {
                t: {m for m, v in ms.items() if v.is_active} for t, ms in incremental.items()
            }
            for tenant, months in rebuilt.months.items():
                for month, value in months.items():
                    if value.is_active:
                        assert incremental[tenant][month] == value

    async def test_a_known_tenant_is_read_only_from_the_previous_month(
        self, backend: str, tmp_path: Path
    ) -> None:
        if backend == "chdb":
            pytest.importorskip("chdb")
        seen: list[tuple[str, int]] = []

        class Recording(ListedDays):
            async def days(self, tenant_id: str, start_ms: int, end_ms: int) -> list[UsageDay]:
                seen.append((tenant_id, start_ms))
                return list(await super().days(tenant_id, start_ms, end_ms))

        async with started_store(store_url(backend, tmp_path)) as store:
            rollup = MonthlyUsageRollup(store, Recording(USAGE))
            await rollup.refresh(SIGNUPS, JUN)
            seen.clear()
            assert await rollup.refresh(SIGNUPS, JUN) == 0
            assert set(seen) == {(tenant, day_ms(5, 1)) for tenant in SIGNUPS}
