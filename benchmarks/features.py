"""Feature set benchmark: streaming ``FeatureEngine.update`` latency and batch matrix time.

Prints one JSON document. Bars are generated before timing (EURUSD-like 1-minute bars: a
log-normal random walk whose volatility has an intraday cycle and slow mean-reverting
clusters, OHLC consistent, lognormal volumes, a spread of 1-3 points with 5% unknown):

- ``stream_update_us``: ``--updates`` calls of ``FeatureEngine.update`` after a warm-up of
  ``warmup_bars`` bars (not timed), each timed with ``time.perf_counter_ns``; percentiles
  of the whole-vector update in microseconds;
- ``batch_matrix_seconds``: ``feature_matrix`` over ``--bars`` bars: ``seconds`` with its
  default 2 worker threads and ``single_thread_seconds`` with ``threads=0``, best of
  ``--repeats`` (interleaved), and ``single_thread_cpu_seconds`` the CPU time of the
  ``threads=0`` run (the work, whatever else the machine runs); ``first_seconds`` is the
  process's first call, which also touches the output's fresh memory for the first time
  (264 MB for 1M bars x 33 features; on a VM whose host backs guest memory lazily, that
  alone can take a second);
- ``stream_matches_batch``: the streamed vectors against the batch rows of the same bars
  (same NaN positions; largest absolute and relative difference);
- ``batch_vs_talib``: each ``chainflow.features.batch`` indicator against its TA-Lib
  function on the same ``--bars`` bars in this run, best of ``--talib-repeats`` each, and
  the ratio (ours / TA-Lib; the goal is <= 2); ``first_call_seconds`` is the import and
  first call of every indicator in a fresh interpreter, ``cold`` with an empty
  ``NUMBA_CACHE_DIR`` (compilation) and ``warm`` with that cache filled (cache load);
  ``matrix_cold``/``matrix_warm`` the same for the first ``feature_matrix`` (1,000 bars)
  after them (its scalers and assembly kernels).

Usage: ``python benchmarks/features.py [--bars 1000000] [--updates 50000] [--repeats 3]
[--talib-repeats 5] [--table-only]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import talib
from numpy.typing import NDArray

from chainflow.core.market import BarRow, BarSeries
from chainflow.features import batch as cf
from chainflow.features.engine import FeatureEngine
from chainflow.features.matrix import feature_matrix
from chainflow.features.regimes import RegimeConfig, RegimeDetector
from chainflow.features.sets import get_feature_set

BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000
BarColumns = dict[str, NDArray[Any]]


def make_bars(count: int, seed: int) -> BarColumns:
    rng = np.random.default_rng(seed)
    noise = np.convolve(rng.standard_normal(count + 999), np.ones(1000) / 1000**0.5, "valid")
    day = np.sin(2.0 * np.pi * np.arange(count) / 1440.0)
    sigma = 1e-4 * np.exp(0.3 * day + 0.3 * noise)  # intraday cycle, slow clustering
    close = np.round(1.1 * np.exp(np.cumsum(rng.standard_normal(count) * sigma)), 5)
    open_ = np.concatenate([[1.1], close[:-1]])
    wicks = np.abs(rng.standard_normal((2, count))) * sigma * close
    spread = rng.choice([1e-5, 2e-5, 3e-5], count)
    spread[1:][rng.random(count - 1) < 0.05] = np.nan
    return {
        "ts": BASE_TS + np.arange(count, dtype=np.int64) * 60_000,
        "open": open_,
        "high": np.round(np.maximum(open_, close) + wicks[0], 5),
        "low": np.round(np.minimum(open_, close) - wicks[1], 5),
        "close": close,
        "volume": np.round(rng.lognormal(6.0, 0.6, count)),
        "spread": spread,
    }


def as_bar_values(bars: BarColumns, count: int) -> list[BarRow]:
    columns = [bars[k][:count].tolist() for k in ("open", "high", "low", "close", "volume")]
    return [
        BarRow(ts, *values)
        for ts, *values in zip(
            bars["ts"][:count].tolist(), *columns, bars["spread"][:count].tolist(), strict=True
        )
    ]


def time_stream(key: str, bars: list[BarRow], warmup: int) -> tuple[dict[str, Any], Any]:
    engine = FeatureEngine(get_feature_set(key))
    update = engine.update
    rows = [update(bar) for bar in bars[:warmup]]
    clock = time.perf_counter_ns
    durations: list[int] = []
    record = durations.append
    for bar in bars[warmup:]:
        started = clock()
        row = update(bar)
        record(clock() - started)
        rows.append(row)
    cuts = statistics.quantiles(durations, n=100)
    return {
        "updates": len(durations),
        "warmup_bars": warmup,
        "p50": round(cuts[49] / 1e3, 2),
        "p90": round(cuts[89] / 1e3, 2),
        "p99": round(cuts[98] / 1e3, 2),
        "mean": round(statistics.fmean(durations) / 1e3, 2),
        "max": round(max(durations) / 1e3, 2),
    }, np.array(rows)


def time_regimes(bars: list[BarRow], timeframe_ms: int) -> dict[str, Any]:
    """Time ``RegimeDetector.update`` per bar, mixture refits included (mean, max)."""
    detector = RegimeDetector(RegimeConfig(), timeframe_ms)
    clock = time.perf_counter_ns
    durations: list[int] = []
    for bar in bars:
        started = clock()
        detector.update(bar.ts, bar.high, bar.low, bar.close)
        durations.append(clock() - started)
    settled = durations[RegimeConfig().min_fit_values :]
    cuts = statistics.quantiles(settled, n=100)
    return {
        "updates": len(settled),
        "p50": round(cuts[49] / 1e3, 2),
        "p99": round(cuts[98] / 1e3, 2),
        "mean_with_refits": round(statistics.fmean(settled) / 1e3, 2),
        "max_refit_ms": round(max(settled) / 1e6, 2),
        "refit_every_bars": RegimeConfig().refit_every_bars,
    }


def time_batch(key: str, bars: BarColumns, repeats: int) -> tuple[dict[str, Any], Any]:
    """``feature_matrix`` with 2 worker threads and with none, interleaved ``repeats``
    times so that both see the same machine load."""
    feature_set = get_feature_set(key)
    seconds: dict[int, list[float]] = {2: [], 0: []}
    cpu: list[float] = []
    matrix = None
    series = BarSeries.from_arrays(**bars)  # checked once, outside the timed calls
    for _ in range(repeats):
        for threads, runs in seconds.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            matrix = feature_matrix(feature_set, series, threads=threads)
            runs.append(time.perf_counter() - started)
            if threads == 0:
                cpu.append(time.process_time() - cpu_started)
    size = len(bars["close"])
    return {
        "bars": size,
        "seconds": round(min(seconds[2]), 3),
        "single_thread_seconds": round(min(seconds[0]), 3),
        "single_thread_cpu_seconds": round(min(cpu), 3),
        "first_seconds": round(seconds[2][0], 3),
        "threads": 2,
        "repeats": repeats,
    }, matrix


def compare(streamed: Any, batch: Any) -> dict[str, Any]:
    rows = batch[: len(streamed)]
    same_nan = bool(np.array_equal(np.isnan(streamed), np.isnan(rows)))
    mask = ~np.isnan(rows)
    diff = np.abs(streamed[mask] - rows[mask])
    rel = diff / np.maximum(np.abs(rows[mask]), 1e-300)
    return {
        "bars": len(streamed),
        "same_nan_positions": same_nan,
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "max_rel_diff_where_abs_over_1e-6": float(rel[np.abs(rows[mask]) > 1e-6].max()),
    }


def indicator_pairs(bars: BarColumns) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """Each indicator as (ours, TA-Lib) on the same arrays, with TA-Lib's default periods."""
    h, lo, c, v = bars["high"], bars["low"], bars["close"], bars["volume"]
    hlc = (h, lo, c)
    return {
        "SMA(30)": (lambda: cf.sma(c, 30), lambda: talib.SMA(c, 30)),
        "EMA(30)": (lambda: cf.ema(c, 30), lambda: talib.EMA(c, 30)),
        "WMA(30)": (lambda: cf.wma(c, 30), lambda: talib.WMA(c, 30)),
        "DEMA(30)": (lambda: cf.dema(c, 30), lambda: talib.DEMA(c, 30)),
        "TEMA(30)": (lambda: cf.tema(c, 30), lambda: talib.TEMA(c, 30)),
        "RSI(14)": (lambda: cf.rsi(c, 14), lambda: talib.RSI(c, 14)),
        "MACD(12,26,9)": (lambda: cf.macd(c), lambda: talib.MACD(c)),
        "ROC(10)": (lambda: cf.roc(c, 10), lambda: talib.ROC(c, 10)),
        "MOM(10)": (lambda: cf.mom(c, 10), lambda: talib.MOM(c, 10)),
        "STOCH(5,3,3)": (lambda: cf.stoch(*hlc), lambda: talib.STOCH(*hlc)),
        "WILLR(14)": (lambda: cf.willr(*hlc, 14), lambda: talib.WILLR(*hlc, 14)),
        "CCI(14)": (lambda: cf.cci(*hlc, 14), lambda: talib.CCI(*hlc, 14)),
        "ADX(14)": (lambda: cf.adx(*hlc, 14), lambda: talib.ADX(*hlc, 14)),
        "PLUS_DI(14)": (lambda: cf.plus_di(*hlc, 14), lambda: talib.PLUS_DI(*hlc, 14)),
        "MINUS_DI(14)": (lambda: cf.minus_di(*hlc, 14), lambda: talib.MINUS_DI(*hlc, 14)),
        "ATR(14)": (lambda: cf.atr(*hlc, 14), lambda: talib.ATR(*hlc, 14)),
        "TRANGE": (lambda: cf.trange(*hlc), lambda: talib.TRANGE(*hlc)),
        "BBANDS(20,2)": (lambda: cf.bbands(c, 20, 2.0), lambda: talib.BBANDS(c, 20, 2.0, 2.0)),
        "OBV": (lambda: cf.obv(c, v), lambda: talib.OBV(c, v)),
    }


