"""Sustained MT5 ingestion through ``WS /ws/ticks``: throughput, ack latency, ticks lost.

Starts ``chainflow serve`` on embedded storage as a child process, makes an enterprise tenant
whose ticks/s and connection limits are lifted (so the server, not the quota, is measured),
then runs N concurrent connections, each streaming its own symbol in batches and waiting for
each batch's ack (closed loop). After the run the server is stopped and the stored ticks are
counted in its DuckDB file: ``ticks_lost`` = acked − stored (must be 0).

    python benchmarks/ingest.py --connections 10 100 --seconds 10 --batch 100

Then, per backend of ``--resend-backends`` (the embedded DuckDB store and ClickHouse's SQL
through chDB), the resend check of docs/mt5-protocol.md §8: ``--resend-connections`` clients
stream without waiting for acks (up to 5,000 unacked ticks each, as the reference client),
the server is killed with SIGKILL mid-stream, restarted, and every client resends its whole
unacked window. ``stored_ticks`` must equal ``distinct_ticks_sent``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import websockets
from websockets.asyncio.client import connect

PASSWORD = "Throughput-Check-2026!"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CHAINFLOW_HOME": str(home), "CHAINFLOW_LOG_LEVEL": "WARNING"})
    return env


def _cli(home: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "chainflow", *args], env=_env(home), check=True, capture_output=True
    )


def _start(home: Path, port: int, url: str | None = None) -> subprocess.Popen[bytes]:
    env = _env(home)
    if url is not None:
        env["CHAINFLOW_TIMESERIES_URL"] = url
    process = subprocess.Popen(
        [sys.executable, "-m", "chainflow", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not become ready")


def _api_key(base: str, email: str) -> str:
    token = httpx.post(
        base + "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    ).json()["access_token"]
    response = httpx.post(
        base + "/api/v1/api-keys",
        json={"name": "bench", "scopes": ["ticks:write"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    return response.json()["key"]


def _unlimited_tenant(home: Path, base: str, email: str) -> tuple[str, str]:
    """Register an enterprise tenant with the ticks/s cap lifted; return its id and WS URL."""
    registered = httpx.post(
        base + "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    registered.raise_for_status()
    _cli(home, "users", "set-tier", email, "enterprise")
    limits = {"ticks_per_second": 10_000_000, "websocket_connections": 1000}
    _cli(home, "users", "set-limits", email, json.dumps(limits))
    url = base.replace("http", "ws") + f"/ws/ticks?api_key={_api_key(base, email)}"
    return registered.json()["tenant_id"], url


async def _connection(
    url: str, index: int, batch: int, seconds: float, start_ms: int, latencies: list[float]
) -> int:
    symbol = f"SYM{index:03d}"
    acked = 0
    seq = 0
    ts = start_ms
    async with connect(url, max_size=None) as ws:
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            items = []
            for _ in range(batch):
                seq += 1
                ts += 1
                bid = 1.1 + (seq % 2) * 1e-5  # small moves: no spike, no duplicate
                items.append(
                    {
                        "symbol": symbol,
                        "ts": ts,
                        "bid": round(bid, 5),
                        "ask": round(bid + 0.00012, 5),
                        "volume": 1,
                        "seq": seq,
                    }
                )
            sent = time.perf_counter()
            await ws.send(json.dumps({"type": "ticks", "items": items}))
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "ack" and frame["seq"] >= seq:
                    break
                if frame["type"] == "error" and frame["code"] != "quarantined":
                    # A new symbol's first ticks are held until they agree (then stored).
                    raise SystemExit(f"unexpected error frame: {frame}")
            latencies.append((time.perf_counter() - sent) * 1000)
            acked = seq
    return acked


async def _run(url: str, connections: int, batch: int, seconds: float, start_ms: int) -> dict:
    latencies: list[float] = []
    begun = time.perf_counter()
    acked = await asyncio.gather(
        *(_connection(url, i, batch, seconds, start_ms, latencies) for i in range(connections))
    )
    elapsed = time.perf_counter() - begun
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

    return {
        "connections": connections,
        "acked_ticks": sum(acked),
        "ticks_per_second": round(sum(acked) / elapsed),
        "ack_latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": round(latencies[-1], 2)},
        "batches": len(latencies),
    }


WINDOW = 5_000  # the reference client's unacked window
COUNT_STORED = """
import asyncio, sys
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.timeseries import open_timeseries

async def main():
    store = open_timeseries(sys.argv[1], TimeSeriesSettings())
    await store.start()
    total = distinct = 0
    for symbol in sys.argv[3:]:
        ticks = await store.scan_ticks(sys.argv[2], symbol, 0, 2**62)
        total += len(ticks)
        distinct += len({(t.ts, t.bid, t.ask) for t in ticks})
    await store.close()
    print(total, distinct)

