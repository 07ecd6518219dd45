"""WebSocket message decoding benchmark: microseconds per frame and per tick.

Prints one JSON document. For a one-tick frame and a 1000-tick batch frame it times:

- ``json_loads``: the standard parser alone (what the endpoint did before the depth bound);
- ``decode_frame``: the nesting scan, then the same parser (what it does now);
- ``nesting_scan``: ``is_nested_deeper`` alone;
- ``parse_items_hand``: ``parse_tick_message`` over the parsed items (the hot path's parser);
- ``parse_items_pydantic``: a strict Pydantic model of the same item, then the same
  ``ParsedTick``, for comparison.

The best of ``--repeat`` runs of ``--number`` calls is reported.
Usage: ``python benchmarks/bench_ws_messages.py [--number 2000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from chainflow.bridge.tick_message import ParsedTick, parse_tick_message
from chainflow.bridge.ws_messages import decode_frame, is_nested_deeper
from chainflow.core.market import Tick

TICK = {
    "symbol": "EURUSD",
    "ts": 1_700_000_000_123,
    "bid": 1.09001,
    "ask": 1.09013,
    "volume": 1.0,
    "seq": 42,
}


class TickItem(BaseModel):
    """The wire tick as a strict Pydantic model (the alternative to the hand parser)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)
    symbol: Annotated[str, Field(max_length=64)]
    ts: int | str
    bid: float
    ask: float
    volume: float | None = None
    seq: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None


def best_us(call: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def scenario(text: str, items: list[Any], number: int, repeat: int) -> dict[str, Any]:
    def hand() -> None:
        for item in items:
            parse_tick_message(item)

    def pydantic() -> None:  # to the same result as the hand parser: a ParsedTick
        for item in items:
            m = TickItem.model_validate(item)
            ParsedTick(Tick(m.symbol, int(m.ts), m.bid, m.ask, m.volume or 0.0), m.seq)

    timings = {
        "json_loads": best_us(lambda: json.loads(text), number, repeat),
        "decode_frame": best_us(lambda: decode_frame(text), number, repeat),
        "nesting_scan": best_us(lambda: is_nested_deeper(text), number, repeat),
        "parse_items_hand": best_us(hand, number, repeat),
        "parse_items_pydantic": best_us(pydantic, number, repeat),
    }
    return {
        "frame_chars": len(text),
        "ticks": len(items),
        "us_per_frame": {name: round(us, 2) for name, us in timings.items()},
        "us_per_tick": {name: round(us / len(items), 3) for name, us in timings.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    batch = [{**TICK, "seq": i} for i in range(1000)]
    one_text = json.dumps({"type": "tick", **TICK})
    batch_text = json.dumps({"type": "ticks", "items": batch})
    report = {
        "benchmark": "bridge.ws_messages",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "repeat": args.repeat,
        "scenarios": {
            "one_tick": scenario(one_text, [json.loads(one_text)], args.number * 50, args.repeat),
            "batch_1000": scenario(batch_text, batch, max(1, args.number // 20), args.repeat),
            "nested_100000": {
                "us_per_frame": round(best_us(lambda: decode_frame("[" * 100_000), 20, 3), 1)
            },
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
