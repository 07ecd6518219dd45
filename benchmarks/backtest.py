"""Backtest benchmark: one SMA crossover, a grid optimization and a walk-forward run.

Prints one JSON document. Bars are generated before timing (a seeded EURUSD-like random
walk of 1-minute bars with a 1-3 point spread):

- ``sma_event_seconds`` / ``sma_vectorized_seconds``: ``run_backtest`` of an SMA(10, 30)
  crossover on ``--bars`` bars (default 1,000,000) on the event engine and on the
  vectorized path, best of ``--repeats`` after one untimed warm-up run on 10,000 bars (the
  numba compile or cache load); both must give the same trades (``same_trades``);
- ``grid_seconds``: a 100-combination grid (fast 5..50 step 5 x slow 60..150 step 10) on
  ``--grid-bars`` bars (default 100,000) with ``--workers`` processes (default: all cores),
  pool start-up included;
- ``walkforward_seconds``: a rolling walk-forward of a 16-combination grid (fast 5..20
  step 5 x slow 30..60 step 10) over 4 windows of the bars of ``chainflow sample-data``
  (EURUSD M5, 30 days), in-sample 2,000 / out-of-sample 1,000 bars (each out-of-sample
  block warmed up on its in-sample bars).

Usage: ``python benchmarks/backtest.py [--bars 1000000] [--grid-bars 100000] [--workers N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from chainflow.backtest.api import run_backtest
from chainflow.backtest.data import load_file
from chainflow.backtest.optimize import Evaluation, optimize
from chainflow.backtest.search_space import Range
from chainflow.backtest.types import BacktestConfig
from chainflow.backtest.walkforward import walk_forward
from chainflow.core.market import BarSeries

BASE_TS = 1_767_571_200_000  # 2026-01-05 00:00 UTC
SPACE = {"fast": Range(5, 50, 5), "slow": Range(60, 150, 10)}


def make_bars(count: int, seed: int) -> BarSeries:
    rng = np.random.default_rng(seed)
    close = np.round(1.1 * np.exp(np.cumsum(rng.standard_normal(count) * 1e-4)), 5)
    open_ = np.concatenate([[1.1], close[:-1]])
    wicks = np.abs(rng.standard_normal((2, count))) * 1e-4 * close
    return BarSeries.from_arrays(
        ts=BASE_TS + np.arange(count, dtype=np.int64) * 60_000,
        open=open_,
        high=np.round(np.maximum(open_, close) + wicks[0], 5),
        low=np.round(np.minimum(open_, close) - wicks[1], 5),
        close=close,
        volume=np.round(rng.lognormal(6.0, 0.6, count)),
        spread=rng.choice([1e-5, 2e-5, 3e-5], count),
        symbol="EURUSD",
        timeframe="M1",
    )


def best_of(repeats: int, run: Any) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def sample_bars() -> BarSeries:
    from chainflow.core.market import Timeframe
    from chainflow.demo.sample_data import SampleMarketConfig
    from chainflow.demo.sample_files import SampleFileKind, write_sample_files

    with tempfile.TemporaryDirectory() as out:
        write_sample_files(
            SampleMarketConfig(symbols=("EURUSD",), days=30),
            Path(out),
            kinds=(SampleFileKind.MT5_BARS,),
            timeframe=Timeframe.M5,
        )
        return load_file(Path(out) / "EURUSD_M5.tsv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--grid-bars", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    config = BacktestConfig(cash=10_000.0, commission=0.0001)
    params = {"fast": 10, "slow": 30}
    bars = make_bars(args.bars, args.seed)
    for engine in ("event", "vectorized"):  # warm-up: numba compile or cache load
        run_backtest(bars.slice(0, 10_000), "sma_crossover", params, config, engine=engine)
    event_s, event = best_of(
        args.repeats, lambda: run_backtest(bars, "sma_crossover", params, config, engine="event")
    )
    vector_s, vector = best_of(
        args.repeats,
        lambda: run_backtest(bars, "sma_crossover", params, config, engine="vectorized"),
    )
    grid_bars = bars.slice(0, min(args.grid_bars, len(bars)))
    evaluation = Evaluation(grid_bars, "sma_crossover", config, {}, "auto")
    started = time.perf_counter()
    grid = optimize(evaluation, SPACE, workers=args.workers)
    grid_s = time.perf_counter() - started
    sample = sample_bars()
    started = time.perf_counter()
    walk = walk_forward(
        sample,
        "sma_crossover",
        {"fast": Range(5, 20, 5), "slow": Range(30, 60, 10)},
        in_sample=2_000,
        out_of_sample=1_000,
        config=config,
        workers=args.workers,
    )
    walk_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "bars": len(bars),
                "sma_event_seconds": round(event_s, 4),
                "sma_vectorized_seconds": round(vector_s, 4),
                "sma_engine_elapsed_s": {
                    "event": round(event.elapsed_s, 4),
                    "vectorized": round(vector.elapsed_s, 4),
                },
                "sma_trades": len(vector.trades),
                "same_trades": event.trades == vector.trades,
                "grid_combinations": len(grid.trials),
                "grid_feasible": sum(t.is_feasible for t in grid.trials),
                "grid_bars": len(grid_bars),
                "grid_seconds": round(grid_s, 3),
                "grid_best": grid.best.params if grid.best else None,
                "workers": args.workers,
                "walkforward_bars": len(sample),
                "walkforward_windows": len(walk.windows),
                "walkforward_trials": sum(w.trials for w in walk.windows),
                "walkforward_seconds": round(walk_s, 3),
                "walkforward_efficiency": walk.efficiency,
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
