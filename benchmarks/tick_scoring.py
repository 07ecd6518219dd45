"""What scoring one tick costs on the event loop, stage by stage (the tick path's CPU).

The per-tick hot path (``trading.tick.scoring.TickScorer.score``) runs, for every tick of a
key with a built state: the features preview of the forming bar (``FeatureEngine.preview``,
the committed state put back), the finite check of the model's input, the model
(``ModelBundle.predict``: ONNX Runtime and the bundle's calibration) and the anomaly score
(``ServedModel.anomaly_score``). On the aligned scenario of ``tick_to_signal.py`` the loop
that serves the WebSockets is over capacity, and these stages are its largest share: every
microsecond here is paid a thousand times a second.

The model is ``fx-default`` as ``chainflow demo`` trains it (LightGBM on the sample market,
EURUSD M5; trained once and cached in ``--cache``), the features ``fx-core@1`` fed the
sample market's bars up to ``--history`` bars, then one forming bar previewed ``--calls``
times per stage. Prints one JSON document: microseconds per call of each stage (median of
``--repeats`` timed loops, process time of this thread) and their sum.

    python benchmarks/tick_scoring.py [--calls 3000] [--repeats 5] [--history 1000]
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from chainflow.core.market import Timeframe, bar_row
from chainflow.demo.model_bars import default_model_bars
from chainflow.features.api import SymbolPipeline, get_feature_set
from chainflow.ml.api import DefaultModelRecipe, train_default_model
from chainflow.ml.live.model_cache import ServedModel
from chainflow.ml.training.serving import ModelBundle

FEATURE_SET = "fx-core@1"


def trained_model(cache: Path) -> tuple[dict[str, Any], bytes]:
    """``fx-default``'s metrics and ONNX bytes, trained once and kept in ``cache``."""
    if cache.exists():
        metrics, onnx = pickle.loads(cache.read_bytes())
        return metrics, onnx
    registration, onnx = train_default_model(default_model_bars)
    cache.write_bytes(pickle.dumps((registration.metrics, onnx)))
    return registration.metrics, onnx


def per_call_us(stage: Callable[[], object], calls: int, repeats: int) -> float:
    """Median over ``repeats`` loops of ``calls`` calls: microseconds of thread time per call."""
    stage()
    loops = []
    for _ in range(repeats):
        began = time.thread_time()
        for _ in range(calls):
            stage()
        loops.append((time.thread_time() - began) / calls * 1e6)
    return round(statistics.median(loops), 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--history", type=int, default=1000, help="closed bars fed first")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "chainflow-bench-fx-default.pickle",
        help="where the trained model is kept between runs",
    )
    args = parser.parse_args()
    metrics, onnx = trained_model(args.cache)
    bundle = ModelBundle(onnx)
    served = ServedModel(SimpleNamespace(metrics=metrics), bundle)  # type: ignore[arg-type]
    feature_set = get_feature_set(FEATURE_SET)
    sample = default_model_bars(DefaultModelRecipe()).bars
    if not 0 < args.history < len(sample):
        parser.error(f"--history must be within 1..{len(sample) - 1}")
    pipeline = SymbolPipeline(feature_set, Timeframe.M5)
    rows = [bar_row(b.ts, b.open, b.high, b.low, b.close, b.volume, b.spread) for b in sample]
    for row in rows[: args.history]:
        pipeline.update(row)
    forming = rows[args.history]
    engine, names = pipeline.engine, feature_set.names
    vector = engine.preview(forming)
    inputs = vector[np.newaxis]
    stages = {
        "features_preview": lambda: engine.preview(forming),
        "finite_check": lambda: np.isfinite(vector).all(),
        "model_predict": lambda: bundle.predict(inputs),
        "anomaly_score": lambda: served.anomaly_score(names, vector),
    }
    figures = {name: per_call_us(stage, args.calls, args.repeats) for name, stage in stages.items()}
    print(
        json.dumps(
            {
                "benchmark": "tick_scoring",
                "how": "one forming bar scored stage by stage, in this process's thread",
                "python": platform.python_version(),
                "feature_set": FEATURE_SET,
                "features": bundle.n_features,
                "calibrated": bundle.calibrator is not None,
                "history_bars": args.history,
                "calls": args.calls,
                "repeats": args.repeats,
                "us_per_call": figures,
                "us_per_tick": round(sum(figures.values()), 2),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