asyncio.run(main())
"""


class _Client:
    """One MT5-like client: streams its symbol, keeps every unacked tick, resends them."""

    def __init__(self, index: int, start_ms: int) -> None:
        self.symbol = f"SYM{index:03d}"
        self.start_ms = start_ms
        self.sent: list[dict] = []  # every distinct tick, in order
        self.unacked: dict[int, dict] = {}  # seq of this connection -> tick

    def next_batch(self, batch: int) -> list[dict]:
        items = []
        for _ in range(batch):
            i = len(self.sent)
            bid = round(1.1 + (i % 2) * 1e-5, 5)
            tick = {
                "symbol": self.symbol,
                "ts": self.start_ms + i,
                "bid": bid,
                "ask": round(bid + 0.00012, 5),
                "volume": 1,
            }
            self.sent.append(tick)
            items.append(tick)
        return items

    async def stream(self, url: str, batch: int, until: float) -> None:
        """Send until ``until`` (perf_counter) or the connection drops; keep the unacked."""
        seq = 0
        try:
            async with connect(url, max_size=None) as ws:
                while time.perf_counter() < until:
                    if len(self.unacked) < WINDOW:
                        numbered = []
                        for tick in self.next_batch(batch):
                            seq += 1
                            self.unacked[seq] = tick
                            numbered.append({**tick, "seq": seq})
                        await ws.send(json.dumps({"type": "ticks", "items": numbered}))
                    await self._drain(ws, timeout=0.001 if len(self.unacked) < WINDOW else 0.5)
        except (OSError, ConnectionError, websockets.exceptions.ConnectionClosed):
            pass  # the server was killed: what is unacked stays to resend

    async def resend(self, url: str, batch: int) -> None:
        """Reconnect and resend every unacked tick with new seqs from 1, until all are acked."""
        pending = [self.unacked[seq] for seq in sorted(self.unacked)]
        self.unacked = {}
        async with connect(url, max_size=None) as ws:
            for start in range(0, len(pending), batch):
                numbered = []
                for offset, tick in enumerate(pending[start : start + batch]):
                    self.unacked[start + offset + 1] = tick
                    numbered.append({**tick, "seq": start + offset + 1})
                await ws.send(json.dumps({"type": "ticks", "items": numbered}))
            while self.unacked:
                await self._drain(ws, timeout=30)

    async def _drain(self, ws: Any, timeout: float) -> None:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        except TimeoutError:
            return
        if frame["type"] == "ack":
            for seq in [s for s in self.unacked if s <= frame["seq"]]:
                del self.unacked[seq]
        elif frame["type"] == "error" and frame["code"] not in ("duplicate", "quarantined"):
            raise SystemExit(f"unexpected error frame: {frame}")


def _resend_after_kill(backend: str, connections: int, batch: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        home, port = Path(tmp) / "home", _free_port()
        url = (
            f"duckdb:///{home / 'timeseries.duckdb'}"
            if backend == "duckdb"
            else f"chdb://{Path(tmp) / 'chdb'}"
        )
        _cli(home, "db", "upgrade")
        server = _start(home, port, url)
        base = f"http://127.0.0.1:{port}"
        tenant, ws_url = _unlimited_tenant(home, base, "resend@example.com")
        start_ms = int(time.time() * 1000) - 3_600_000
        clients = [_Client(i, start_ms) for i in range(connections)]

        async def stream_then_kill() -> None:
            until = time.perf_counter() + seconds
            tasks = [asyncio.create_task(c.stream(ws_url, batch, until + 5)) for c in clients]
            await asyncio.sleep(max(0.0, until - time.perf_counter()))
            server.send_signal(signal.SIGKILL)  # mid-stream, no shutdown at all
            await asyncio.gather(*tasks)

        asyncio.run(stream_then_kill())
        server.wait(timeout=30)
        unacked = sum(len(c.unacked) for c in clients)
        server = _start(home, port, url)
        try:
            started = time.perf_counter()
            asyncio.run(_gather(c.resend(ws_url, batch) for c in clients))
            resend_s = time.perf_counter() - started
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
        counted = subprocess.run(
            [sys.executable, "-c", COUNT_STORED, url, tenant, *(c.symbol for c in clients)],
            env=_env(home),
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        sent = sum(len(c.sent) for c in clients)
        return {
            "backend": backend if backend == "duckdb" else "clickhouse SQL (chDB)",
            "connections": connections,
            "distinct_ticks_sent": sent,
            "unacked_at_kill": unacked,
            "resend_seconds": round(resend_s, 2),
            "stored_ticks": int(counted[0]),
            "stored_distinct": int(counted[1]),
            "stored_equals_sent": int(counted[0]) == sent,
        }


async def _gather(coroutines: Any) -> None:
    await asyncio.gather(*coroutines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--resend-backends", nargs="*", default=["duckdb", "chdb"])
    parser.add_argument("--resend-connections", type=int, default=10)
    parser.add_argument("--resend-seconds", type=float, default=5.0)
    args = parser.parse_args()
    results = []
    for connections in args.connections:
        with tempfile.TemporaryDirectory() as tmp:
            home, port = Path(tmp) / "home", _free_port()
            _cli(home, "db", "upgrade")
            server = _start(home, port)
            base = f"http://127.0.0.1:{port}"
            _, url = _unlimited_tenant(home, base, "terminal@example.com")
            start_ms = int(time.time() * 1000) - 3_600_000
            try:
                result = asyncio.run(_run(url, connections, args.batch, args.seconds, start_ms))
            finally:
                server.send_signal(signal.SIGINT)
                server.wait(timeout=60)
            with duckdb.connect(str(home / "timeseries.duckdb"), read_only=True) as db:
                stored = db.execute("SELECT count(*) FROM ticks").fetchone()[0]
            result["stored_ticks"] = stored
            result["ticks_lost"] = result["acked_ticks"] - stored
            results.append(result)
    resends = [
        _resend_after_kill(backend, args.resend_connections, args.batch, args.resend_seconds)
        for backend in args.resend_backends
    ]
    print(
        json.dumps(
            {
                "benchmark": "ingest",
                "batch": args.batch,
                "seconds": args.seconds,
                "storage": "embedded (DuckDB group commit)",
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "runs": results,
                "resend_after_kill": resends,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
