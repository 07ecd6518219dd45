"""Feature set benchmark: streaming ``FeatureEngine.update`` latency and batch matrix time.

Prints one JSON document. Bars are generated before timing (EURUSD-like 1-minute bars: a
log-normal random walk whose volatility has an intraday cycle and slow mean-reverting
clusters, OHLC consistent, lognormal volumes, a spread of 1-3 points with 5% unknown):

- ``stream_update_us``: ``--updates`` calls of ``FeatureEngine.update`` after a warm-up of
  ``warmup_bars`` bars (not timed), each timed with ``time.perf_counter_ns``; percentiles
  of the whole-vector update in microseconds;
- ``batch_matrix_seconds``: ``feature_matrix`` over ``--bars`` bars, best of ``--repeats``;
- ``stream_matches_batch``: the streamed vectors against the batch rows of the same bars
  (same NaN positions; largest absolute and relative difference).

Usage: ``python benchmarks/features.py [--bars 1000000] [--updates 50000] [--repeats 1]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.features.engine import BarValues, FeatureEngine
from chainflow.features.matrix import feature_matrix
from chainflow.features.regimes import RegimeConfig, RegimeDetector
from chainflow.features.sets import get_feature_set

BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000
Bars = dict[str, NDArray[Any]]


def make_bars(count: int, seed: int) -> Bars:
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


def as_bar_values(bars: Bars, count: int) -> list[BarValues]:
    columns = [bars[k][:count].tolist() for k in ("open", "high", "low", "close", "volume")]
    return [
        BarValues(ts, *values)
        for ts, *values in zip(
            bars["ts"][:count].tolist(), *columns, bars["spread"][:count].tolist(), strict=True
        )
    ]


def time_stream(key: str, bars: list[BarValues], warmup: int) -> tuple[dict[str, Any], Any]:
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


def time_regimes(bars: list[BarValues], timeframe_ms: int) -> dict[str, Any]:
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


def time_batch(key: str, bars: Bars, repeats: int) -> tuple[dict[str, Any], Any]:
    feature_set = get_feature_set(key)
    seconds: list[float] = []
    matrix = None
    for _ in range(repeats):
        started = time.perf_counter()
        matrix = feature_matrix(feature_set, **bars)
        seconds.append(time.perf_counter() - started)
    size = len(bars["close"])
    return {"bars": size, "seconds": round(min(seconds), 3), "repeats": repeats}, matrix


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feature-set", default="fx-core@1")
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    feature_set = get_feature_set(args.feature_set)
    warmup = feature_set.warmup_bars
    bars = make_bars(max(args.bars, args.updates + warmup), args.seed)
    stream_bars = as_bar_values(bars, args.updates + warmup)
    batch_bars = {k: v[: args.bars] for k, v in bars.items()}

    stream, streamed = time_stream(args.feature_set, stream_bars, warmup)
    regimes = time_regimes(stream_bars, int(bars["ts"][1] - bars["ts"][0]))
    batch, matrix = time_batch(args.feature_set, batch_bars, args.repeats)
    if len(matrix) < len(streamed):  # fewer batch bars than streamed: check on the stream's
        matrix = feature_matrix(feature_set, **{k: v[: len(streamed)] for k, v in bars.items()})
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
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "platform": platform.platform(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
