"""``trade_from``: warm-up bars feed the strategy but never trade or count in the metrics."""

from __future__ import annotations

import numpy as np
import pytest

from chainflow.backtest.api import STRATEGIES, run_backtest
from chainflow.backtest.engine import run_event
from chainflow.backtest.metrics import AccountTotals, compute_metrics
from chainflow.backtest.types import BacktestConfig
from chainflow.backtest.vectorized import run_signals
from chainflow.backtest.walkforward import walk_forward
from chainflow.trading.api import Decision, StrategyContext
from tests.backtest.builders import ScriptedStrategy, make_bars, random_walk_bars
from tests.backtest.test_engine import CONFIGS, trade_rows


class AlwaysLong:
    """Wants to be long on every bar (an event-engine strategy without a signals array)."""

    name = "always_long"
    borrows_context = True

    def on_bar(self, context: StrategyContext) -> Decision:
        assert context.bar is not None
        return Decision(context.symbol, context.bar.ts, self.name, "buy", 1.0, 0.0, ())


class TestEventEqualsVectorizedWithWarmUp:
    @pytest.mark.parametrize("config_name", sorted(CONFIGS))
    @pytest.mark.parametrize("trade_from", [1, 37, 700])
    def test_builtins_give_identical_trades_and_equity(
        self, config_name: str, trade_from: int
    ) -> None:
        bars = random_walk_bars(1500, 3, with_spread=True)
        for name in STRATEGIES:
            event = run_backtest(
                bars, name, {}, CONFIGS[config_name], engine="event", trade_from=trade_from
            )
            fast = run_backtest(
                bars, name, {}, CONFIGS[config_name], engine="vectorized", trade_from=trade_from
            )
            assert trade_rows(event) == trade_rows(fast), name
            np.testing.assert_array_equal(event.equity, fast.equity)
            assert event.metrics == pytest.approx(fast.metrics, nan_ok=True)
            assert len(fast.equity) == len(bars) - trade_from

    def test_random_action_arrays_agree(self) -> None:
        rng = np.random.default_rng(11)
        bars = random_walk_bars(2000, 4, with_spread=True)
        actions = rng.choice([-1, 0, 0, 1], size=len(bars))
        for config in CONFIGS.values():
            event = run_event(bars, ScriptedStrategy(actions.tolist()), config, trade_from=500)
            fast = run_signals(bars, actions, config, trade_from=500)
            assert trade_rows(event) == trade_rows(fast)
            assert len(fast.trades) > 10
            np.testing.assert_array_equal(event.equity, fast.equity)


class TestWarmUpByHand:
    BARS = make_bars(
        [
            (1.0 + k / 100, 1.0 + k / 100 + 0.005, 1.0 + k / 100 - 0.005, 1.0 + k / 100)
            for k in range(8)
        ]
    )

    def test_no_order_before_trade_from_and_the_last_warm_up_decision_fills_first(self) -> None:
        # buy at bar 1 (warm-up: never filled), sell at bar 2 (warm-up: never filled),
        # buy at bar 3 = trade_from - 1: fills at bar 4's open.
        strategy = ScriptedStrategy([0, 1, -1, 1, 0, 0, 0, 0])
        result = run_event(self.BARS, strategy, BacktestConfig(cash=100.0), trade_from=4)
        assert [position for _, position in strategy.seen[:4]] == [0.0] * 4  # flat warm-up
        assert len(strategy.seen) == 8  # every bar was shown
        [trade] = result.trades
        assert (trade.entry_index, trade.entry_ts) == (0, int(self.BARS.ts[4]))
        assert trade.entry_price == pytest.approx(1.04)
        assert (trade.exit_index, trade.exit_reason) == (3, "end")
        np.testing.assert_array_equal(result.ts, self.BARS.ts[4:])
        assert result.equity[0] == pytest.approx(100.0)  # 96 units bought at 1.04, closed 1.04
        assert result.final_equity == pytest.approx(100.0 + 96 * (1.07 - 1.04))

    def test_metrics_cover_only_the_traded_bars(self) -> None:
        # With a hold as the last warm-up decision, a warm-up run is the run on the cut bars.
        rng = np.random.default_rng(3)
        bars = random_walk_bars(900, 8, with_spread=True)
        actions = rng.choice([-1, 0, 1], size=len(bars))
        actions[299] = 0
        config = BacktestConfig(commission=0.0002, swap_long=-0.0001, swap_short=-0.0001)
        warm = run_signals(bars, actions, config, trade_from=300)
        cut = run_signals(bars.slice(300, 900), actions[300:], config)
        assert trade_rows(warm) == trade_rows(cut)
        np.testing.assert_array_equal(warm.equity, cut.equity)
        assert warm.metrics == pytest.approx(cut.metrics, nan_ok=True)
        assert warm.metrics["num_trades"] == len(cut.trades)
        assert warm.metrics["sharpe"] == pytest.approx(
            compute_metrics(warm.equity, bars.ts[300:], warm.trades, AccountTotals(config.cash))[
                "sharpe"
            ]
        )

    @pytest.mark.parametrize("bad", [-1, 8, 100])
    def test_trade_from_must_leave_a_bar_to_trade(self, bad: int) -> None:
        with pytest.raises(ValueError, match=r"expected 0 <= trade_from < 8"):
            run_backtest(self.BARS, "sma_crossover", {"fast": 2, "slow": 3}, trade_from=bad)
        with pytest.raises(ValueError, match=r"expected 0 <= trade_from < 8"):
            run_event(self.BARS, AlwaysLong(), BacktestConfig(), trade_from=bad)


class TestWalkForwardWarmUp:
    def test_oos_trades_start_on_the_first_oos_bar(self) -> None:
        bars = random_walk_bars(1_000, seed=9)
        config = BacktestConfig(commission=0.001)
        result = walk_forward(
            bars, AlwaysLong(), {}, in_sample=400, out_of_sample=200, config=config, workers=1
        )
        assert len(result.windows) == 3
        for w in result.windows:
            # long from the first out-of-sample bar's open: commission paid at bar 0 ...
            assert w.oos_equity[0] != config.cash
            assert w.oos_metrics["exposure_pct"] == 100.0
            # ... and the metrics count the block's bars only: one trade, 200 bars
            assert w.oos_metrics["num_trades"] == 1 == w.oos_trades
            assert len(w.oos_equity) == 200

    def test_indicators_are_warm_on_the_first_oos_bar(self) -> None:
        bars = random_walk_bars(2_400, seed=5)
        result = walk_forward(
            bars,
            "sma_crossover",
            {},
            in_sample=800,
            out_of_sample=400,
            base_params={"fast": 10, "slow": 120},
            workers=1,
        )
        firsts = []
        for w in result.windows:
            run = run_backtest(
                bars.slice(w.window.is_start, w.window.oos_stop),
                "sma_crossover",
                w.params,
                trade_from=w.window.oos_start - w.window.is_start,
            )
            firsts.append(run.trades[0].entry_index if run.trades else 400)
            np.testing.assert_allclose(w.oos_equity, run.equity)
        # without warm-up no trade could enter before the slow SMA's 120 bars
        assert min(firsts) < 120
