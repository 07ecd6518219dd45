"""Hand-computed fills, stops, costs, swaps and stop-out, on both engines."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from chainflow.backtest.engine import run_event
from chainflow.backtest.fills import swap_nights
from chainflow.backtest.types import BacktestConfig, BacktestResult
from chainflow.backtest.vectorized import run_signals
from chainflow.core.market import BarSeries
from tests.backtest.builders import START_MS, ScriptedStrategy, make_bars

DAY_MS = 86_400_000
ENGINES = ("event", "vectorized")


def run(
    bars: BarSeries, actions: Sequence[int], config: BacktestConfig, engine: str
) -> BacktestResult:
    if engine == "event":
        return run_event(bars, ScriptedStrategy(actions), config)
    return run_signals(bars, np.asarray(actions), config)


FLAT = (100.0, 100.0, 100.0, 100.0)


@pytest.mark.parametrize("engine", ENGINES)
class TestMarketFills:
    def test_long_fills_at_next_open_ask_with_slippage_and_commission(self, engine: str) -> None:
        bars = make_bars(
            [(10, 10, 10, 10), (11, 11.5, 10.5, 11), (12, 12.5, 11.5, 12), (13, 13, 13, 13)]
        )
        config = BacktestConfig(
            cash=1000, commission=0.01, spread=0.1, slippage=0.05, long_only=True
        )
        result = run(bars, [1, 0, -1, 0], config, engine)
        (trade,) = result.trades
        # units = floor(1000 / (11.15 * 1.01)) = 88
        assert (trade.side, trade.size, trade.entry_index, trade.exit_index) == ("long", 88, 1, 3)
        assert trade.entry_price == pytest.approx(11.15)  # open + spread + slippage
        assert trade.exit_price == pytest.approx(12.95)  # open - slippage (bid)
        assert trade.commission == pytest.approx(88 * 11.15 * 0.01 + 88 * 12.95 * 0.01)
        assert trade.pnl == pytest.approx(88 * 1.8 - 9.812 - 11.396)
        assert trade.exit_reason == "signal"
        assert result.equity.tolist() == pytest.approx([1000, 976.988, 1064.988, 1137.192])
        m = result.metrics
        assert m["final_equity"] == pytest.approx(1137.192)
        assert m["commission_paid"] == pytest.approx(21.208)
        assert m["spread_paid"] == pytest.approx(8.8)
        assert m["slippage_paid"] == pytest.approx(8.8)
        assert m["costs_paid"] == pytest.approx(21.208 + 17.6)

    def test_short_pays_the_spread_when_buying_back(self, engine: str) -> None:
        bars = make_bars([FLAT, (100, 100, 100, 100), (90, 90, 90, 90), (90, 90, 90, 90)])
        config = BacktestConfig(cash=1000, spread=1.0, sizing="fixed", size=5)
        result = run(bars, [-1, 0, 1, 0], config, engine)
        short, long = result.trades
        assert (short.side, short.entry_price, short.exit_price) == ("short", 100.0, 91.0)
        assert short.pnl == pytest.approx(5 * 9.0)
        # the buy signal reverses: a long opens at the same ask, closed at the end (bid close)
        assert (long.side, long.entry_price, long.exit_price, long.exit_reason) == (
            "long",
            91.0,
            90.0,
            "end",
        )
        assert result.metrics["spread_paid"] == pytest.approx(10.0)

    def test_long_only_sell_goes_flat_and_never_short(self, engine: str) -> None:
        bars = make_bars([FLAT] * 5)
        result = run(bars, [1, -1, -1, 1, 0], BacktestConfig(long_only=True), engine)
        assert [(t.side, t.entry_index, t.exit_index) for t in result.trades] == [
            ("long", 1, 2),
            ("long", 4, 4),
        ]

    def test_hold_keeps_position_and_last_decision_is_not_filled(self, engine: str) -> None:
        bars = make_bars([FLAT] * 4)
        result = run(bars, [1, 0, 0, -1], BacktestConfig(), engine)
        (trade,) = result.trades
        assert (trade.entry_index, trade.exit_index, trade.exit_reason) == (1, 3, "end")

    def test_per_lot_commission_and_fixed_size(self, engine: str) -> None:
        bars = make_bars([FLAT] * 3)
        config = BacktestConfig(
            cash=100_000, sizing="fixed", size=200, lot_size=100, commission_per_lot=7
        )
        (trade,) = run(bars, [1, 0, 0], config, engine).trades
        assert trade.size == 200
        assert trade.commission == pytest.approx(28.0)  # 2 lots * 7 per side
        assert trade.pnl == pytest.approx(-28.0)

    def test_risk_sizing_sizes_by_stop_distance(self, engine: str) -> None:
        bars = make_bars([FLAT] * 3)
        config = BacktestConfig(cash=1000, sizing="risk", size=0.01, stop_loss=2.0)
        (trade,) = run(bars, [1, 0, 0], config, engine).trades
        assert trade.size == pytest.approx(5.0)  # 1000 * 1% / 2


@pytest.mark.parametrize("engine", ENGINES)
class TestStops:
    def test_both_levels_in_one_bar_assume_stop_loss_first(self, engine: str) -> None:
        bars = make_bars([FLAT, (100, 103, 97, 100), FLAT])
        config = BacktestConfig(sizing="fixed", size=1, stop_loss=2, take_profit=2)
        (trade,) = run(bars, [1, 0, 0], config, engine).trades
        assert (trade.exit_reason, trade.exit_price, trade.exit_index) == ("stop_loss", 98.0, 1)

    def test_take_profit_fills_at_its_level_without_slippage(self, engine: str) -> None:
        bars = make_bars([FLAT, (100, 103, 99, 101), FLAT])
        config = BacktestConfig(sizing="fixed", size=1, stop_loss=2, take_profit=2, slippage=0.5)
        (trade,) = run(bars, [1, 0, 0], config, engine).trades
        assert trade.entry_price == 100.5
        assert (trade.exit_reason, trade.exit_price) == ("take_profit", 102.5)

    def test_gap_through_stop_fills_at_the_open(self, engine: str) -> None:
        bars = make_bars([FLAT, (100, 100.5, 99.5, 100), (95, 96, 94, 95), FLAT])
        config = BacktestConfig(sizing="fixed", size=1, stop_loss=2)
        (trade,) = run(bars, [1, 0, 0, 0], config, engine).trades
        assert (trade.exit_reason, trade.exit_price, trade.exit_index) == ("stop_loss", 95.0, 2)

    def test_short_stops_compare_the_ask(self, engine: str) -> None:
        bars = make_bars([FLAT, (100, 101.5, 99.5, 100), FLAT])
        config = BacktestConfig(sizing="fixed", size=1, stop_loss=2, spread=1.0)
        (trade,) = run(bars, [-1, 0, 0], config, engine).trades
        # short at the bid 100; stop at ask 102; ask high 102.5 reaches it
        assert (trade.exit_reason, trade.exit_price) == ("stop_loss", 102.0)

    def test_short_take_profit_on_the_ask_low(self, engine: str) -> None:
        bars = make_bars([FLAT, (100, 100.5, 96.5, 97), FLAT])
        config = BacktestConfig(sizing="fixed", size=1, take_profit=2, spread=1.0)
        (trade,) = run(bars, [-1, 0, 0], config, engine).trades
        assert (trade.exit_reason, trade.exit_price, trade.pnl) == ("take_profit", 98.0, 2.0)

    def test_no_reentry_after_a_stop_while_the_strategy_holds(self, engine: str) -> None:
        bars = make_bars([FLAT, (100, 100, 97, 97), FLAT, FLAT])
        config = BacktestConfig(sizing="fixed", size=1, stop_loss=2)
        result = run(bars, [1, 0, 0, 0], config, engine)
        assert len(result.trades) == 1
        assert result.metrics["exposure_pct"] == 0.0


@pytest.mark.parametrize("engine", ENGINES)
class TestStopOut:
    def test_levered_short_is_closed_at_the_bar_worst_price(self, engine: str) -> None:
        bars = make_bars([FLAT, FLAT, (103, 106, 102, 104), FLAT])
        config = BacktestConfig(cash=1000, leverage=10, stop_out_level=0.5)
        result = run(bars, [-1, 0, 0, 0], config, engine)
        (trade,) = result.trades
        # 100 units short at 100, margin 1000; at 106 equity 400 < 50% of margin
        assert (trade.size, trade.exit_reason, trade.exit_price) == (100, "stop_out", 106.0)
        assert result.metrics["final_equity"] == pytest.approx(400.0)

    def test_no_stop_out_above_the_level(self, engine: str) -> None:
        bars = make_bars([FLAT, FLAT, (103, 104, 102, 104), FLAT])
        config = BacktestConfig(cash=1000, leverage=10, stop_out_level=0.5)
        (trade,) = run(bars, [-1, 0, 0, 0], config, engine).trades
        assert trade.exit_reason == "end"


class TestSwaps:
    def test_a_week_counts_seven_nights_with_triple_wednesday(self) -> None:
        ts = START_MS + np.arange(8, dtype=np.int64) * DAY_MS + 3_600_000  # Mon..Mon
        assert swap_nights(ts).tolist() == [0, 1, 1, 3, 1, 1, 0, 0]
        assert swap_nights(ts).sum() == 7

    def test_weekend_gap_counts_friday_night_only(self) -> None:
        friday, monday = START_MS + 4 * DAY_MS, START_MS + 7 * DAY_MS
        assert swap_nights(np.array([friday, monday])).tolist() == [0, 1]

    @pytest.mark.parametrize("engine", ENGINES)
    def test_long_held_tuesday_to_monday_pays_six_nights(self, engine: str) -> None:
        days = [0, 1, 2, 3, 4, 7]  # Mon, Tue, Wed, Thu, Fri, next Mon
        bars = make_bars([FLAT] * 6, step_ms=DAY_MS)
        bars = BarSeries.from_arrays(
            ts=np.array([START_MS + d * DAY_MS + 43_200_000 for d in days]),
            open=bars.open,
            high=bars.high,
            low=bars.low,
            close=bars.close,
            volume=bars.volume,
        )
        config = BacktestConfig(sizing="fixed", size=10, swap_long=-0.5, swap_short=0.2)
        result = run(bars, [1, 0, 0, 0, 0, 0], config, engine)
        (trade,) = result.trades
        assert trade.swap == pytest.approx(10 * -0.5 * 6)  # Tue 1 + Wed 3 + Thu 1 + Fri 1
        assert result.metrics["swap_paid"] == pytest.approx(30.0)
        assert result.metrics["final_equity"] == pytest.approx(10_000 - 30.0)


@pytest.mark.parametrize("engine", ENGINES)
class TestEndOfData:
    def test_open_short_closes_at_last_close_ask(self, engine: str) -> None:
        bars = make_bars([FLAT, FLAT, (100, 100, 90, 95)], spread=[0.5, 0.5, 0.5])
        result = run(bars, [-1, 0, 0], BacktestConfig(sizing="fixed", size=2), engine)
        (trade,) = result.trades
        assert (trade.exit_reason, trade.exit_price, trade.exit_index) == ("end", 95.5, 2)
        assert result.equity[-1] == result.metrics["final_equity"] == pytest.approx(10_009.0)

    def test_no_bars_keeps_the_cash(self, engine: str) -> None:
        result = run(make_bars([]), [], BacktestConfig(cash=500), engine)
        assert result.trades == [] and result.metrics["final_equity"] == 500
