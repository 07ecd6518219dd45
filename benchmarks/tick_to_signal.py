"""Tick→signal latency of the whole hot path, measured by MT5 clients on loopback.

For each client count (default 10 and 50) a fresh server runs in a CHILD process
(``chainflow.runtime.demo_server``: all services on embedded storage under a temp home, the
production model ``fx-default`` ensured, an enterprise tenant whose quota is lifted, two days
of sample M1/M5 bars stored per symbol so the features are warm). This process is the load
generator: N WebSocket connections to ``WS /ws/ticks``, each with its own symbol (a sample
price path under a broker-style name such as ``EURUSD.C07``) and ``"signals":"every_tick"``,
sending one ``tick`` frame per tick on a fixed schedule (open loop) so that together they
send ``--rate`` ticks/s; tick timestamps are the wall clock at send, so bars close in real
time. Server and generator share the machine's cores; the JSON says how many.

Measured per tick: client-side latency from the frame's send to the ``signal`` frame with
the same ``seq`` (p50/p99/p99.9/max), the server's ``latency_ms`` (p50/p99), and after the
run: ticks sent/acked/lost (lost = sent - acked, must be 0), signals missing (ticks with no
signal frame), achieved acked throughput, the generator's scheduling lag and both processes'
CPU use. A warm-up (each client waits for the signal of its first ticks, then streams at the
target rate for ``--warmup-seconds``, default 65 s so that every symbol's first M1 bar close —
where the features service warms its state from the stored bars, a one-off cost per symbol —
falls before it) precedes the measured ``--seconds``.

    python benchmarks/tick_to_signal.py --clients 10,50 --rate 1000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect

SOURCES = ("EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF")
HISTORY_MINUTES = 240  # live price path per symbol: ~8k sample ticks, enough for 20 s at 100/s


# --- the server process -------------------------------------------------------------------


async def _serve(home: Path, port: int, clients: int, path_file: Path) -> None:
    from chainflow.core.logging import configure_logging
    from chainflow.runtime.demo_market import build_demo_market
    from chainflow.runtime.demo_server import (
        DemoServer,
        create_account,
        ensure_model,
        store_history,
    )

    configure_logging("WARNING", "console")
    server = DemoServer(home, port, tune_gc=True)
    await server.start()
    try:
        model = await ensure_model(server)
        account = await create_account(server, email="bench@example.com")
        names = [f"{SOURCES[i % len(SOURCES)]}.C{i:02d}" for i in range(clients)]
        alias = {name: name.split(".")[0] for name in names}
        market = await asyncio.to_thread(
            build_demo_market,
            names,
            now_ms=server.kernel.clock.now_ms(),
            minutes=HISTORY_MINUTES,
            alias=alias,
        )
        await store_history(server, account.tenant_id, market.bars)
        # The history ends HISTORY_MINUTES (plus < 1 h) before now; the live ticks continue
        # its price path, stamped with the wall clock by the generator.
        paths: dict[str, list[list[float]]] = {name: [] for name in names}
        for tick in market.ticks:
            paths[tick.symbol].append([tick.bid, tick.ask, tick.volume])
        path_file.write_bytes(orjson.dumps(paths))
        ready = {"api_key": account.api_key, "model": model.ref, "bars": len(market.bars)}
        print(json.dumps(ready), flush=True)
        await server.wait()
    finally:
        await server.stop()


# --- the load generator -------------------------------------------------------------------


@dataclass(slots=True)
class Connection:
    symbol: str
    path: list[list[float]]
    sent_at: dict[int, float] = field(default_factory=dict)
    measured: set[int] = field(default_factory=set)
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seq: int = 0
    acked: int = 0
    signals_measured: int = 0
    last_ts: int = 0
    last_ack_at: float = 0.0
    first_signal: asyncio.Event = field(default_factory=asyncio.Event)

    def next_tick(self) -> dict[str, Any]:
        self.seq += 1
        n = len(self.path)
        i = (self.seq - 1) % (2 * n)
        bid, ask, volume = self.path[i if i < n else 2 * n - 1 - i]  # back and forth: no jump
        self.last_ts = max(time.time_ns() // 1_000_000, self.last_ts + 1)
        return {
            "type": "tick",
            "symbol": self.symbol,
            "ts": self.last_ts,
            "bid": bid,
            "ask": ask,
            "volume": volume,
            "seq": self.seq,
        }


async def _reader(ws: Any, conn: Connection) -> None:
    async for raw in ws:
        now = time.perf_counter()
        frame = orjson.loads(raw)
        kind = frame.get("type")
        if kind == "ack":
            conn.acked = max(conn.acked, frame["seq"])
            conn.last_ack_at = now
        elif kind == "signal":
            seq = frame.get("seq")
            sent = conn.sent_at.pop(seq, None)
            conn.first_signal.set()
            if seq in conn.measured and sent is not None:
                conn.signals_measured += 1
                conn.client_ms.append((now - sent) * 1000)
                if isinstance(frame.get("latency_ms"), int | float):
                    conn.server_ms.append(float(frame["latency_ms"]))
        elif kind == "error":
            conn.errors[str(frame.get("code"))] += 1


async def _stream(
    ws: Any, conn: Connection, rate: float, start: float, until: float, measure: bool
) -> None:
    i = 0
    while True:
        due = start + i / rate
        if due >= until:
            return
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = conn.next_tick()
        sent = time.perf_counter()
        conn.sent_at[frame["seq"]] = sent
        if measure:
            conn.measured.add(frame["seq"])
            conn.lag_ms.append(max(0.0, (sent - due) * 1000))
        await ws.send(orjson.dumps(frame).decode())
        i += 1


async def _client(
    url: str,
    conn: Connection,
    rate_each: float,
    stagger: float,
    warmup_s: float,
    seconds: float,
    clock: dict[str, float],
    go: asyncio.Event,
) -> None:
    async with connect(url, max_size=None, compression=None) as ws:
        await ws.send(json.dumps({"type": "hello", "signals": "every_tick"}))
        reader = asyncio.create_task(_reader(ws, conn))
        for _ in range(3):  # closed loop until the symbol's features are warm
            conn.first_signal.clear()
            frame = conn.next_tick()
            conn.sent_at[frame["seq"]] = time.perf_counter()
            await ws.send(json.dumps(frame))
            await asyncio.wait_for(conn.first_signal.wait(), 120)
        clock["ready"] += 1
        await go.wait()
        start = clock["start"] + stagger
        await _stream(ws, conn, rate_each, start, clock["start"] + warmup_s, measure=False)
        begin = clock["start"] + warmup_s + stagger
        await _stream(ws, conn, rate_each, begin, clock["start"] + warmup_s + seconds, True)
        deadline = time.perf_counter() + 120  # a saturated server drains its backlog
        while time.perf_counter() < deadline and (
            conn.acked < conn.seq or conn.measured & conn.sent_at.keys()
        ):
            await asyncio.sleep(0.05)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def _generate(
    url: str, paths: dict[str, list[list[float]]], rate: float, warmup_s: float, seconds: float
) -> dict[str, Any]:
    conns = [Connection(symbol, path) for symbol, path in paths.items()]
    n = len(conns)
    clock = {"ready": 0.0, "start": 0.0}
    go = asyncio.Event()
    tasks = [
        asyncio.create_task(_client(url, c, rate / n, k / rate, warmup_s, seconds, clock, go))
        for k, c in enumerate(conns)
    ]
    while clock["ready"] < n:  # every client's symbol is warm
        await asyncio.sleep(0.01)
        for task in tasks:
            if task.done():
                task.result()  # a client that failed: raise its error
    clock["start"] = time.perf_counter() + 0.5
    go.set()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*tasks)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    throughput = round(
        sum(len(c.measured) for c in conns)
        / (max(c.last_ack_at for c in conns) - clock["start"] - warmup_s)
    )
    client_ms = sorted(x for c in conns for x in c.client_ms)
    server_ms = sorted(x for c in conns for x in c.server_ms)
    lag_ms = sorted(x for c in conns for x in c.lag_ms)
    measured = sum(len(c.measured) for c in conns)
    sent, acked = sum(c.seq for c in conns), sum(c.acked for c in conns)
    errors: Counter[str] = Counter()
    for c in conns:
        errors.update(c.errors)
    return {
        "clients": n,
        "target_rate": rate,
        "ticks_sent": sent,
        "ticks_acked": acked,
        "ticks_lost": sent - acked,
        "measured_ticks": measured,
        "signals_received": sum(c.signals_measured for c in conns),
        "signals_missing": measured - sum(c.signals_measured for c in conns),
        "throughput_acked_per_s": throughput,
        # The server could not keep up: ticks queued in front of it, so the client latency
        # is mostly waiting time (the server's latency_ms starts when it reads the frame).
        "saturated": throughput < 0.95 * rate,
        "client_latency_ms": _percentiles(client_ms, (50, 99, 99.9)),
        "server_latency_ms": _percentiles(server_ms, (50, 99)),
        "generator_lag_ms": _percentiles(lag_ms, (50, 99)),
        "error_frames": dict(errors),
        "generator_cpu_percent": round(100 * cpu / wall, 1),
    }


def _percentiles(values: list[float], qs: tuple[float, ...]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for q in qs:
        key = "p" + f"{q:g}".replace(".", "_") if q % 1 else f"p{q:g}"
        out[key] = (
            round(values[min(len(values) - 1, int(q / 100 * len(values)))], 2) if values else None
        )
    out["max"] = round(values[-1], 2) if values else None
    return out


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(clients: int, args: argparse.Namespace) -> dict[str, Any]:
    from chainflow.runtime.demo_server import free_port

    with tempfile.TemporaryDirectory(prefix="bench-tick-signal-") as tmp:
        home, port, path_file = Path(tmp) / "home", free_port(), Path(tmp) / "paths.json"
        env = {**os.environ, "CHAINFLOW_LOG_LEVEL": "WARNING", "OMP_WAIT_POLICY": "PASSIVE"}
        child = ["--serve", str(home), str(port), str(clients), str(path_file)]
        server = subprocess.Popen(
            [sys.executable, __file__, *child],
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
            paths = orjson.loads(path_file.read_bytes())
            url = f"ws://127.0.0.1:{port}/ws/ticks?api_key={ready['api_key']}"
            cpu0, wall0 = _cpu_seconds(server.pid), time.perf_counter()
            result = asyncio.run(
                _generate(url, paths, args.rate, args.warmup_seconds, args.seconds)
            )
            server_cpu = _cpu_seconds(server.pid) - cpu0
            result["server_cpu_percent"] = round(
                100 * server_cpu / (time.perf_counter() - wall0), 1
            )
            result["model"] = ready["model"]
            result["history_bars"] = ready["bars"]
            return result
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="10,50", help="comma-separated client counts")
    parser.add_argument("--rate", type=float, default=1000.0, help="total ticks/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds")
    # 65 s: every symbol sees an M1 bar close before measuring — the features service warms
    # each new symbol's state from the stored bars on its first bar (a one-off cost).
    parser.add_argument("--warmup-seconds", type=float, default=65.0)
    parser.add_argument(
        "--serve", nargs=4, metavar=("HOME", "PORT", "CLIENTS", "PATHS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        home, port, clients, paths = args.serve
        from chainflow.runtime.server import run_serving

        run_serving(_serve(Path(home), int(port), int(clients), Path(paths)))
        return
    runs = [_run(int(n), args) for n in args.clients.split(",") if n.strip()]
    print(
        json.dumps(
            {
                "benchmark": "tick_to_signal",
                "how": (
                    "server: one child process (all services, embedded storage, "
                    "in-process bus); load generator: this process, one asyncio loop, "
                    "one WebSocket per client, one tick frame per tick at a fixed "
                    "schedule; both share the machine's CPUs"
                ),
                "rate_ticks_per_s": args.rate,
                "seconds": args.seconds,
                "warmup_seconds": args.warmup_seconds,
                "signals": "every_tick",
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
