"""Tick validation benchmark: microseconds per tick through ``TickValidator``.

Prints one JSON document. Each scenario validates ``--ticks`` pre-built synthetic ticks
(a geometric random walk per symbol, 100 ms apart, one-pip spread with jitter) on a fresh
validator with default ``ValidationConfig``; the best of ``--repeat`` runs is reported:

- ``one_symbol``: all ticks on EURUSD, tick-return sigma 1e-4 (moves stay under the MAD
  floor bound, so the MAD is rarely computed: the common FX case);
- ``ten_symbols``: the same count spread round-robin over ten symbols;
- ``one_symbol_volatile``: sigma 1e-3, so a large share of ticks need the MAD (worst case);
- ``one_symbol_from_wire``: ``validate_message`` on wire dicts (schema parse + validation).

Usage: ``python benchmarks/bench_validation.py [--ticks 200000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from chainflow.bridge.api import SymbolNormalizer, TickValidator, ValidationConfig
from chainflow.core.clock import SimulatedClock
from chainflow.core.market import Tick

START_MS = 1_700_000_000_000
STEP_MS = 100
SYMBOLS = [
    "EURUSD",
    "GBPUSD",
    "USDJPY",
    "AUDUSD",
    "USDCHF",
    "USDCAD",
    "NZDUSD",
    "EURGBP",
    "EURJPY",
    "XAUUSD",
]
START_PRICES = [1.09, 1.27, 150.0, 0.66, 0.88, 1.36, 0.61, 0.86, 163.0, 2000.0]


def make_ticks(count: int, symbol_count: int, sigma: float, seed: int = 1) -> list[Tick]:
    rng = random.Random(seed)
    mids = START_PRICES[:symbol_count]
    ticks: list[Tick] = []
    for i in range(count):
        k = i % symbol_count
        mid = mids[k] = mids[k] * (1.0 + rng.gauss(0.0, sigma))
        half_spread = mid * 5e-5 * (1.0 + 0.2 * rng.random())
        ts = START_MS + i * STEP_MS
        ticks.append(Tick(SYMBOLS[k], ts, mid - half_spread, mid + half_spread, 1.0))
    return ticks


def make_validator(end_ms: int) -> TickValidator:
    return TickValidator(
        ValidationConfig(), SimulatedClock(end_ms), SymbolNormalizer({"EURUSD.m": "EURUSD"})
    )


def run(items: Sequence[Any], end_ms: int, repeat: int, method: str) -> dict[str, float | int]:
    best = float("inf")
    rejected = 0
    for _ in range(repeat):
        validator = make_validator(end_ms)
        validate: Callable[[Any], object] = getattr(validator, method)
        started = time.perf_counter()
        for item in items:
            validate(item)
        best = min(best, time.perf_counter() - started)
        rejected = validator.stats.rejected_total
    return {
        "ticks": len(items),
        "us_per_tick": round(best / len(items) * 1e6, 3),
        "ticks_per_second": round(len(items) / best),
        "rejected": rejected,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    end_ms = START_MS + args.ticks * STEP_MS
    one = make_ticks(args.ticks, 1, 1e-4)
    ten = make_ticks(args.ticks, 10, 1e-4)
    volatile = make_ticks(args.ticks, 1, 1e-3)
    wire = [
        {"symbol": t.symbol, "ts": t.ts, "bid": t.bid, "ask": t.ask, "volume": t.volume, "seq": i}
        for i, t in enumerate(one)
    ]
    report = {
        "benchmark": "bridge.validation",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "repeat": args.repeat,
        "scenarios": {
            "one_symbol": run(one, end_ms, args.repeat, "validate"),
            "ten_symbols": run(ten, end_ms, args.repeat, "validate"),
            "one_symbol_volatile": run(volatile, end_ms, args.repeat, "validate"),
            "one_symbol_from_wire": run(wire, end_ms, args.repeat, "validate_message"),
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
