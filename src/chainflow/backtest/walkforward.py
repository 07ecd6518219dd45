"""Walk-forward analysis: optimize in-sample, trade the winner out-of-sample, repeat.

Windows (bar indices, half-open ``[start, stop)``), with ``step`` defaulting to the
out-of-sample length so that out-of-sample blocks tile the data without overlap:

- *rolling*: window ``k`` is in-sample ``[k*step, k*step + IS)`` and out-of-sample
  ``[k*step + IS, k*step + IS + OOS)``;
- *anchored*: in-sample always starts at bar 0 and grows: ``[0, IS + k*step)``, then the
  same out-of-sample block after it.

Only whole windows are run (a last out-of-sample block shorter than ``OOS`` is dropped).
Each out-of-sample backtest starts from a fresh account of ``config.cash`` on the window's
in-sample bars followed by its out-of-sample block, with ``trade_from`` at the block's first
bar: the in-sample bars only warm the strategy up (indicators, the model's features), so it
can trade from the block's first bar, and the curve, trades and metrics cover the block
alone. No bar after the block exists for it.

Outputs:

- **stitched out-of-sample equity**: window ``k``'s curve scaled to start where window
  ``k-1`` ended: ``stitched_k = end_{k-1} * equity_k / cash`` (``end_{-1} = cash``);
- **walk-forward efficiency** (Pardo): the annualized out-of-sample return divided by the
  annualized in-sample return. The annualized return of ``n`` bars with total return ``R``
  is the simple rate ``R * bars_per_year / n`` (not compounded: a short window's return
  compounded to a year explodes and would swamp the ratio). Per window: the
  out-of-sample block's over the in-sample backtest of the chosen parameters. Overall: the
  stitched curve's over the mean of the windows' in-sample figures. ``None`` when the
  in-sample figure is not positive (efficiency is meaningless against a loss).
  ``bars_per_year`` is ``config.periods_per_year``, else the bars' own pace over a calendar
  year (``bars_per_year``);
- **parameter stability**, per parameter: the value chosen in each window, the mode and the
  share of windows that chose it, and for numbers the coefficient of variation
  ``std / |mean|`` (population std).

With a ``trainer`` (the ML strategy), each window first trains a model on its in-sample
bars only (``ModelTrainer``); the trained strategy is then optimized and tested like any
other. The trainer reports the time range its labels used, kept per window, so that the
caller (and the tests) can check no model saw its test block.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainflow.backtest.control import Progress, Snapshot, Step
from chainflow.backtest.errors import InvalidBacktestInputError
from chainflow.backtest.metrics import infer_periods_per_year, risk_metrics
from chainflow.backtest.optimize import (
    Constraints,
    Evaluation,
    OptimizationResult,
    evaluate,
    optimize,
)
from chainflow.backtest.search_space import SearchSpace, grid_size
from chainflow.backtest.types import BacktestConfig, BacktestResult
from chainflow.backtest.walkforward_types import (
    ModelTrainer,
    TrainedModel,
    WalkForwardResult,
    Window,
    WindowResult,
    windows_checkpoint,
    windows_from_checkpoint,
)
from chainflow.core.market import BarSeries

if TYPE_CHECKING:
    from chainflow.backtest.api import EngineChoice


def walk_forward_windows(
    n_bars: int,
    in_sample: int,
    out_of_sample: int,
    step: int | None = None,
    *,
    anchored: bool = False,
) -> list[Window]:
    """Return the whole windows over ``n_bars`` bars (see the module docstring)."""
    step = out_of_sample if step is None else step
    for name, value in (("in_sample", in_sample), ("out_of_sample", out_of_sample), ("step", step)):
        if value < 1:
            raise InvalidBacktestInputError(f"expected {name} >= 1 bar; received {value}")
    windows: list[Window] = []
    k = 0
    while True:
        is_start = 0 if anchored else k * step
        is_stop = in_sample + k * step
        oos_stop = is_stop + out_of_sample
        if oos_stop > n_bars:
            break
        windows.append(Window(k, is_start, is_stop, is_stop, oos_stop))
        k += 1
    if not windows:
        raise InvalidBacktestInputError(
            f"expected at least in_sample + out_of_sample = {in_sample + out_of_sample} bars "
            f"for one window; received {n_bars}"
        )
    return windows


def walk_forward(
    bars: BarSeries,
    strategy: Any,
    space: SearchSpace,
    *,
    in_sample: int,
    out_of_sample: int,
    step: int | None = None,
    anchored: bool = False,
    method: str = "grid",
    trials: int | None = None,
    objective: str = "sharpe",
    constraints: Constraints | None = None,
    config: BacktestConfig | None = None,
    base_params: Mapping[str, Any] | None = None,
    engine: EngineChoice = "auto",
    workers: int | None = None,
    seed: int = 0,
    trainer: ModelTrainer | None = None,
    progress: Progress | None = None,
    on_step: Step | None = None,
    resume: Mapping[str, Any] | None = None,
) -> WalkForwardResult:
    """Run a walk-forward analysis of ``strategy`` over ``bars`` (see the module docstring).

    ``space`` may be empty: each window then only tests ``base_params``. With a
    ``trainer`` (a model strategy), ``strategy`` is ignored, each window trades its own
    trained model and ``space`` must be empty: the per-window fitting is the retraining.
    ``on_step`` is called between backtests with a snapshot of the finished windows
    (``windows_checkpoint``); ``resume`` is such a snapshot: its windows are not run again.
    """
    if trainer is not None and space:
        raise InvalidBacktestInputError(
            f"expected no parameter search with a model trainer; received {sorted(space)}"
        )
    started = time.perf_counter()
    cfg = config or BacktestConfig()
    windows = walk_forward_windows(len(bars), in_sample, out_of_sample, step, anchored=anchored)
    per_window = _trials_per_window(space, method, trials) + 1
    total = per_window * len(windows)
    per_year = bars_per_year(bars, cfg)
    fixed = dict(base_params or {})
    results: list[WindowResult] = []
    if resume is not None:
        results = windows_from_checkpoint(resume, total=len(windows))
        if progress:
            progress(len(results) * per_window, total)
    end_equity = cfg.cash
    curves: list[NDArray[np.float64]] = []
    stamps: list[NDArray[np.int64]] = []
    for finished in results:
        curves.append(end_equity * finished.oos_equity / cfg.cash)
        stamps.append(np.asarray(finished.oos_ts, dtype=np.int64))
        end_equity = float(curves[-1][-1]) if len(curves[-1]) else end_equity

    def snapshot() -> dict[str, Any]:
        return windows_checkpoint(results, total=len(windows))

    def between(_inner: Snapshot) -> None:  # a search's step saves the finished windows
        if on_step is not None:
            on_step(snapshot)

    for window in windows[len(results) :]:
        offset = window.index * per_window
        between(snapshot)

        def inner(done: int, _total: int, offset: int = offset) -> None:
            if progress:
                progress(offset + done, total)

        in_bars = bars.slice(window.is_start, window.is_stop)
        training = trainer(in_bars, seed=seed) if trainer is not None else None
        chosen = training.build() if training is not None else strategy
        evaluation = Evaluation(in_bars, chosen, cfg, fixed, engine)
        search: OptimizationResult | None = None
        params: dict[str, Any] = {}
        if space:
            search = optimize(
                evaluation,
                space,
                method=method,
                trials=trials,
                objective=objective,
                constraints=constraints,
                workers=workers,
                seed=seed + window.index,
                progress=inner,
                on_step=between,
            )
            best = search.best if search.best is not None else search.trials[0]
            params = dict(best.params)
        is_metrics, _ = evaluate(evaluation, params)
        out_bars = bars.slice(window.oos_start, window.oos_stop)
        if training is not None:
            chosen = training.build()
        oos = _backtest(
            bars.slice(window.is_start, window.oos_stop),
            chosen,
            {**fixed, **params},
            cfg,
            engine,
            window.oos_start - window.is_start,
        )
        if progress:
            progress(offset + per_window, total)
        is_annual = annualized_return(is_metrics, in_sample_bars(window), per_year)
        oos_annual = annualized_return(oos.metrics, len(out_bars), per_year)
        curves.append(end_equity * np.asarray(oos.equity, dtype=np.float64) / cfg.cash)
        stamps.append(np.asarray(oos.ts, dtype=np.int64))
        end_equity = float(curves[-1][-1]) if len(curves[-1]) else end_equity
        results.append(
            WindowResult(
                window=window,
                is_from_ts=int(in_bars.ts[0]),
                is_to_ts=int(in_bars.ts[-1]),
                oos_from_ts=int(out_bars.ts[0]),
                oos_to_ts=int(out_bars.ts[-1]),
                params={**fixed, **params},
                is_metrics=is_metrics,
                oos_metrics=oos.metrics,
                oos_trades=len(oos.trades),
                is_annual_return=is_annual,
                oos_annual_return=oos_annual,
                efficiency=efficiency(oos_annual, is_annual),
                oos_equity=np.asarray(oos.equity, dtype=np.float64),
                oos_ts=oos.ts,
                trials=len(search.trials) if search else 0,
                feasible=sum(t.is_feasible for t in search.trials) if search else 0,
                training=training,
            )
        )
    equity = np.concatenate(curves) if curves else np.array([], dtype=np.float64)
    oos_bars = sum(len(c) for c in curves)
    stitched_annual = _annualize(end_equity / cfg.cash - 1.0, oos_bars, per_year)
    is_mean = float(np.mean([w.is_annual_return for w in results]))
    name = strategy if isinstance(strategy, str) else type(strategy).__name__
    return WalkForwardResult(
        windows=results,
        equity=equity,
        ts=np.concatenate(stamps) if stamps else np.array([], dtype=np.int64),
        cash=cfg.cash,
        bars_per_year=per_year,
        efficiency=efficiency(stitched_annual, is_mean),
        oos_annual_return=stitched_annual,
        is_annual_return_mean=is_mean,
        stability=parameter_stability(results, list(space)),
        anchored=anchored,
        objective=objective,
        method=method,
        elapsed_s=time.perf_counter() - started,
        strategy=name,
        settings={
            "in_sample": in_sample,
            "out_of_sample": out_of_sample,
            "step": step if step is not None else out_of_sample,
        },
        oos_metrics=risk_metrics(equity, cfg.cash, per_year, cfg.risk_free_rate),
    )


def in_sample_bars(window: Window) -> int:
    """Return the number of in-sample bars of ``window``."""
    return window.is_stop - window.is_start


def bars_per_year(bars: BarSeries, config: BacktestConfig) -> float:
    """Return ``config.periods_per_year``, else the bars per year of all ``bars`` as the
    metrics infer it (``metrics.infer_periods_per_year``: weekends and gaps included)."""
    if config.periods_per_year is not None:
        return float(config.periods_per_year)
    return infer_periods_per_year(bars.ts)


def annualized_return(metrics: Mapping[str, float], n_bars: int, per_year: float) -> float:
    """Return the simple annualized return (a fraction) of a backtest of ``n_bars`` bars."""
    return _annualize(float(metrics.get("return_pct", 0.0)) / 100.0, n_bars, per_year)


def efficiency(oos_annual: float, is_annual: float) -> float | None:
    """Return ``oos_annual / is_annual``, or ``None`` when the in-sample figure is not a
    positive finite number."""
    if not (math.isfinite(is_annual) and is_annual > 0 and math.isfinite(oos_annual)):
        return None
    return oos_annual / is_annual


def parameter_stability(
    windows: Sequence[WindowResult], names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Return, per parameter, the chosen values, the mode, its share and (numbers) the
    coefficient of variation."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        values = [w.params.get(name) for w in windows]
        counts = Counter(values)
        mode, hits = max(counts.items(), key=lambda kv: (kv[1], -values.index(kv[0])))
        entry: dict[str, Any] = {
            "values": values,
            "mode": mode,
            "mode_share": hits / len(values) if values else 0.0,
        }
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values):
            mean = float(np.mean(numbers))
            std = float(np.std(numbers))
            entry.update(mean=mean, std=std, cv=std / abs(mean) if mean else None)
        out[name] = entry
    return out


def _backtest(
    bars: BarSeries,
    strategy: Any,
    params: dict[str, Any],
    config: BacktestConfig,
    engine: Any,
    trade_from: int,
) -> BacktestResult:
    from chainflow.backtest.api import run_backtest

    return run_backtest(bars, strategy, params, config, engine=engine, trade_from=trade_from)


def _annualize(total_return: float, n_bars: int, per_year: float) -> float:
    if n_bars < 1 or not math.isfinite(total_return):
        return math.nan
    return total_return * per_year / n_bars


def _trials_per_window(space: SearchSpace, method: str, trials: int | None) -> int:
    if not space:
        return 0
    return grid_size(space) if method == "grid" else int(trials or 0)


__all__ = [
    "ModelTrainer",
    "TrainedModel",
    "WalkForwardResult",
    "Window",
    "WindowResult",
    "walk_forward",
    "walk_forward_windows",
]
