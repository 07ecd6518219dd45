"""Each metric on small hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainflow.backtest.metrics import (
    YEAR_MS,
    AccountTotals,
    bar_returns,
    compute_metrics,
    cost_metrics,
    drawdown_curve,
    infer_periods_per_year,
    max_drawdown_duration,
    risk_metrics,
    sample_warnings,
    small_sample_metrics,
    span_days,
    trade_metrics,
)
from chainflow.backtest.types import Trade

EQUITY = np.array([110.0, 99.0, 121.0, 121.0])  # from 100 cash


def trade(pnl: float) -> Trade:
    return Trade("long", 1.0, 0, 1.0, 1, 1.0, pnl, 0.0, 0.0, "signal", 0, 1)


class TestReturns:
    def test_bar_returns_start_from_the_cash(self) -> None:
        assert bar_returns(EQUITY, 100.0).tolist() == pytest.approx([0.1, -0.1, 2 / 9, 0.0])

    def test_risk_metrics_by_hand(self) -> None:
        r = np.array([0.1, -0.1, 2 / 9, 0.0])
        m = risk_metrics(EQUITY, 100.0, periods_per_year=4.0)
        std = math.sqrt(sum((x - r.mean()) ** 2 for x in r) / 3)
        downside = math.sqrt((0.1**2) / 4)
        assert m["return_pct"] == pytest.approx(21.0)
        assert m["annualized_return_pct"] == pytest.approx(21.0)  # one year of 4 bars
        assert m["volatility_pct"] == pytest.approx(std * 2 * 100)
        assert m["sharpe"] == pytest.approx(r.mean() / std * 2)
        assert m["sortino"] == pytest.approx(r.mean() / downside * 2)
        assert m["max_drawdown_pct"] == pytest.approx(10.0)
        assert m["calmar"] == pytest.approx(0.21 / 0.10)

    def test_risk_free_rate_is_compounded_per_period(self) -> None:
        r = np.array([0.1, -0.1, 2 / 9, 0.0])
        rf = 1.05 ** (1 / 4) - 1
        m = risk_metrics(EQUITY, 100.0, periods_per_year=4.0, risk_free_rate=0.05)
        assert m["sharpe"] == pytest.approx((r.mean() - rf) / r.std(ddof=1) * 2)

    def test_two_years_annualize_geometrically(self) -> None:
        m = risk_metrics(np.array([110.0, 121.0]), 100.0, periods_per_year=1.0)
        assert m["annualized_return_pct"] == pytest.approx(10.0)

    def test_flat_equity_has_undefined_ratios(self) -> None:
        m = risk_metrics(np.array([100.0, 100.0]), 100.0, periods_per_year=252.0)
        assert math.isnan(m["sharpe"]) and math.isnan(m["calmar"])
        assert m["max_drawdown_pct"] == 0.0


class TestDrawdown:
    def test_curve_is_the_fraction_below_the_running_peak(self) -> None:
        assert drawdown_curve(EQUITY, 100.0).tolist() == pytest.approx([0, 0.1, 0, 0])

    def test_curve_counts_the_starting_cash_as_a_peak(self) -> None:
        assert drawdown_curve(np.array([90.0, 95.0]), 100.0).tolist() == pytest.approx([0.1, 0.05])

    def test_duration_runs_from_peak_to_recovery(self) -> None:
        equity = np.array([100.0, 105.0, 101.0, 102.0, 106.0, 104.0])
        ts = np.arange(6, dtype=np.int64) * 60_000
        # peak at bar 1, recovered at bar 4: 3 bars; the open drawdown at the end is 1 bar
        assert max_drawdown_duration(equity, ts, 100.0) == (3, 180_000)

    def test_unrecovered_drawdown_runs_to_the_end(self) -> None:
        equity = np.array([99.0, 98.0, 97.0])
        ts = np.array([0, 10, 20], dtype=np.int64)
        assert max_drawdown_duration(equity, ts, 100.0) == (3, 20)


class TestTrades:
    def test_win_rate_profit_factor_expectancy(self) -> None:
        m = trade_metrics([trade(30.0), trade(-10.0), trade(10.0), trade(-20.0)])
        assert m["num_trades"] == 4
        assert m["win_rate_pct"] == 50.0
        assert m["profit_factor"] == pytest.approx(40 / 30)
        assert m["expectancy"] == pytest.approx(2.5)
        assert m["avg_win"] == 20.0 and m["avg_loss"] == -15.0
        assert m["best_trade"] == 30.0 and m["worst_trade"] == -20.0

    def test_profit_factor_is_infinite_without_losses(self) -> None:
        assert trade_metrics([trade(5.0)])["profit_factor"] == math.inf

    def test_no_trades_gives_nan(self) -> None:
        m = trade_metrics([])
        assert m["num_trades"] == 0 and math.isnan(m["profit_factor"])
        assert math.isnan(m["win_rate_pct"])


class TestCosts:
    def test_costs_turnover_and_exposure(self) -> None:
        totals = AccountTotals(
            initial_cash=1000.0,
            commission=3.0,
            spread=2.0,
            slippage=1.0,
            swap=-4.0,
            traded_value=5000.0,
            bars_in_market=25,
        )
        m = cost_metrics(totals, n_bars=100)
        assert m["costs_paid"] == pytest.approx(10.0)
        assert m["swap_paid"] == 4.0
        assert m["turnover"] == 5.0
        assert m["exposure_pct"] == 25.0


class TestPeriodsPerYear:
    def test_inferred_from_bar_count_over_span(self) -> None:
        ts = np.arange(10, dtype=np.int64) * 86_400_000
        assert infer_periods_per_year(ts) == pytest.approx(10 / (10 * 86_400_000 / YEAR_MS))

    def test_weekend_gaps_lower_the_count(self) -> None:
        days = [d for d in range(28) if d % 7 < 5]  # 5 bars a week
        ts = np.array(days, dtype=np.int64) * 86_400_000
        assert infer_periods_per_year(ts) == pytest.approx(20 / (26 / 365.25))

    def test_single_bar_defaults_to_252(self) -> None:
        assert infer_periods_per_year(np.array([0], dtype=np.int64)) == 252.0

    def test_compute_metrics_uses_the_given_value(self) -> None:
        ts = np.arange(4, dtype=np.int64) * 60_000
        m = compute_metrics(EQUITY, ts, [], AccountTotals(100.0), periods_per_year=4.0)
        assert m["periods_per_year"] == 4.0 and m["final_equity"] == 121.0
        assert m["max_drawdown_duration_bars"] == 2.0


class TestSampleWarnings:
    def test_one_day_of_m5_bars_warns_with_the_observations(self) -> None:
        ts = np.arange(288, dtype=np.int64) * 300_000  # one day of M5
        equity = 100.0 * np.cumprod(np.full(288, 1.0005))  # a steady climb: a huge Sharpe
        m = compute_metrics(equity, ts, [trade(1.0)] * 3, AccountTotals(100.0))

        assert m["span_days"] == pytest.approx(1.0) and m["sharpe"] > 20
        assert set(small_sample_metrics(m)) == {
            "sharpe",
            "sortino",
            "calmar",
            "volatility_pct",
            "annualized_return_pct",
            "win_rate_pct",
            "profit_factor",
            "expectancy",
        }
        assert sample_warnings(m) == [
            "small sample: sharpe, sortino, calmar, volatility and the annualized return come "
            "from 288 bars over 1.0 days (under 30 days or 30 bars they extrapolate noise)",
            "small sample: win rate, profit factor and expectancy come from 3 closed trades "
            "(under 30 they are noise)",
        ]

    def test_a_year_with_many_trades_has_no_warning(self) -> None:
        ts = np.arange(365, dtype=np.int64) * 86_400_000
        m = compute_metrics(np.full(365, 100.0), ts, [trade(1.0)] * 40, AccountTotals(100.0))

        assert m["span_days"] == pytest.approx(365.0)
        assert small_sample_metrics(m) == () and sample_warnings(m) == []

    def test_no_trades_warn_about_returns_only(self) -> None:
        m = compute_metrics(EQUITY, np.arange(4, dtype=np.int64) * 60_000, [], AccountTotals(100.0))
        assert span_days(np.arange(4, dtype=np.int64) * 60_000) == pytest.approx(4 / 1440)
        assert [w.split(":")[1].split(",")[0].strip() for w in sample_warnings(m)] == ["sharpe"]
