"""Equity, returns and ratios from the daily rollup: exact figures on known trades."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainflow.analytics.errors import InvalidWindowError
from chainflow.analytics.performance import equity_curve, returns_by_period
from chainflow.analytics.rollups import rollup_of
from chainflow.analytics.service import parse_windows
from chainflow.backtest.api import AccountTotals, compute_metrics
from chainflow.core.clock import SimulatedClock
from tests.analytics.builders import (
    DAY_MS,
    HOUR_MS,
    JAN_1_2024,
    ListedTrades,
    analytics_on,
    make_trade,
    started_store,
    store_url,
)

JAN_2 = JAN_1_2024 + DAY_MS
JAN_10 = JAN_1_2024 + 9 * DAY_MS
TRADES = [
    make_trade(0, JAN_1_2024 + 9 * HOUR_MS, 100.0),
    make_trade(1, JAN_1_2024 + 15 * HOUR_MS, -50.0),
    make_trade(2, JAN_2 + 10 * HOUR_MS, 200.0),
    make_trade(3, JAN_10 + 13 * HOUR_MS, -300.0),
]


def daily() -> list[tuple[int, object]]:
    return sorted(rollup_of(TRADES).daily.items())


class TestEquityCurve:
    def test_equity_and_drawdown_at_each_trading_day(self) -> None:
        points = equity_curve(daily(), 10_000.0)  # type: ignore[arg-type]
        assert [(p.ts, p.pnl, p.equity) for p in points] == [
            (JAN_1_2024, 50.0, 10_050.0),
            (JAN_2, 200.0, 10_250.0),
            (JAN_10, -300.0, 9_950.0),
        ]
        assert [p.drawdown_pct for p in points] == pytest.approx([0.0, 0.0, 300 / 10_250 * 100])


class TestReturnsByPeriod:
    def test_days(self) -> None:
        got = returns_by_period(daily(), 10_000.0, "day")  # type: ignore[arg-type]
        assert [(r.ts, r.pnl, r.trades, r.wins) for r in got] == [
            (JAN_1_2024, 50.0, 2, 1),
            (JAN_2, 200.0, 1, 1),
            (JAN_10, -300.0, 1, 0),
        ]
        assert [r.return_pct for r in got] == pytest.approx(
            [0.5, 200 / 10_050 * 100, -300 / 10_250 * 100]
        )

    def test_iso_weeks_start_on_monday(self) -> None:
        got = returns_by_period(daily(), 10_000.0, "week")  # type: ignore[arg-type]
        assert [(r.ts, r.pnl, r.trades, r.wins) for r in got] == [
            (JAN_1_2024, 250.0, 3, 2),
            (JAN_1_2024 + 7 * DAY_MS, -300.0, 1, 0),
        ]
        assert [r.return_pct for r in got] == pytest.approx([2.5, -300 / 10_250 * 100])

    def test_months(self) -> None:
        got = returns_by_period(daily(), 10_000.0, "month")  # type: ignore[arg-type]
        assert [(r.ts, r.pnl, r.return_pct, r.trades) for r in got] == [
            (JAN_1_2024, -50.0, -0.5, 4)
        ]


class TestRatios:
    async def test_windows_match_the_backtest_metrics_on_the_dense_daily_curve(
        self, tmp_path: Path
    ) -> None:
        source = ListedTrades(10_000.0)
        source.trades["t"] = TRADES
        clock = SimulatedClock(JAN_10 + 20 * HOUR_MS)
        async with started_store(store_url("duckdb", tmp_path)) as store:
            async with analytics_on(store, source, clock) as service:
                everything, last_five = await service.ratios("t", "all,5")
        equity = np.array([10_050.0, 10_250.0, *[10_250.0] * 7, 9_950.0])
        days = JAN_1_2024 + np.arange(10, dtype=np.int64) * DAY_MS
        expected = compute_metrics(equity, days, [], AccountTotals(10_000.0))
        assert everything.observations == 10 and everything.trades == 4
        assert everything.sharpe == pytest.approx(expected["sharpe"])
        assert everything.sortino == pytest.approx(expected["sortino"])
        assert everything.calmar == pytest.approx(expected["calmar"])
        assert everything.max_drawdown_pct == pytest.approx(300 / 10_250 * 100)
        assert everything.small_sample and "10 bars over 10.0 days" in everything.warnings[0]
        tail = compute_metrics(equity[-5:], days[-5:], [], AccountTotals(10_250.0))
        assert (last_five.start, last_five.end) == (int(days[-5]), JAN_10)
        assert last_five.observations == 5 and last_five.trades == 1
        assert last_five.sharpe == pytest.approx(tail["sharpe"])
        assert last_five.return_pct == pytest.approx(-300 / 10_250 * 100)

    async def test_no_trades_answers_an_empty_window(self, tmp_path: Path) -> None:
        async with started_store(store_url("duckdb", tmp_path)) as store:
            async with analytics_on(store) as service:
                (window,) = await service.ratios("nobody", "30")
        assert window.observations == 0 and window.sharpe is None and window.small_sample

    @pytest.mark.parametrize("text", ["", "0", "-3", "30,x", "1,2,3,4,5,6,7,8,9"])
    def test_bad_windows_are_refused(self, text: str) -> None:
        with pytest.raises(InvalidWindowError):
            parse_windows(text)