def best_seconds(call: Callable[[], Any], repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return min(seconds)


def time_vs_talib(bars: BarColumns, repeats: int) -> list[dict[str, Any]]:
    """Ours vs TA-Lib per indicator, interleaved so both see the same machine load."""
    rows = []
    for name, (ours, theirs) in indicator_pairs(bars).items():
        ours()  # compiled (or loaded from the cache) outside the timing
        ours_s = min(best_seconds(ours, 1) for _ in range(repeats))
        theirs_s = min(best_seconds(theirs, 1) for _ in range(repeats))
        rows.append(
            {
                "indicator": name,
                "ours_ms": round(ours_s * 1e3, 3),
                "talib_ms": round(theirs_s * 1e3, 3),
                "ratio": round(ours_s / theirs_s, 2),
            }
        )
    return rows


FIRST_CALL = """
import time
started = time.perf_counter()
import numpy as np
from chainflow.features import batch as cf
c = 1.1 + np.cumsum(np.random.default_rng(0).standard_normal(1000)) * 1e-4
h, lo, v = c + 1e-4, c - 1e-4, np.ones(1000)
for f in (cf.sma, cf.ema, cf.wma, cf.dema, cf.tema, cf.rsi, cf.roc, cf.mom, cf.zscore):
    f(c, 30)
cf.macd(c), cf.bbands(c, 20), cf.stoch(h, lo, c)
for f in (cf.willr, cf.cci, cf.adx, cf.atr, cf.keltner):
    f(h, lo, c, 14)
cf.donchian(h, lo, 20), cf.obv(c, v), cf.rv_parkinson(h, lo, 20), cf.rv_close_to_close(c, 20)
indicators = time.perf_counter() - started
started = time.perf_counter()
from chainflow.core.market import BarSeries
from chainflow.features.matrix import feature_matrix
from chainflow.features.sets import get_feature_set
ts = 1_700_000_000_000 + np.arange(1000) * 60_000
fx = get_feature_set("fx-core@1")
columns = {"open": c, "high": h, "low": lo, "close": c, "volume": v, "spread": v * 1e-5}
feature_matrix(fx, BarSeries.from_arrays(ts=ts, **columns))
print(indicators, time.perf_counter() - started)
"""


def time_first_call() -> dict[str, float]:
    """Import + first call of every indicator, then of the matrix, in a fresh interpreter:
    cold, then warm cache."""
    result = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        for label in ("cold", "warm"):
            out = subprocess.run(
                [sys.executable, "-c", FIRST_CALL], env=env, check=True, capture_output=True
            )
            indicators, matrix = out.stdout.decode().split()[-2:]
            result[label] = round(float(indicators), 3)
            result[f"matrix_{label}"] = round(float(matrix), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feature-set", default="fx-core@1")
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--talib-repeats", type=int, default=5)
    parser.add_argument(
        "--table-only", action="store_true", help="only the TA-Lib table and the matrix time"
    )
    args = parser.parse_args()
    if args.table_only:
        print(json.dumps(table_only(args), indent=2))
        return

    feature_set = get_feature_set(args.feature_set)
    warmup = feature_set.warmup_bars
    bars = make_bars(max(args.bars, args.updates + warmup), args.seed)
    stream_bars = as_bar_values(bars, args.updates + warmup)
    batch_bars = {k: v[: args.bars] for k, v in bars.items()}

    stream, streamed = time_stream(args.feature_set, stream_bars, warmup)
    regimes = time_regimes(stream_bars, int(bars["ts"][1] - bars["ts"][0]))
    batch, matrix = time_batch(args.feature_set, batch_bars, args.repeats)
    if len(matrix) < len(streamed):  # fewer batch bars than streamed: check on the stream's
        head = {k: v[: len(streamed)] for k, v in bars.items()}
        matrix = feature_matrix(feature_set, BarSeries.from_arrays(**head))
    result = {
        "benchmark": "features",
        "feature_set": feature_set.key,
        "fingerprint": feature_set.fingerprint,
        "n_features": len(feature_set.names),
        "stream_update_us": stream,
        "regime_update_us": regimes,
        "batch_matrix_seconds": batch,
        "batch_us_per_bar": round(batch["seconds"] / max(batch["bars"], 1) * 1e6, 3),
        "stream_matches_batch": compare(streamed, matrix),
        "batch_vs_talib": (rows := time_vs_talib(batch_bars, args.talib_repeats)),
        "max_ratio": max(row["ratio"] for row in rows),
        "first_call_seconds": time_first_call(),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "platform": platform.platform(),
    }
    print(json.dumps(result, indent=2))


def table_only(args: argparse.Namespace) -> dict[str, Any]:
    bars = make_bars(args.bars, args.seed)
    rows = time_vs_talib(bars, args.talib_repeats)
    batch, _ = time_batch(args.feature_set, bars, args.repeats)
    return {
        "benchmark": "features",
        "batch_vs_talib": rows,
        "max_ratio": max(row["ratio"] for row in rows),
        "first_call_seconds": time_first_call(),
        "batch_matrix_seconds": batch,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }


if __name__ == "__main__":
    main()
