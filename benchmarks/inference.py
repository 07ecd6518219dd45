"""ONNX Runtime inference latency of each model family's served bundle, and batched throughput.

Trains one bundle per family on synthetic 5-minute bars (2 purged folds, so it takes about
a minute in all), then times ``ModelBundle.predict``: one sample at a time (p50/p99 over
``--samples`` calls) and batches of ``--symbols`` rows (one row per symbol that is due),
as the ml service calls it. Prints one JSON document.

    python benchmarks/inference.py [--families xgboost,lightgbm,lstm,cnn,ensemble]
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

from chainflow.core.market import BarSeries
from chainflow.features.api import get_feature_set
from chainflow.ml.training.datasets import build_dataset
from chainflow.ml.training.families import FAMILIES, torch_available
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.run import TrainingConfig, train_on_dataset
from chainflow.ml.training.serving import ModelBundle


def synthetic_bars(count: int, seed: int) -> BarSeries:
    """GARCH-like 5-minute EURUSD bars (the tests' generator, without importing tests)."""
    rng = np.random.default_rng(seed)
    var, r = 1e-7, 0.0
    rets = np.empty(count)
    for i in range(count):
        var = 2e-9 + 0.08 * r * r + 0.9 * var
        r = rng.standard_normal() * var**0.5
        rets[i] = r
    close = 1.1 * np.exp(np.cumsum(rets))
    open_ = np.concatenate([[1.1], close[:-1]])
    wick = np.abs(rng.standard_normal((2, count))) * np.abs(rets).mean() * close
    return BarSeries.from_arrays(
        ts=1_700_000_000_000 + np.arange(count, dtype=np.int64) * 300_000,
        open=open_,
        high=np.maximum(open_, close) + wick[0],
        low=np.minimum(open_, close) - wick[1],
        close=close,
        volume=np.round(rng.lognormal(6.0, 0.6, count)),
        spread=np.full(count, 0.0001),
    )


def time_family(
    bundle: ModelBundle, inputs: np.ndarray, samples: int, symbols: int
) -> dict[str, Any]:
    single: list[float] = []
    for i in range(samples):
        row = inputs[i % len(inputs)][None, ...]
        started = time.perf_counter_ns()
        bundle.predict(row)
        single.append((time.perf_counter_ns() - started) / 1e3)
    batch = np.stack([inputs[i % len(inputs)] for i in range(symbols)])
    rounds = max(200, samples // 10)
    started = time.perf_counter()
    for _ in range(rounds):
        bundle.predict(batch)
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(single, n=100)
    return {
        "window": bundle.window,
        "single_us": {"p50": round(cuts[49], 1), "p99": round(cuts[98], 1)},
        f"batch_of_{symbols}_us": round(elapsed / rounds * 1e6, 1),
        "batched_predictions_per_s": round(rounds * symbols / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--bars", type=int, default=4000)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--symbols", type=int, default=50)
    args = parser.parse_args()
    dataset = build_dataset(synthetic_bars(args.bars, 1), get_feature_set("fx-core@1"), LabelSpec())
    results: dict[str, Any] = {}
    for name in args.families.split(","):
        if name in ("lstm", "cnn") and not torch_available():
            results[name] = {"skipped": "PyTorch not installed (pip install 'chainflow[train]')"}
            continue
        started = time.perf_counter()
        trained = train_on_dataset(dataset, TrainingConfig(family=name, n_folds=2))
        bundle = ModelBundle(trained.onnx)
        inputs = (
            dataset.window_tensor(bundle.window)[0] if bundle.window > 1 else dataset.X
        ).astype(np.float32)
        results[name] = {
            "members": list(trained.members),
            "train_seconds": round(time.perf_counter() - started, 1),
            "bundle_bytes": len(trained.onnx),
            **time_family(bundle, inputs, args.samples, args.symbols),
        }
    print(
        json.dumps(
            {
                "benchmark": "inference",
                "feature_set": "fx-core@1",
                "runtime": "onnxruntime",
                "threads": 1,
                "families": results,
                "python": sys.version.split()[0],
                "machine": platform.machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
