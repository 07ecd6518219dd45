"""The event engine's fast loop (chunks run ahead, bar views, borrowed contexts) changes
nothing: the same contexts, trades and equity as a plain bar-by-bar loop over ``step_bar``."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
from typing import Any

import numpy as np
import pytest

from chainflow.backtest import fills
from chainflow.backtest.api import STRATEGIES
from chainflow.backtest.engine import ACTION_CODES, BarColumns, BarView, run_event
from chainflow.backtest.strategies import SmaCrossover
from chainflow.backtest.types import BacktestConfig, Trade
from chainflow.core.market import BarRow, BarSeries
from chainflow.trading.api import Decision, StrategyContext

from .builders import random_walk_bars

FIELDS = ("ts", "open", "high", "low", "close", "volume", "spread")
CONFIGS = {
    "plain": BacktestConfig(commission=0.0002),
    "long_only": BacktestConfig(long_only=True, commission=0.001),
    "stops": BacktestConfig(stop_loss=0.0006, take_profit=0.001, slippage=0.00001),
    "stop_out": BacktestConfig(
        cash=1_000,
        leverage=400,
        sizing="fixed",
        size=300_000,
        lot_size=100_000,
        stop_out_level=0.5,
        swap_long=-0.00002,
        swap_short=0.00001,
    ),
}


class StreakyStrategy:
    """Random actions in streaks (``change`` = chance of a new action per bar); it keeps
    every context it was given."""

    name = "streaky"

    def __init__(self, seed: int, change: float) -> None:
        self.rng, self.change, self.action = random.Random(seed), change, "hold"
        self.contexts: list[StrategyContext] = []

    def on_bar(self, context: StrategyContext) -> Decision:
        assert context.bar is not None
        self.contexts.append(context)
        if self.rng.random() < self.change:
            self.action = self.rng.choice(["buy", "sell", "hold"])
        return Decision(context.symbol, context.bar.ts, self.name, self.action, 1.0, 0.0, ())

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, snapshot: dict[str, Any]) -> None:
        del snapshot


def reference_run(bars: BarSeries, strategy: Any, config: BacktestConfig) -> tuple[Any, ...]:
    """One ``step_bar`` call and one new ``BarRow`` and context per bar."""
    prepare = getattr(strategy, "prepare", None)
    if callable(prepare):
        prepare(bars)
    market, cfg = fills.market_matrix(bars, config), fills.config_vector(config)
    state, trades = fills.new_state(config.cash), fills.new_trade_buffer(4 * len(bars) + 4)
    equity = np.empty(len(bars))
    spreads = bars.spread
    columns = (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, spreads)
    action = fills.HOLD
    for i, row in enumerate(zip(*(c.tolist() for c in columns), strict=True)):
        units = fills.step_bar(i, action, market, cfg, state, trades, equity)
        context = StrategyContext(None, units / config.lot_size, BarRow(*row), bars.symbol)
        action = ACTION_CODES[strategy.on_bar(context).action]
    if len(bars):
        equity[-1] = fills.close_at_end(len(bars) - 1, market, cfg, state, trades)
    return equity, trades[: int(state[fills.S_TRADES])]


def trade_rows(trades: list[Trade]) -> list[tuple[Any, ...]]:
    return [
        (
            t.side,
            t.size,
            t.entry_index,
            t.entry_price,
            t.exit_index,
            t.exit_price,
            t.pnl,
            t.exit_reason,
        )
        for t in trades
    ]


def buffer_rows(records: Any) -> list[tuple[Any, ...]]:
    sides = {1.0: "long", -1.0: "short"}
    return [
        (
            sides[r[fills.T_SIDE]],
            r[fills.T_UNITS],
            int(r[fills.T_ENTRY_INDEX]),
            r[fills.T_ENTRY_PRICE],
            int(r[fills.T_EXIT_INDEX]),
            r[fills.T_EXIT_PRICE],
            r[fills.T_PNL],
            ("signal", "stop_loss", "take_profit", "stop_out", "end")[int(r[fills.T_REASON])],
        )
        for r in records.tolist()
    ]


def seen(contexts: list[StrategyContext]) -> list[tuple[Any, ...]]:
    return [(c.position, c.symbol, *(getattr(c.bar, f) for f in FIELDS)) for c in contexts]


class TestSameAsBarByBar:
    @pytest.mark.parametrize("config_name", sorted(CONFIGS))
    @pytest.mark.parametrize("change", [0.01, 0.3, 0.95])
    def test_streaky_strategy_sees_and_trades_the_same(
        self, config_name: str, change: float
    ) -> None:
        bars = random_walk_bars(3_000, 5, with_spread=True)
        config = CONFIGS[config_name]
        fast, plain = StreakyStrategy(1, change), StreakyStrategy(1, change)
        result = run_event(bars, fast, config)
        equity, records = reference_run(bars, plain, config)
        assert len(result.trades) > 1
        assert trade_rows(result.trades) == buffer_rows(records)
        np.testing.assert_array_equal(result.equity, equity)
        # kept contexts are intact: each still shows its own bar and position
        assert seen(fast.contexts) == seen(plain.contexts)

    @pytest.mark.parametrize("name", sorted(STRATEGIES))
    @pytest.mark.parametrize("config_name", sorted(CONFIGS))
    def test_built_in_strategies_trade_the_same(self, name: str, config_name: str) -> None:
        bars = random_walk_bars(2_000, 9)
        config = CONFIGS[config_name]
        result = run_event(bars, STRATEGIES[name].build({}), config)
        equity, records = reference_run(bars, STRATEGIES[name].build({}), config)
        assert trade_rows(result.trades) == buffer_rows(records)
        np.testing.assert_array_equal(result.equity, equity)

    def test_borrowed_and_fresh_contexts_give_the_same_result(self) -> None:
        class FreshSma(SmaCrossover):
            borrows_context = False

        bars = random_walk_bars(1_500, 4)
        config = CONFIGS["stops"]
        borrowed = run_event(bars, SmaCrossover(fast=3, slow=9), config)
        fresh = run_event(bars, FreshSma(fast=3, slow=9), config)
        assert borrowed.trades == fresh.trades and len(borrowed.trades) > 20
        np.testing.assert_array_equal(borrowed.equity, fresh.equity)

    @pytest.mark.parametrize("n", [0, 1, 2, 3])
    def test_tiny_series(self, n: int) -> None:
        bars = random_walk_bars(n, 2)
        result = run_event(bars, StreakyStrategy(3, 0.9), BacktestConfig())
        equity, records = reference_run(bars, StreakyStrategy(3, 0.9), BacktestConfig())
        assert trade_rows(result.trades) == buffer_rows(records)
        np.testing.assert_array_equal(result.equity, equity)


class TestBarView:
    def view(self, i: int = 3) -> BarView:
        bars = random_walk_bars(10, 1, with_spread=True)
        arrays = (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)
        return BarView.at(BarColumns((*arrays, bars.spread)), i)  # type: ignore[arg-type]

    def test_reads_like_the_bar_row(self) -> None:
        view = self.view()
        plain = view.values()
        assert type(plain) is BarRow and isinstance(view, BarRow)
        assert type(view.ts) is int and type(view.close) is float
        assert view == plain and plain == view and hash(view) == hash(plain)
        assert dataclasses.asdict(view) == dataclasses.asdict(plain)

    def test_copies_are_plain_bar_rows(self) -> None:
        view = self.view()
        for other in (copy.copy(view), copy.deepcopy(view), pickle.loads(pickle.dumps(view))):
            assert type(other) is BarRow and other == view
        replaced = dataclasses.replace(view, close=2.0)
        assert type(replaced) is BarRow and replaced.close == 2.0 and replaced.ts == view.ts

    def test_is_frozen(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            self.view().close = 1.0  # type: ignore[misc]
