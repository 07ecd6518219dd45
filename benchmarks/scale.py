"""Tick→signal latency and throughput of the scaled form, in three topologies.

Each topology runs on this machine's PostgreSQL (relational and time series), Redis and
NATS, on a deployment of its own (a fresh database, Redis key prefix and NATS stream,
deleted afterwards), with ``chainflow serve`` child processes split by ``--services`` as
``tests/e2e/test_scaled_ticks.py`` splits them:

- ``1_process``: ``chainflow serve --services all`` (every service, on the shared backends);
- ``3_processes``: the layers apart — ``gateway,hub,storage,users,notify,analytics`` ·
  ``bridge,features,ml`` · ``trading,risk,backtest``;
- ``2_replicas``: a front process (``gateway,hub,storage,users``), two of
  ``bridge,features,ml`` and two of ``trading`` (the tick hot path); tenants' terminals
  alternate between the bridge replicas.

``--tenants`` enterprise tenants (so that no quota throttles) each stream
``--symbols-per-tenant`` symbols on one WebSocket with ``"signals":"every_tick"``,
timestamps from the wall clock, on an open-loop schedule: for each ``--rates`` (ticks/s
over all tenants) ``--warmup-seconds`` unmeasured, then ``--seconds`` measured. Figures per
topology and rate: client-side tick→signal latency (send of the tick frame to the
``signal`` frame with its ``seq``; p50/p99/p99.9/max) and the server's ``latency_ms``,
ticks/s sent and acked, ticks lost (sent - acked) and signals missing (measured ticks with
no signal), error frames, CPU of the generator and of the servers, and the measured signals
by kind: scored by the model (by action: buy, sell, the model's hold) or a hold with its
reason (state being built, features warming up, no production model, ...).

As in production, a model scores every tick (features preview, ONNX inference, strategy,
sizing, risk check): once the processes run, ``fx-default`` is promoted (as ``chainflow
demo`` does: trained on the sample market in seconds; its artifact in the database, which
every process reads), and once the tenants exist each gets two days of stored M1/M5 sample
bars of its symbols, so that the features are warm; the terminals stream the live part of
that sample market. Before each rate's stream, every terminal sends closed-loop ticks until
the model has scored each of its symbols (``--warm-max-seconds`` at most; the JSON says how
many keys were scored). ``--no-model`` measures the path without a model as before (no
model, no history, a random-walk price path): every signal is a ``hold`` saying there is no
production model.

``--faults`` also runs ``tests/e2e/test_scaled_faults.py`` and reports what each fault
test measured (recovery times, acked ticks lost, duplicates, 5xx).

The load generator (this process, one asyncio loop) and the servers share the machine's
CPUs; the JSON says how many.

    python benchmarks/scale.py --rates 1000,5000 --seconds 15
    python benchmarks/scale.py --topologies 1_process --rates 1000 --no-model
    python benchmarks/scale.py --topologies 2_replicas --rates 1000 --seconds 5 --faults
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(ROOT))  # tests.fixtures: the scaled deployment of the e2e tests

from scale_load.faults import run_fault_tests  # noqa: E402
from scale_load.load import Plan, run_rate, tenant_symbols  # noqa: E402
from scale_load.topology import TOPOLOGIES, deployed  # noqa: E402

LIVE_MINUTES = 240.0  # with a model: the sample market after the stored history, streamed
HOW = (
    "servers: chainflow serve child processes on PostgreSQL + Redis + NATS on localhost "
    "(heartbeat 0.5 s, lease TTL 5 s); load generator: this process, one asyncio loop, one "
    "WebSocket per tenant, one tick frame per tick on a fixed schedule; generator, servers "
    "and the PostgreSQL/Redis/NATS servers share the machine's CPUs"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rates", default="1000,5000", help="offered ticks/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per rate")
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument("--topologies", default=",".join(TOPOLOGIES))
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--symbols-per-tenant", type=int, default=3)
    parser.add_argument("--faults", action="store_true", help="also run the fault tests")
    parser.add_argument(
        "--no-model",
        action="store_true",
        help="promote no model and store no history: every signal is a hold with its reason",
    )
    parser.add_argument(
        "--warm-max-seconds",
        type=float,
        default=180.0,
        help="with a model: how long each terminal waits at most for every key to be scored",
    )
    return parser


def main() -> None:
    args = _parser().parse_args()
    rates = [float(r) for r in args.rates.split(",") if r]
    names = [t for t in args.topologies.split(",") if t]
    unknown = set(names) - set(TOPOLOGIES)
    if unknown:
        raise SystemExit(f"unknown topologies {sorted(unknown)}; known: {list(TOPOLOGIES)}")
    symbols = tenant_symbols(args.symbols_per_tenant)
    minutes = None if args.no_model else LIVE_MINUTES
    began = time.monotonic()
    topologies: dict[str, Any] = {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"scale-{name}-") as tmp:
            with deployed(name, Path(tmp), args.tenants, symbols, minutes) as deployment:
                runs = {}
                positions = [i * 397 for i in range(args.tenants)]
                for rate in rates:
                    print(f"scale: {name} at {rate:g} ticks/s", file=sys.stderr, flush=True)
                    plan = Plan(
                        rate=rate,
                        warmup_s=args.warmup_seconds,
                        seconds=args.seconds,
                        warm_max_s=0.0 if args.no_model else args.warm_max_seconds,
                    )
                    runs[f"{rate:g}"] = run_rate(deployment, symbols, plan, positions)
                seeding = deployment.seeding
                topologies[name] = {
                    "processes": [f"--services {s}" for s in deployment.layout],
                    "startup_s": deployment.startup_s,
                    **(seeding.figures() if seeding is not None else {}),
                    "rates": runs,
                }
    report: dict[str, Any] = {
        "benchmark": "scale",
        "how": HOW,
        "machine": {
            "cpus": os.cpu_count(),
            "shared": "generator, servers and backends on the same CPUs",
            "python": platform.python_version(),
        },
        "tenants": args.tenants,
        "symbols_per_tenant": len(symbols),
        "tier": "enterprise",
        "model": "none (--no-model)" if args.no_model else "fx-default, promoted; history stored",
        "warmup_seconds": args.warmup_seconds,
        "measured_seconds": args.seconds,
        "topologies": topologies,
    }
    if args.faults:
        report["fault_tests"] = run_fault_tests(ROOT)
    report["wall_s"] = round(time.monotonic() - began, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
