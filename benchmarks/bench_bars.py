"""Incremental bar benchmark: microseconds per tick through ``MultiTimeframeAggregator``.

Prints one JSON document. Ticks are generated before timing (a bid random walk, 1-200 ms
apart per symbol, volumes of 1/4 lots). Each scenario runs ``--repeats`` times on a fresh
aggregator; the figures are the best and the median of the runs:

- ``all_timeframes_in_order``: one symbol, the seven timeframes M1..D1, ticks in time order;
- ``all_timeframes_3_symbols``: three symbols interleaved, seven timeframes;
- ``all_timeframes_late_5pct``: one symbol, 5% of ticks arriving up to 20 positions late
  (late ticks inside open bars and revisions of closed ones);
- ``m1_only``: one ``BarBuilder`` (M1), the cost of a single timeframe;
- ``loop_only``: the bare ``for`` loop over the ticks, the floor under every figure.

Usage: ``python benchmarks/bench_bars.py [--ticks 500000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from chainflow.bridge.bar_aggregator import MultiTimeframeAggregator
from chainflow.bridge.bars import BarBuilder, BarClosed, BarRevised
from chainflow.core.market import Tick, Timeframe

BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000


def make_ticks(count: int, symbols: Sequence[str], seed: int) -> list[Tick]:
    rng = random.Random(seed)
    ts = dict.fromkeys(symbols, BASE_TS)
    bid = dict.fromkeys(symbols, 1.1)
    ticks: list[Tick] = []
    for index in range(count):
        symbol = symbols[index % len(symbols)]
        ts[symbol] += rng.randint(1, 200)
        bid[symbol] = round(bid[symbol] + rng.gauss(0.0, 2e-5), 5)
        spread = rng.choice((1, 2, 3)) * 1e-5
        ticks.append(Tick(symbol, ts[symbol], bid[symbol], bid[symbol] + spread, 0.25))
    return ticks


def delay_some(ticks: Sequence[Tick], share: float, max_delay: int, seed: int) -> list[Tick]:
    rng = random.Random(seed)
    keyed = [
        (index + (rng.randint(1, max_delay) if rng.random() < share else 0), index, tick)
        for index, tick in enumerate(ticks)
    ]
    return [tick for _, _, tick in sorted(keyed)]


def time_aggregator(ticks: Sequence[Tick], repeats: int) -> dict[str, Any]:
    seconds: list[float] = []
    closed = revised = dropped = 0
    for _ in range(repeats):
        aggregator = MultiTimeframeAggregator()
        on_tick = aggregator.on_tick
        events: list[Any] = []
        record = events.extend
        started = time.perf_counter()
        for tick in ticks:
            produced = on_tick(tick)
            if produced:
                record(produced)
        seconds.append(time.perf_counter() - started)
        closed = sum(isinstance(event, BarClosed) for event in events)
        revised = sum(isinstance(event, BarRevised) for event in events)
        dropped = aggregator.late_ticks_dropped
    return {
        **per_tick(seconds, len(ticks)),
        "timeframes": len(aggregator.timeframes),
        "bars_closed": closed,
        "bars_revised": revised,
        "late_ticks_dropped": dropped,
    }


def time_loop(ticks: Sequence[Tick], repeats: int, step: Callable[[Tick], object]) -> list[float]:
    seconds: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        for tick in ticks:
            step(tick)
        seconds.append(time.perf_counter() - started)
    return seconds


def time_bare_loop(ticks: Sequence[Tick], repeats: int) -> list[float]:
    seconds: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _tick in ticks:
            pass
        seconds.append(time.perf_counter() - started)
    return seconds


def per_tick(seconds: list[float], ticks: int) -> dict[str, float]:
    return {
        "us_per_tick_best": round(min(seconds) / ticks * 1e6, 3),
        "us_per_tick_median": round(statistics.median(seconds) / ticks * 1e6, 3),
        "ticks_per_second_best": round(ticks / min(seconds)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    one_symbol = make_ticks(args.ticks, ["EURUSD"], args.seed)
    three_symbols = make_ticks(args.ticks, ["EURUSD", "GBPUSD", "USDJPY"], args.seed)
    late = delay_some(one_symbol, 0.05, 20, args.seed)
    span_hours = (one_symbol[-1].ts - one_symbol[0].ts) / 3_600_000

    m1 = BarBuilder("EURUSD", Timeframe.M1)
    result = {
        "benchmark": "bars",
        "ticks": args.ticks,
        "repeats": args.repeats,
        "span_hours_one_symbol": round(span_hours, 2),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "platform": platform.platform(),
        "scenarios": {
            "all_timeframes_in_order": time_aggregator(one_symbol, args.repeats),
            "all_timeframes_3_symbols": time_aggregator(three_symbols, args.repeats),
            "all_timeframes_late_5pct": time_aggregator(late, args.repeats),
            "m1_only": per_tick(time_loop(one_symbol, args.repeats, m1.update), args.ticks),
            "loop_only": per_tick(time_bare_loop(one_symbol, args.repeats), args.ticks),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
