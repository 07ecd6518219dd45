"""The event engine: same trades as the vectorized path, and no lookahead."""

from __future__ import annotations

import numpy as np
import pytest

from chainflow.backtest.api import STRATEGIES, run_backtest
from chainflow.backtest.engine import run_event
from chainflow.backtest.types import BacktestConfig
from chainflow.backtest.vectorized import run_signals
from chainflow.core.market import BarSeries
from tests.backtest.builders import ScriptedStrategy, random_walk_bars

CONFIGS = {
    "plain": BacktestConfig(),
    "costs": BacktestConfig(commission=0.0005, spread=0.0002, slippage=0.00005),
    "long_only": BacktestConfig(long_only=True, commission=0.001),
    "stops": BacktestConfig(stop_loss=0.0015, take_profit=0.002, slippage=0.00002),
    "levered_fixed": BacktestConfig(
        sizing="fixed",
        size=200_000,
        leverage=30,
        stop_out_level=0.5,
        commission_per_lot=7,
        lot_size=100_000,
        swap_long=-0.00001,
        swap_short=0.000005,
    ),
    "risk": BacktestConfig(sizing="risk", size=0.01, stop_loss=0.001, take_profit=0.003),
}


def trade_rows(result: object) -> list[tuple[object, ...]]:
    return [
        (
            t.side,
            t.size,
            t.entry_index,
            t.exit_index,
            t.entry_price,
            t.exit_price,
            t.pnl,
            t.exit_reason,
            t.swap,
        )
        for t in result.trades  # type: ignore[attr-defined]
    ]


class TestEventEqualsVectorized:
    @pytest.mark.parametrize("config_name", sorted(CONFIGS))
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_builtins_give_identical_trades_and_equity(self, config_name: str, seed: int) -> None:
        bars = random_walk_bars(1500, seed, with_spread=seed == 2)
        config = CONFIGS[config_name]
        for name in STRATEGIES:
            event = run_backtest(bars, name, {}, config, engine="event")
            fast = run_backtest(bars, name, {}, config, engine="vectorized")
            assert trade_rows(event) == trade_rows(fast), name
            np.testing.assert_array_equal(event.equity, fast.equity)
            assert event.metrics == pytest.approx(fast.metrics, nan_ok=True)

    def test_random_action_arrays_agree(self) -> None:
        rng = np.random.default_rng(5)
        bars = random_walk_bars(3000, 7, with_spread=True)
        actions = rng.choice([-1, 0, 0, 0, 1], size=len(bars))
        for config in CONFIGS.values():
            event = run_event(bars, ScriptedStrategy(actions.tolist()), config)
            fast = run_signals(bars, actions, config)
            assert trade_rows(event) == trade_rows(fast)
            assert len(fast.trades) > 10
            np.testing.assert_array_equal(event.equity, fast.equity)

    def test_strategy_sees_the_position_in_lots(self) -> None:
        bars = random_walk_bars(6, 1)
        strategy = ScriptedStrategy([1, 0, -1, 0, 0, 0])
        config = BacktestConfig(sizing="fixed", size=50_000, lot_size=100_000, leverage=100)
        run_event(bars, strategy, config)
        assert [position for _, position in strategy.seen] == [0.0, 0.5, 0.5, -0.5, -0.5, -0.5]


class PeekingStrategy:
    """Tries to see the future: it only ever gets the closed bar of the call."""

    name = "peeking"

    def __init__(self, bars: BarSeries) -> None:
        self.bars = bars
        self.calls: list[tuple[int, int]] = []

    def on_bar(self, context):  # type: ignore[no-untyped-def]
        from chainflow.trading.api import Decision

        index = len(self.calls)
        self.calls.append((index, context.bar.ts))
        # "peek": buy when the context's bar is followed by a rise; it can only compare the
        # bar it was given with itself, so the guess uses no future data.
        action = "buy" if context.bar.close > context.bar.open else "sell"
        return Decision(context.symbol, context.bar.ts, self.name, action, 1.0, 0.0, ())

    def snapshot(self):  # type: ignore[no-untyped-def]
        return {}

    def restore(self, snapshot):  # type: ignore[no-untyped-def]
        del snapshot


class TestNoLookahead:
    def test_strategy_is_shown_each_bar_once_in_order_and_fills_next_open(self) -> None:
        bars = random_walk_bars(200, 3)
        strategy = PeekingStrategy(bars)
        result = run_event(bars, strategy, BacktestConfig())
        assert [ts for _, ts in strategy.calls] == bars.ts.tolist()
        for trade in result.trades:
            # a decision at bar i never fills before bar i + 1's open
            decided = trade.entry_index - 1
            assert decided >= 0
            expected = "long" if bars.close[decided] > bars.open[decided] else "short"
            assert trade.side == expected
            assert trade.entry_price == bars.open[trade.entry_index]

    @pytest.mark.parametrize("name", sorted(STRATEGIES))
    @pytest.mark.parametrize("engine", ["event", "vectorized"])
    def test_perturbing_future_bars_never_changes_the_past(self, name: str, engine: str) -> None:
        bars = random_walk_bars(1200, 11)
        cut = 800
        rng = np.random.default_rng(3)
        noise = np.concatenate((np.zeros(cut), rng.normal(0, 0.01, len(bars) - cut)))
        wider = np.where(noise != 0, 0.02, 0.0)
        changed = BarSeries.from_arrays(
            ts=bars.ts,
            open=bars.open + noise,
            high=bars.high + noise + wider,
            low=bars.low + noise - wider,
            close=bars.close + noise,
            volume=bars.volume,
        )
        config = BacktestConfig(stop_loss=0.002, commission=0.0002)
        before = run_backtest(bars, name, {}, config, engine=engine)  # type: ignore[arg-type]
        after = run_backtest(changed, name, {}, config, engine=engine)  # type: ignore[arg-type]

        def closed_before_cut(result: object) -> list[tuple[object, ...]]:
            return [row for row in trade_rows(result) if row[3] < cut]  # type: ignore[operator]

        assert closed_before_cut(before) == closed_before_cut(after)
        np.testing.assert_array_equal(before.equity[:cut], after.equity[:cut])
