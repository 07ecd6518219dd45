"""Sustained MT5 ingestion through ``WS /ws/ticks``: throughput, ack latency, ticks lost.

Starts ``chainflow serve`` on embedded storage as a child process, makes an enterprise tenant
whose ticks/s and connection limits are lifted (so the server, not the quota, is measured),
then runs N concurrent connections, each streaming its own symbol in batches and waiting for
each batch's ack (closed loop). After the run the server is stopped and the stored ticks are
counted in its DuckDB file: ``ticks_lost`` = acked − stored (must be 0).

    python benchmarks/ingest.py --connections 10 100 --seconds 10 --batch 100
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

import duckdb
import httpx
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


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "chainflow", "serve", "--port", str(port)],
        env=_env(home),
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
                if frame["type"] == "error":
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    results = []
    for connections in args.connections:
        with tempfile.TemporaryDirectory() as tmp:
            home, port = Path(tmp) / "home", _free_port()
            _cli(home, "db", "upgrade")
            server = _start(home, port)
            base = f"http://127.0.0.1:{port}"
            email = "terminal@example.com"
            httpx.post(
                base + "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
            ).raise_for_status()
            _cli(home, "users", "set-tier", email, "enterprise")
            _cli(
                home,
                "users",
                "set-limits",
                email,
                json.dumps({"ticks_per_second": 10_000_000, "websocket_connections": 1000}),
            )
            url = base.replace("http", "ws") + f"/ws/ticks?api_key={_api_key(base, email)}"
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
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
