"""``chainflow backtest``, ``chainflow optimize`` and ``chainflow walkforward``: the options.

The work is in ``chainflow.backtest.commands``, imported only when a command runs, so that
declaring these commands costs every other ``chainflow`` command nothing at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from chainflow.bridge.stored_bars import StoredBarReader

# Listed here for --help without importing the engines (a test keeps it equal to STRATEGIES).
BUILT_IN_STRATEGIES = (
    "sma_crossover",
    "ema_crossover",
    "rsi_mean_reversion",
    "bollinger_breakout",
    "macd",
    "donchian_breakout",
)
TIMEFRAMES = "M1, M5, M15, M30, H1, H4 or D1"

Data = Annotated[
    Path | None, typer.Option(help="MT5 bar export or OHLCV CSV (instead of stored bars)")
]
TzOffsetHours = Annotated[
    float,
    typer.Option(help="--data: UTC offset of times without one (MT5 server time), -14..+14"),
]
UseAdjClose = Annotated[
    bool,
    typer.Option(
        "--use-adj-close", help="--data CSV: Adj Close as the close, open/high/low scaled alike"
    ),
]
SpreadUnitOption = Annotated[
    str | None,
    typer.Option(help="--data: unit of a Spread column the header does not state: points, price"),
]
Symbol = Annotated[str | None, typer.Option(help="symbol, e.g. EURUSD (default: file name's)")]
TimeframeOption = Annotated[
    str | None,
    typer.Option(help=f"timeframe: {TIMEFRAMES} (default for --data: the bars' spacing)"),
]
Email = Annotated[str | None, typer.Option(help="use the bars stored for this user's tenant")]
Start = Annotated[str | None, typer.Option("--from", help="first bar open time, ISO or epoch ms")]
End = Annotated[str | None, typer.Option("--to", help="bars opened before this, ISO or epoch ms")]
StrategyName = Annotated[
    str,
    typer.Option(
        help=f"strategy: {', '.join(BUILT_IN_STRATEGIES)}, or ml (a registered model, --model)"
    ),
]
Model = Annotated[
    str | None,
    typer.Option(help="--strategy ml: registered model NAME or NAME@VERSION (default fx-default)"),
]
Params = Annotated[
    list[str] | None, typer.Option("--param", help="strategy parameter k=v (repeatable)")
]
Cash = Annotated[float, typer.Option(help="starting cash")]
Commission = Annotated[float, typer.Option(help="commission per side, fraction of traded value")]
CommissionPerLot = Annotated[float, typer.Option(help="commission per lot per side (money)")]
Spread = Annotated[
    float | None, typer.Option(help="spread in price units (default: the bars' own, else 0)")
]
Slippage = Annotated[float, typer.Option(help="slippage per fill in price units")]
Sizing = Annotated[str, typer.Option(help="all-in, fixed or risk")]
Size = Annotated[float, typer.Option(help="units (fixed) or equity fraction at risk (risk)")]
LongOnly = Annotated[bool, typer.Option("--long-only", help="never open short positions")]
Leverage = Annotated[float, typer.Option(help="account leverage")]
StopLoss = Annotated[float | None, typer.Option(help="stop-loss distance in price units")]
TakeProfit = Annotated[float | None, typer.Option(help="take-profit distance in price units")]
Engine = Annotated[str, typer.Option(help="auto, event or vectorized")]
JsonOutput = Annotated[bool, typer.Option("--json", help="print one JSON object")]
Report = Annotated[Path | None, typer.Option(help="write a self-contained HTML report here")]
Grid = Annotated[list[str] | None, typer.Option("--grid", help="k=v1,v2,... (repeatable)")]
RangeOption = Annotated[
    list[str] | None, typer.Option("--range", help="k=low:high:step, inclusive (repeatable)")
]
Method = Annotated[str, typer.Option(help="grid, random or bayes")]
Trials = Annotated[int | None, typer.Option(help="trials for random and bayes search")]
Objective = Annotated[str, typer.Option(help="metric to optimize, e.g. sharpe, return_pct")]
MinTrades = Annotated[int, typer.Option(help="fewer closed trades than this is infeasible")]
MaxDrawdown = Annotated[float | None, typer.Option(help="a deeper drawdown (%) is infeasible")]
Workers = Annotated[int | None, typer.Option(help="worker processes (default: CPU cores)")]
Seed = Annotated[int, typer.Option(help="random seed (random and bayes search, ML training)")]
Top = Annotated[int, typer.Option(help="rows of the results table to show")]


def make_backtest_commands(
    run_with_kernel: Any, stored_bars: StoredBarReader
) -> dict[str, tuple[Callable[..., None], str]]:
    """Return ``name -> (command, help)`` for the three commands: stored bars (``--email``)
    are read with ``stored_bars``, registered models on kernels from ``run_with_kernel``."""

    def backtest(
        strategy: StrategyName,
        param: Params = None,
        data: Data = None,
        symbol: Symbol = None,
        timeframe: TimeframeOption = None,
        email: Email = None,
        start: Start = None,
        end: End = None,
        cash: Cash = 10_000.0,
        commission: Commission = 0.0,
        commission_per_lot: CommissionPerLot = 0.0,
        spread: Spread = None,
        slippage: Slippage = 0.0,
        sizing: Sizing = "all-in",
        size: Size = 1.0,
        long_only: LongOnly = False,
        leverage: Leverage = 1.0,
        stop_loss: StopLoss = None,
        take_profit: TakeProfit = None,
        engine: Engine = "auto",
        json_output: JsonOutput = False,
        report: Report = None,
        model: Model = None,
        tz_offset_hours: TzOffsetHours = 0.0,
        use_adj_close: UseAdjClose = False,
        spread_unit: SpreadUnitOption = None,
    ) -> None:
        """Backtest a strategy on bars from a file or the store."""
        from chainflow.backtest.commands import run_backtest_command

        run_backtest_command(run_with_kernel, locals(), stored_bars)

    def optimize(
        strategy: StrategyName,
        grid: Grid = None,
        range_: RangeOption = None,
        method: Method = "grid",
        trials: Trials = None,
        objective: Objective = "sharpe",
        min_trades: MinTrades = 1,
        max_drawdown: MaxDrawdown = None,
        workers: Workers = None,
        seed: Seed = 0,
        top: Top = 10,
        param: Params = None,
        data: Data = None,
        symbol: Symbol = None,
        timeframe: TimeframeOption = None,
        email: Email = None,
        start: Start = None,
        end: End = None,
        cash: Cash = 10_000.0,
        commission: Commission = 0.0,
        commission_per_lot: CommissionPerLot = 0.0,
        spread: Spread = None,
        slippage: Slippage = 0.0,
        sizing: Sizing = "all-in",
        size: Size = 1.0,
        long_only: LongOnly = False,
        leverage: Leverage = 1.0,
        stop_loss: StopLoss = None,
        take_profit: TakeProfit = None,
        engine: Engine = "auto",
        json_output: JsonOutput = False,
        report: Report = None,
        tz_offset_hours: TzOffsetHours = 0.0,
        use_adj_close: UseAdjClose = False,
        spread_unit: SpreadUnitOption = None,
    ) -> None:
        """Search strategy parameters (grid, random or Bayesian) in parallel."""
        from chainflow.backtest.commands import run_optimize_command

        run_optimize_command(locals(), stored_bars)

    def walkforward(
        strategy: StrategyName,
        in_sample: Annotated[int, typer.Option(help="in-sample bars per window")],
        out_of_sample: Annotated[int, typer.Option(help="out-of-sample bars per window")],
        step: Annotated[int | None, typer.Option(help="bars between windows (default OOS)")] = None,
        anchored: Annotated[bool, typer.Option(help="in-sample always starts at bar 0")] = False,
        grid: Grid = None,
        range_: RangeOption = None,
        method: Method = "grid",
        trials: Trials = None,
        objective: Objective = "sharpe",
        min_trades: MinTrades = 1,
        max_drawdown: MaxDrawdown = None,
        workers: Workers = None,
        seed: Seed = 0,
        param: Params = None,
        data: Data = None,
        symbol: Symbol = None,
        timeframe: TimeframeOption = None,
        email: Email = None,
        start: Start = None,
        end: End = None,
        cash: Cash = 10_000.0,
        commission: Commission = 0.0,
        commission_per_lot: CommissionPerLot = 0.0,
        spread: Spread = None,
        slippage: Slippage = 0.0,
        sizing: Sizing = "all-in",
        size: Size = 1.0,
        long_only: LongOnly = False,
        leverage: Leverage = 1.0,
        stop_loss: StopLoss = None,
        take_profit: TakeProfit = None,
        engine: Engine = "auto",
        json_output: JsonOutput = False,
        report: Report = None,
        tz_offset_hours: TzOffsetHours = 0.0,
        use_adj_close: UseAdjClose = False,
        spread_unit: SpreadUnitOption = None,
    ) -> None:
        """Walk-forward analysis: optimize in-sample, test out-of-sample, window by window."""
        from chainflow.backtest.commands import run_walkforward_command

        run_walkforward_command(locals(), stored_bars)

    return {
        "backtest": (backtest, "Backtest a strategy on bars (file or stored), with metrics."),
        "optimize": (optimize, "Optimize strategy parameters: grid, random or Bayesian search."),
        "walkforward": (walkforward, "Walk-forward analysis with out-of-sample testing."),
    }
