"""Built-in strategies: validated parameters, causal signals, live on_bar equals batch."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from chainflow.backtest.strategies import (
    BUILT_IN_STRATEGIES,
    CrossoverParams,
    DonchianBreakout,
    RsiParams,
    SmaCrossover,
    crossings,
)
from chainflow.core.market import BarRow
from chainflow.features.batch.averages import sma
from chainflow.trading.api import StrategyContext
from tests.backtest.builders import make_bars, random_walk_bars


class TestParams:
    def test_fast_must_be_below_slow(self) -> None:
        with pytest.raises(ValidationError, match="expected fast < slow"):
            CrossoverParams(fast=30, slow=10)

    def test_rsi_bounds_are_ordered(self) -> None:
        with pytest.raises(ValidationError, match="expected lower < upper"):
            RsiParams(lower=70, upper=30)

    def test_unknown_parameter_is_rejected(self) -> None:
        with pytest.raises(ValidationError):
            CrossoverParams(fast=5, slow=10, nope=1)  # type: ignore[call-arg]


class TestSignals:
    def test_crossings_follow_the_strict_rule(self) -> None:
        a = np.array([1.0, 2.0, 2.0, 3.0, 1.0, np.nan])
        b = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
        # touching (2 == 2) is not a cross; 2 -> 3 from equal is not either
        assert crossings(a, b).tolist() == [0, 0, 0, 0, -1, 0]

    def test_sma_crossover_buys_on_the_cross_bar(self) -> None:
        bars = random_walk_bars(500, 4)
        signals = SmaCrossover(fast=5, slow=20).signals(bars)
        fast, slow = sma(bars.close, 5), sma(bars.close, 20)
        for i in np.flatnonzero(signals == 1):
            assert fast[i - 1] < slow[i - 1] and fast[i] > slow[i]
        assert (signals[:20] == 0).all() and (signals != 0).sum() > 5

    def test_donchian_breaks_the_previous_channel(self) -> None:
        rows = [(1.0, 2.0, 0.0, 1.0)] * 3 + [(1.0, 3.0, 1.0, 2.5), (1.0, 1.0, -1.0, -0.5)]
        signals = DonchianBreakout(period=3).signals(make_bars(rows))
        assert signals.tolist() == [0, 0, 0, 1, -1]

    @pytest.mark.parametrize("cls", BUILT_IN_STRATEGIES, ids=lambda c: c.name)
    def test_signals_on_a_prefix_equal_the_full_series_prefix(self, cls: type) -> None:
        bars = random_walk_bars(900, 9)
        full = cls().signals(bars)
        for cut in (50, 333, 700):
            assert cls().signals(bars.slice(0, cut)).tolist() == full[:cut].tolist()


class TestOnBar:
    @pytest.mark.parametrize("cls", BUILT_IN_STRATEGIES, ids=lambda c: c.name)
    def test_live_on_bar_matches_batch_signals(self, cls: type) -> None:
        bars = random_walk_bars(260, 5)
        expected = cls().signals(bars).tolist()
        strategy = cls()
        actions = []
        for i in range(len(bars)):
            bar = BarRow(
                int(bars.ts[i]),
                float(bars.open[i]),
                float(bars.high[i]),
                float(bars.low[i]),
                float(bars.close[i]),
                float(bars.volume[i]),
            )
            decision = strategy.on_bar(StrategyContext(position=0.0, bar=bar, symbol_name="X"))
            actions.append({"buy": 1, "sell": -1, "hold": 0}[decision.action])
        assert actions == expected

    def test_snapshot_and_restore_continue_the_history(self) -> None:
        bars = random_walk_bars(60, 2)
        first, second = SmaCrossover(fast=3, slow=8), SmaCrossover(fast=3, slow=8)
        contexts = [
            StrategyContext(bar=BarRow(int(t), o, h, lo, c, 1.0), symbol_name="X")
            for t, o, h, lo, c in zip(
                bars.ts, bars.open, bars.high, bars.low, bars.close, strict=True
            )
        ]
        for context in contexts[:30]:
            first.on_bar(context)
        second.restore(first.snapshot())
        rest_first = [first.on_bar(c).action for c in contexts[30:]]
        rest_second = [second.on_bar(c).action for c in contexts[30:]]
        assert rest_first == rest_second

    def test_restore_rejects_another_strategy(self) -> None:
        with pytest.raises(ValueError, match="expected a snapshot of strategy 'sma_crossover'"):
            SmaCrossover().restore({"name": "macd"})
