"""Latency of an authenticated request through the whole stack, at a fixed request rate.

Starts ``chainflow serve`` (embedded storage) as a child process on loopback, registers a
user, lifts the tenant to the enterprise tier (so the rate limit is not what is measured),
logs in, then sends ``GET /api/v1/users/me`` with the access token at a fixed rate (open
loop: each request is sent at its scheduled time, whether or not earlier ones returned) and
prints one JSON document with p50/p90/p99/max latency.

Then a sign-in flood: ``--flood`` concurrent logins (half with a wrong password) spread
over accounts that each stay under the per-address lock, while another signed-in user
changes their profile (a write) over and over. It reports the answers by status (only
200/401/429 are acceptable; 500 was "database is locked" when argon2 ran inside the write
transaction), the login latencies, and the latency of the writes beside the flood. The
per-client throttle is raised for the server (all requests come from loopback), so every
login in the flood really runs argon2.

    python benchmarks/auth.py --rate 100 --seconds 10 --flood 64

``CHAINFLOW_*`` variables in the environment are passed to the server, so the same run
measures the scaled backends, e.g. ``CHAINFLOW_DATABASE_URL=postgresql+asyncpg://...``
``CHAINFLOW_CACHE_URL=redis://127.0.0.1:6379/0``; the schema is migrated first.
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

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


FLOOD_PASSWORD = "Flood-Horse-2026!"
# Logins per account in the flood: under the per-address limit, so none is locked.
LOGINS_PER_ACCOUNT = 4
WRITES_BESIDE_FLOOD = 20


def _environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CHAINFLOW_HOME": str(home), "CHAINFLOW_LOG_LEVEL": "WARNING"})
    env.setdefault("CHAINFLOW_AUTH_THROTTLE_IP_FAILURES", "1000000")
    return env


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    if not ordered:
        return {}

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3)

    return {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": round(ordered[-1], 3)}


async def _flood(base: str, token: str, logins: int) -> dict[str, object]:
    accounts = max(1, -(-logins // LOGINS_PER_ACCOUNT))
    limits = httpx.Limits(max_connections=logins + 8, max_keepalive_connections=logins + 8)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        emails = [f"flood-{i}-{base.rsplit(':', 1)[-1]}@example.com" for i in range(accounts)]
        for email in emails:
            body = {"email": email, "password": FLOOD_PASSWORD}
            (await client.post("/api/v1/auth/register", json=body)).raise_for_status()
        statuses: dict[int, int] = {}
        login_ms: list[float] = []
        idle_write_ms: list[float] = []
        flood_write_ms: list[float] = []

        async def login(i: int) -> None:
            password = FLOOD_PASSWORD if i % 2 else "Wrong-Horse-99"
            body = {"email": emails[i % accounts], "password": password}
            sent = time.perf_counter()
            response = await client.post("/api/v1/auth/login", json=body)
            login_ms.append((time.perf_counter() - sent) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        async def write(latencies_ms: list[float]) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            for i in range(WRITES_BESIDE_FLOOD):
                sent = time.perf_counter()
                body = {"name": f"writer {i}"}
                await client.patch("/api/v1/users/me", json=body, headers=headers)
                latencies_ms.append((time.perf_counter() - sent) * 1000)

        await write(idle_write_ms)
        started = time.perf_counter()
        await asyncio.gather(write(flood_write_ms), *(login(i) for i in range(logins)))
        elapsed = time.perf_counter() - started
    return {
        "concurrent_logins": logins,
        "accounts": accounts,
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "seconds": round(elapsed, 3),
        "login_latency_ms": _percentiles(login_ms),
        "write_latency_ms_idle": _percentiles(idle_write_ms),
        "write_latency_ms_during_flood": _percentiles(flood_write_ms),
    }


def _start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = _environment(home)
    process = subprocess.Popen(
        [sys.executable, "-m", "chainflow", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"server exited: {process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            if httpx.get(base + "/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not become ready in 60 s")


def _cli(home: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "chainflow", *args],
        env=_environment(home),
        check=True,
        capture_output=True,
    )


async def _measure(base: str, token: str, rate: float, seconds: float) -> dict[str, object]:
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers) as client:
        await client.get("/api/v1/users/me")  # warm the context cache and the pool

        async def one(at: float) -> None:
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            response = await client.get("/api/v1/users/me")
            latencies.append((time.perf_counter() - sent) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        start = time.perf_counter() + 0.05
        await asyncio.gather(*(one(start + i / rate) for i in range(total)))
        elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 3)

    return {
        "requests": total,
        "achieved_rate_per_s": round(total / elapsed, 1),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": {
            "p50": pct(0.50),
            "p90": pct(0.90),
            "p99": pct(0.99),
            "max": round(latencies[-1], 3),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flood", type=int, default=64, help="concurrent logins (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        port = _free_port()
        _cli(home, "db", "upgrade")
        server = _start_server(home, port)
        base = f"http://127.0.0.1:{port}"
        try:
            email, password = f"load-{port}@example.com", "Measure-Latency-2026!"
            httpx.post(
                base + "/api/v1/auth/register", json={"email": email, "password": password}
            ).raise_for_status()
            _cli(home, "users", "set-tier", email, "enterprise")
            login = httpx.post(
                base + "/api/v1/auth/login", json={"email": email, "password": password}
            )
            login.raise_for_status()
            token = login.json()["access_token"]
            result = asyncio.run(_measure(base, token, args.rate, args.seconds))
            if args.flood > 0:
                result["login_flood"] = asyncio.run(_flood(base, token, args.flood))
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=15)
    print(
        json.dumps(
            {
                "benchmark": "auth",
                "endpoint": "GET /api/v1/users/me (JWT, rate-limited, context cache hit)",
                "target_rate_per_s": args.rate,
                "seconds": args.seconds,
                **result,
                "environment": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "database": os.environ.get("CHAINFLOW_DATABASE_URL", "embedded SQLite").split(
                        "@"
                    )[-1],
                    "cache": os.environ.get("CHAINFLOW_CACHE_URL", "in-process"),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
