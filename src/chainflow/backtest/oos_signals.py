"""The backtester side of ``chainflow train``'s signal backtest: one out-of-sample window
of a training run (``chainflow.ml.api.SignalWindow``) traded by the ML strategy.

The window's predictions go to ``PredictionStrategy`` (the live ``ModelStrategy`` with
default trading preferences) and ``run_backtest`` trades them on the window's bars with
their spread and the window's commission; the equity curve and the number of trades go
back to ``chainflow.ml`` (``WindowOutcome``), which chains the windows into the report.
``chainflow.cli`` passes ``backtest_signal_window`` to ``make_train_command``.
"""

from __future__ import annotations

from chainflow.backtest.api import BacktestConfig, PredictionStrategy, run_backtest
from chainflow.core.market import BarSeries
from chainflow.ml.api import SignalWindow, WindowOutcome


def backtest_signal_window(window: SignalWindow) -> WindowOutcome:
    """Backtest one window's out-of-sample predictions with spread and commission."""
    bars = BarSeries.from_arrays(
        ts=window.ts,
        open=window.open,
        high=window.high,
        low=window.low,
        close=window.close,
        volume=window.volume,
        spread=window.spread,
        symbol=window.symbol,
        timeframe=window.timeframe,
    )
    strategy = PredictionStrategy(
        model="out-of-sample",
        ts=window.ts,
        probabilities=window.probabilities,
        volatility=window.volatility,
        momentum=window.momentum,
    )
    config = BacktestConfig(commission=window.commission)
    result = run_backtest(bars, strategy, None, config)
    return WindowOutcome(equity=result.equity, trades=len(result.trades), cash=config.cash)
