"""The server child process: all services on embedded storage, with a scenario's tenants.

The parent writes a layout (``Layout``) as JSON; the child starts ``DemoServer``, ensures the
production model, creates every tenant through the public HTTP API (``create_account``: a
user, a tier, limit overrides, an API key), stores the sample history bars of each tenant's
symbols (so the features are warm) and writes the keys and the live price paths for the
generator. Then it prints one ready line and serves until SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

SOURCES = ("EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF")
ACCOUNT_CONCURRENCY = 4  # registrations in flight (argon2 hashing shares the two cores)


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """One tenant: its tier, whether its limits are lifted, its symbols, stored history."""

    email: str
    tier: str
    lifted: bool
    symbols: tuple[str, ...]
    history: bool = True


@dataclass(frozen=True, slots=True)
class Layout:
    """What the server child sets up. ``alias`` plays a sample symbol under another name;
    ``history_end_ms`` (default: now) is the time the live price paths end before."""

    tenants: tuple[TenantSpec, ...]
    path_minutes: float
    alias: dict[str, str] = field(default_factory=dict)
    history_end_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ServerReady:
    """The started server: per tenant its API key and symbols, the live price paths."""

    port: int
    pid: int
    model: str
    history_bars: int
    setup_s: float
    tenants: list[dict[str, Any]]
    paths: dict[str, list[list[float]]]


async def _serve(home: Path, port: int, layout_file: Path, out_file: Path) -> None:
    from chainflow.core.logging import configure_logging
    from chainflow.demo.market import build_demo_market
    from chainflow.demo.server import (
        DemoServer,
        create_account,
        ensure_model,
        store_history,
    )

    began = time.perf_counter()
    spec = orjson.loads(layout_file.read_bytes())
    configure_logging("WARNING", "console")
    server = DemoServer(home, port, tune_gc=True)
    await server.start()
    try:
        model = await ensure_model(server)
        tenants = spec["tenants"]
        names = list(dict.fromkeys(s for t in tenants for s in t["symbols"]))
        alias = spec["alias"] or {name: name for name in names}
        market = await asyncio.to_thread(
            build_demo_market,
            names,
            now_ms=spec["history_end_ms"] or server.kernel.clock.now_ms(),
            minutes=spec["path_minutes"],
            alias=alias,
        )
        gate = asyncio.Semaphore(ACCOUNT_CONCURRENCY)

        async def make(tenant: dict[str, Any]) -> Any:
            async with gate:
                return await create_account(
                    server,
                    email=tenant["email"],
                    tier=tenant["tier"],
                    limits=None if tenant["lifted"] else {},
                )

        accounts = await asyncio.gather(*(make(t) for t in tenants))
        by_symbol: dict[str, list[Any]] = {}
        for bar in market.bars:
            by_symbol.setdefault(bar.symbol, []).append(bar)
        for tenant, account in zip(tenants, accounts, strict=True):
            if tenant["history"]:
                bars = tuple(b for s in tenant["symbols"] for b in by_symbol.get(s, ()))
                await store_history(server, account.tenant_id, bars)
        paths: dict[str, list[list[float]]] = {name: [] for name in names}
        for tick in market.ticks:
            paths[tick.symbol].append([tick.bid, tick.ask, tick.volume])
        keys = [
            {"api_key": a.api_key, "tenant_id": a.tenant_id, "symbols": t["symbols"]}
            for t, a in zip(tenants, accounts, strict=True)
        ]
        out_file.write_bytes(orjson.dumps({"tenants": keys, "paths": paths}))
        ready = {
            "model": model.ref,
            "bars": len(market.bars),
            "setup_s": round(time.perf_counter() - began, 1),
        }
        print(json.dumps(ready), flush=True)
        await server.wait()
    finally:
        await server.stop()


def serve_main(argv: list[str]) -> None:
    """The child's entry: ``HOME PORT LAYOUT OUT``."""
    from chainflow.runtime.server import run_serving

    home, port, layout_file, out_file = argv
    run_serving(_serve(Path(home), int(port), Path(layout_file), Path(out_file)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server_child(entry: str, tmp: Path, layout: Layout) -> Iterator[ServerReady]:
    """Run the server child (``entry --serve ...``) for ``layout``; stop it on exit."""
    from chainflow.demo.server import free_port

    home, port = tmp / "home", free_port()
    layout_file, out_file = tmp / "layout.json", tmp / "server.json"
    layout_file.write_bytes(orjson.dumps(asdict(layout)))
    env = {**os.environ, "CHAINFLOW_LOG_LEVEL": "WARNING", "OMP_WAIT_POLICY": "PASSIVE"}
    child = ["--serve", str(home), str(port), str(layout_file), str(out_file)]
    server = subprocess.Popen(
        [sys.executable, entry, *child],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line:
            raise SystemExit(f"the server process exited with {server.wait()}")
        ready = json.loads(line)
        written = orjson.loads(out_file.read_bytes())
        yield ServerReady(
            port=port,
            pid=server.pid,
            model=ready["model"],
            history_bars=ready["bars"],
            setup_s=ready["setup_s"],
            tenants=written["tenants"],
            paths=written["paths"],
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
