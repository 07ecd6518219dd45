"""Tick→signal latency of the whole hot path, measured by MT5 clients on loopback.

A fresh server runs in a CHILD process (``chainflow.demo.server``: all services on
embedded storage under a temp home, the production model ``fx-default`` ensured, the
scenario's tenants and API keys created through the HTTP API, two days of sample M1/M5 bars
stored per tenant and symbol so the features are warm). This process is the load generator:
WebSocket connections to ``WS /ws/ticks`` with ``"signals":"every_tick"``, one ``tick``
frame per tick on a fixed schedule (open loop). Server and generator share the machine's
cores; the JSON says how many. ``--scenario``:

- ``steady`` (default): for each client count (default 10 and 50) one enterprise tenant with
  its quota lifted, N connections each with its own symbol (a sample price path under a
  broker-style name such as ``EURUSD.C07``), ``--rate`` ticks/s in all, timestamps from the
  wall clock. A warm-up (each client waits for the signal of its first ticks, then streams
  for ``--warmup-seconds``, default 65 s so that every symbol's first M1 bar close — where
  the features service warms its state from the stored bars — falls before it) precedes the
  measured ``--seconds``.
- ``aligned``: ``--tenants`` (100) pro tenants, one connection each carrying
  ``--symbols-per-tenant`` (3) symbols, ``--rate`` (1,000) ticks/s in all; tick timestamps on
  one synthetic clock running ``--time-speed`` (12) times faster than the wall clock, placed
  so that an hour boundary (M1, M5, M15, M30 and H1 together) is crossed ``--lead-seconds``
  into the measured part, then an M1 close every 60/speed s — at the same moment for every key.
- ``cold``: ``--tenants`` (50) pro tenants (one symbol each, history stored, never streamed
  before) connect spread uniformly over ``--connect-spread`` (5) s, send their first tick
  alone, then ``--tenant-rate`` (10) ticks/s each for ``--seconds``: every first tick's answer.
- ``noisy``: ``--tenants`` (20) live pro tenants at ``--tenant-rate`` (10) ticks/s: ``--seconds``
  alone, then ``--seconds`` beside one tenant replaying ``--replay-file`` at max speed.

Measured per tick: client-side latency from the frame's send to the ``signal`` frame with
the same ``seq`` (p50/p99/p99.9/max, and per second of the measured run), the server's
``latency_ms`` (p50/p99), and after the run: ticks sent/acked/lost (lost = sent - acked, must
be 0), signals missing (ticks with no signal frame), the server's CPU use. ``--plot FILE.svg``
draws p50/p99/max per second.

    python benchmarks/tick_to_signal.py --clients 10,50 --rate 1000 --seconds 20
    python benchmarks/tick_to_signal.py --scenario aligned --seconds 20 --plot aligned.svg
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tick_load.clients import collector_off  # noqa: E402
from tick_load.noisy import run_noisy  # noqa: E402
from tick_load.report import write_svg  # noqa: E402
from tick_load.scenarios import run_aligned, run_cold, run_steady  # noqa: E402
from tick_load.server import serve_main  # noqa: E402

HOW = (
    "server: one child process (all services, embedded storage, in-process bus); load "
    "generator: this process, one asyncio loop, one WebSocket per client, one tick frame "
    "per tick at a fixed schedule; both share the machine's CPUs"
)
DEFAULTS: dict[str, dict[str, float]] = {  # per scenario: warm-up seconds, tenants
    "steady": {"warmup_seconds": 65, "tenants": 1},
    "aligned": {"warmup_seconds": 30, "tenants": 100},
    "cold": {"warmup_seconds": 0, "tenants": 50},
    "noisy": {"warmup_seconds": 65, "tenants": 20},
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--scenario", choices=tuple(DEFAULTS), default="steady")
    parser.add_argument("--clients", default="10,50", help="steady: comma-separated counts")
    parser.add_argument("--rate", type=float, default=1000.0, help="steady, aligned: ticks/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds")
    # steady: 65 s — every symbol sees an M1 bar close before measuring (the features
    # service warms each new symbol's state from the stored bars on its first bar).
    parser.add_argument("--warmup-seconds", type=float, default=None)
    parser.add_argument("--tenants", type=int, default=None)
    parser.add_argument("--symbols-per-tenant", type=int, default=3, help="aligned")
    parser.add_argument("--time-speed", type=float, default=12.0, help="aligned: tick clock")
    parser.add_argument("--lead-seconds", type=float, default=2.0, help="aligned: to the hour")
    parser.add_argument("--tenant-rate", type=float, default=10.0, help="cold, noisy: ticks/s")
    parser.add_argument("--connect-spread", type=float, default=5.0, help="cold: seconds")
    parser.add_argument("--replay-file", default="sample/EURUSD_ticks.tsv", help="noisy")
    parser.add_argument("--neighbour-tier", default="enterprise", help="noisy")
    parser.add_argument("--plot", type=Path, default=None, help="write an SVG per-second plot")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="aligned: py-spy's raw profile of the server over the measured seconds",
    )
    parser.add_argument(
        "--profile-gil", action="store_true", help="--profile: only the thread holding the GIL"
    )
    parser.add_argument(
        "--serve", nargs=4, metavar=("HOME", "PORT", "LAYOUT", "OUT"), help=argparse.SUPPRESS
    )
    return parser


def _markers(
    scenario: str, result: dict[str, Any], args: argparse.Namespace
) -> list[tuple[float, str]]:
    if scenario == "aligned":
        return [(b["second"], b["timeframes"][-1]) for b in result["bar_boundaries"]]
    if scenario == "cold":
        return [(args.connect_spread, "all connected")]
    if scenario == "noisy":
        ended = result["neighbour"]["ended_at_second"]
        return [(args.seconds, "neighbour starts"), (ended, "replay ends")]
    return []


def _plot(
    path: Path, scenario: str, result: dict[str, Any], args: argparse.Namespace, title: str
) -> None:
    write_svg(path, result["per_second"], title, _markers(scenario, result, args))


def main() -> None:
    args = _parser().parse_args()
    if args.serve:
        serve_main(args.serve)
        return
    for key, value in DEFAULTS[args.scenario].items():
        if getattr(args, key) is None:
            setattr(args, key, type(value)(value))
    entry = str(Path(__file__).resolve())
    common = {"python": platform.python_version(), "cpus": os.cpu_count()}
    if args.scenario == "steady":
        counts = [int(n) for n in args.clients.split(",") if n.strip()]
        with collector_off():
            runs = [run_steady(entry, n, args) for n in counts]
        for n, run in zip(counts, runs, strict=True):
            if args.plot is not None:
                path = args.plot if len(runs) == 1 else args.plot.with_stem(f"{args.plot.stem}-{n}")
                _plot(path, "steady", run, args, f"steady: {n} clients, {args.rate:g} ticks/s")
        report = {
            "benchmark": "tick_to_signal",
            "how": HOW,
            "rate_ticks_per_s": args.rate,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup_seconds,
            "signals": "every_tick",
            **common,
            "runs": runs,
        }
    else:
        run = {"aligned": run_aligned, "cold": run_cold, "noisy": run_noisy}[args.scenario]
        with collector_off():
            result = run(entry, args)
        if args.plot is not None:
            _plot(
                args.plot,
                args.scenario,
                result,
                args,
                f"{args.scenario}: client tick->signal ms per second",
            )
        report = {
            "benchmark": "tick_to_signal",
            "scenario": args.scenario,
            "how": HOW,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup_seconds,
            "signals": "every_tick",
            **common,
            "result": result,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
