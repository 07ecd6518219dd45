"""Live/offline disagreement: the forming bar's predicted class against the closed bar's.

The per-tick path scores the forming bar (``FeatureEngine.preview`` on the bar its ticks
have built so far); a model trained on closed bars only has never seen such vectors. This
script measures, on the sample market the demo trains ``fx-default`` on (EURUSD, M5, one
week, market seed 7, LightGBM on 3 purged folds: ``ml.training.default_model.DefaultModelRecipe``),
the share of bars whose predicted class at the first tick, 25% and 50% of the bar's ticks
differs from the class predicted on the closed bar, for a model trained without and with
forming-bar snapshots (``chainflow.ml.training.forming_snapshots``).

The bars are built from the sample market's ticks as the bridge builds them (bid OHLC, mean
spread), the first ``1 - --eval-share`` of them train both models and the rest are scored:
one streaming engine walks every bar, previews each forming bar at its first tick and at the
fractions, then commits the closed bar, as the live path does. Prints one JSON document.

    python benchmarks/forming_disagreement.py [--days 7] [--seed 7] [--snapshots 0.25,0.5,0.75]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from typing import Any

import numpy as np

from chainflow.core.market import BarSeries
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_market import generate_sample_days
from chainflow.features.api import FeatureEngine, get_feature_set
from chainflow.ml.training.datasets import Dataset, build_dataset
from chainflow.ml.training.default_model import DefaultModelRecipe
from chainflow.ml.training.forming_snapshots import (
    SubBars,
    aggregate,
    parse_fractions,
    partial_bar,
    with_forming_snapshots,
)
from chainflow.ml.training.labels import CLASS_NAMES, compute_labels
from chainflow.ml.training.run import TrainingConfig, train_on_dataset
from chainflow.ml.training.serving import ModelBundle

FEATURE_SET = "fx-core@1"
POINTS = {"first_tick": 0.0, "25%": 0.25, "50%": 0.5}


def sample_ticks(recipe: DefaultModelRecipe, days: int, seed: int) -> SubBars:
    market = SampleMarketConfig(symbols=(recipe.symbol,), days=days, seed=seed)
    chunks = [d.symbols[0] for d in generate_sample_days(market) if len(d.symbols[0])]
    return SubBars.from_ticks(
        ts=np.concatenate([c.ts_ms for c in chunks]),
        bid=np.concatenate([c.bid for c in chunks]),
        ask=np.concatenate([c.ask for c in chunks]),
        volume=np.concatenate([c.volume for c in chunks]),
    )


def head(bars: BarSeries, count: int) -> BarSeries:
    return BarSeries.from_arrays(
        **{name: getattr(bars, name)[:count] for name in ("ts", "open", "high", "low")},
        close=bars.close[:count],
        volume=bars.volume[:count],
        spread=bars.spread[:count],
    )


def live_vectors(bars: BarSeries, ticks: SubBars, first: int) -> dict[str, np.ndarray]:
    """Each bar from ``first`` on: its forming vectors at ``POINTS`` and its closed vector."""
    engine = FeatureEngine(get_feature_set(FEATURE_SET))
    starts = np.searchsorted(ticks.ts, bars.ts)
    counts = np.diff(np.r_[starts, ticks.ts.size])
    out: dict[str, list[np.ndarray]] = {name: [] for name in (*POINTS, "closed")}
    for t in range(len(bars)):
        if t >= first:
            n = int(counts[t])
            for name, fraction in POINTS.items():
                k = max(1, math.floor(fraction * n + 1e-9))
                out[name].append(
                    engine.preview(partial_bar(ticks, int(starts[t]), k, int(bars.ts[t])))
                )
        closed = partial_bar(ticks, int(starts[t]), int(counts[t]), int(bars.ts[t]))
        vector = engine.update(closed)
        if t >= first:
            out["closed"].append(vector)
    return {name: np.array(rows) for name, rows in out.items()}


def disagreement(
    bundle: ModelBundle, vectors: dict[str, np.ndarray], y: np.ndarray
) -> dict[str, Any]:
    usable = np.all([np.isfinite(v).all(axis=1) for v in vectors.values()], axis=0)
    usable &= y >= 0
    classes = {
        name: bundle.predict(v[usable]).probabilities.argmax(axis=1) for name, v in vectors.items()
    }
    closed = classes["closed"]
    labels = y[usable]
    return {
        "bars": int(usable.sum()),
        "disagreement": {
            name: round(float(np.mean(classes[name] != closed)), 4) for name in POINTS
        },
        "closed_class_share": {
            name: round(float(np.mean(closed == c)), 4) for c, name in enumerate(CLASS_NAMES)
        },
        "accuracy": {
            name: round(float(np.mean(classes[name] == labels)), 4) for name in (*POINTS, "closed")
        },
    }


def train(dataset: Dataset, config: TrainingConfig) -> tuple[ModelBundle, dict[str, Any]]:
    result = train_on_dataset(dataset, config)
    summary = {
        "train_rows": len(dataset),
        "cv_oos_accuracy": round(result.oos["accuracy"], 4),
        "cv_oos_log_loss": round(result.oos["log_loss"], 4),
        "verdict": result.verdict.get("sentence"),
        "seconds": result.seconds,
    }
    return ModelBundle(result.onnx), summary


def main() -> int:
    recipe = DefaultModelRecipe()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=recipe.days)
    parser.add_argument("--seed", type=int, default=recipe.seed, help="sample market seed")
    parser.add_argument("--snapshots", default="0.25,0.5,0.75", help="training fractions")
    parser.add_argument("--eval-share", type=float, default=0.3, help="last bars scored")
    args = parser.parse_args()
    fractions = parse_fractions(args.snapshots)
    started = time.perf_counter()
    ticks = sample_ticks(recipe, args.days, args.seed)
    bars, _ = aggregate(ticks, recipe.timeframe.milliseconds)
    first = int(len(bars) * (1.0 - args.eval_share))
    train_bars = head(bars, first)
    config = TrainingConfig(
        family=recipe.family,
        n_folds=recipe.n_folds,
        seed=recipe.seed,
        threads=recipe.threads,
        resamples=500,
        importance=False,
    )
    closed = build_dataset(train_bars, get_feature_set(FEATURE_SET), recipe.label)
    snapshots = with_forming_snapshots(closed, train_bars, ticks, fractions)
    vectors = live_vectors(bars, ticks, first)
    labels = compute_labels(recipe.label, high=bars.high, low=bars.low, close=bars.close).label
    report: dict[str, Any] = {
        "market": {
            "symbol": recipe.symbol,
            "timeframe": recipe.timeframe.value,
            "days": args.days,
            "seed": args.seed,
            "bars": len(bars),
            "ticks": int(ticks.ts.size),
        },
        "train_bars": first,
        "scored_bars": len(bars) - first,
        "family": recipe.family,
        "label": recipe.label.to_dict(),
    }
    for name, dataset in (("closed_only", closed), ("with_snapshots", snapshots)):
        bundle, summary = train(dataset, config)
        report[name] = {**summary, **disagreement(bundle, vectors, labels[first:])}
    report["with_snapshots"]["fractions"] = list(fractions)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["python"] = platform.python_version()
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
