"""What a wave of bar closes costs the serving loop in pipeline checkpoints and GC passes.

On every closed bar of every key the features service (and the tick path, for a bar it
committed from a partial forming bar) takes a ``SymbolPipeline.checkpoint`` before the
update, and keeps it until the next bar, to redo the bar if a late tick revises it. Every
M1 bar of every tenant closes at the same second, so the serving loop takes hundreds of
checkpoints at once, and the garbage collector's next passes visit what they keep.

This script builds ``--keys`` pipelines of ``fx-core@1`` on M5, each fed ``--history``
bars of the sample market scaled by its own factor (its own float objects, as distinct
keys have), with their checkpoint plans already walked (the steady state). Then it takes
one checkpoint per key, as one wave of bar closes does, and times that and a young, a
middle and a full collection right after (the collector off otherwise, the rest of the
heap frozen, the CPU caches flushed by a 50 MB write before each step, as the loop's other
work does). Prints one JSON document: milliseconds per wave, median of ``--repeats`` runs.

    python benchmarks/bar_close_checkpoints.py [--keys 300] [--history 900] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable

from chainflow.core.market import Timeframe, bar_row
from chainflow.demo.model_bars import default_model_bars
from chainflow.features.api import SymbolPipeline, get_feature_set
from chainflow.ml.api import DefaultModelRecipe

FEATURE_SET = "fx-core@1"
FLUSH_BYTES = 50_000_000


def pipelines(keys: int, history: int) -> list[SymbolPipeline]:
    """``keys`` warm pipelines over the sample market, each at its own price scale."""
    feature_set = get_feature_set(FEATURE_SET)
    bars = default_model_bars(DefaultModelRecipe()).bars
    if not 0 < history < len(bars):
        raise SystemExit(f"--history must be within 1..{len(bars) - 1}")
    sample = bars[-history - 1 : -1]
    built = []
    for key in range(keys):
        scale = 1.0 + key * 1e-4
        pipeline = SymbolPipeline(feature_set, Timeframe.M5)
        for b in sample:
            prices = (b.open * scale, b.high * scale, b.low * scale, b.close * scale)
            pipeline.update(bar_row(b.ts, *prices, b.volume, b.spread))
        pipeline.checkpoint()  # walks the plan: the steady state has one
        built.append(pipeline)
    return built


def timed_ms(step: Callable[[], object]) -> float:
    """Milliseconds of ``step`` after the CPU caches are flushed (a 50 MB write)."""
    flush = bytearray(FLUSH_BYTES)
    flush[::4096] = b"\x01" * len(flush[::4096])
    began = time.perf_counter()
    step()
    return (time.perf_counter() - began) * 1e3


def one_wave(built: list[SymbolPipeline]) -> dict[str, float]:
    """One checkpoint per key, then a young, a middle and a full collection."""
    kept: list[object] = []
    figures = {"checkpoints": timed_ms(lambda: kept.extend(p.checkpoint() for p in built))}
    for generation, name in ((0, "gc_young"), (1, "gc_middle"), (2, "gc_full")):
        figures[name] = timed_ms(lambda g=generation: gc.collect(g))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--history", type=int, default=900, help="closed bars fed first")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.keys < 1 or args.repeats < 1:
        parser.error("--keys and --repeats must be >= 1")
    built = pipelines(args.keys, args.history)
    runs = []
    for _ in range(args.repeats):
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            runs.append(one_wave(built))
        finally:
            gc.enable()
            gc.unfreeze()
    figures = {name: round(statistics.median(r[name] for r in runs), 1) for name in runs[0]}
    print(
        json.dumps(
            {
                "benchmark": "bar_close_checkpoints",
                "how": "one checkpoint per key, then GC passes; caches flushed before each",
                "python": platform.python_version(),
                "feature_set": FEATURE_SET,
                "keys": args.keys,
                "history_bars": args.history,
                "repeats": args.repeats,
                "ms_per_wave": figures,
                "ms_per_wave_total": round(sum(figures.values()), 1),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
