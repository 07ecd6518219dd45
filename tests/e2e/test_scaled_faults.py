"""Faults in the scaled form under a steady tick stream (issue 24's fault tests).

Each test runs ``chainflow serve`` processes split by ``--services`` on PostgreSQL, Redis
and NATS, streams ticks from a few tenants' terminals (about 10 a second each, inside the
free tier's rate), injects one fault mid-stream and measures, printed as JSON with ``-s``:

- **acked ticks lost**: every acked tick is in the time-series store exactly once (0 lost);
- **duplicate signals**: no tick's ``seq`` answered twice on a connection (0);
- **recovery**: from the fault to the first signal (and ack) of a tick sent after it, the
  slowest terminal; every tick sent later than ``RECOVERY_BOUND_S`` after the fault must be
  acked and answered, and ticks in flight during the fault may go unanswered (the tick
  path's docstring says which), never twice;
- **5xx**: the front process is probed over HTTP during the whole stream; none answers 5xx.

A terminal follows docs/mt5-protocol.md §8: after a dropped connection it reconnects (to
the next bridge replica) and resends every unacked tick with new seqs; the server settles
the ones already stored as ``duplicate``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.test_scaled_ticks import wait_for_instances
from tests.fixtures.backends import NATS_URL, POSTGRES_URL
from tests.fixtures.processes import server_process
from tests.fixtures.scaled import (
    TcpProxy,
    run_cli,
    scaled_environment,
    stored_ticks,
    terminal_key,
)

pytestmark = [pytest.mark.nats, pytest.mark.redis, pytest.mark.postgres]

PASSWORD = "Faulted-Terminal-2026!"
SYMBOL = "EURUSD"
PACE_S = 0.1  # 10 ticks a second per tenant: a resend burst stays inside the free tier's 20
BEFORE_FAULT_S = 3.0
AFTER_FAULT_S = 12.0
# processes.py: heartbeat 0.5 s, instance TTL 5 s (the partition lease TTL follows it), so a
# dead replica's partitions are taken within 5.5 s (Membership.takeover_bound_s); the rest
# is slack for a loaded 2-core machine (warming the moved keys, a reconnect's back-off).
TAKEOVER_BOUND_S = 5.0 + 0.5
RECOVERY_BOUND_S = TAKEOVER_BOUND_S + 4.5
PG_DOWN_S = 3.0

FRONT = "gateway,hub,storage,users"
TWO_TRADERS = (FRONT + ",bridge,features,ml", "trading", "trading")
TWO_BRIDGES = (FRONT + ",trading", "bridge,features,ml", "bridge,features,ml")

Identity = tuple[str, int, float, float]


@dataclass
class Record:
    """What one tenant's terminal sent and got back, with monotonic times."""

    sent_at: dict[Identity, float] = field(default_factory=dict)
    acked_at: dict[Identity, float] = field(default_factory=dict)
    answered_at: dict[Identity, float] = field(default_factory=dict)
    answers: Counter[tuple[int, int]] = field(default_factory=Counter)  # (connection, seq)
    errors: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0


def tick_of(start_ms: int, index: int) -> dict[str, Any]:
    bid = round(1.09 + (index % 50) * 1e-5, 5)
    return {
        "symbol": SYMBOL,
        "ts": start_ms + index * 250,
        "bid": bid,
        "ask": round(bid + 0.00012, 5),
        "volume": 1.0,
    }


def identity(item: dict[str, Any]) -> Identity:
    return (item["symbol"], item["ts"], item["bid"], item["ask"])


async def terminal(urls: list[str], start_ms: int, stop_at: float, record: Record) -> None:
    """Stream ticks until ``stop_at``, reconnecting round the ``urls`` and resending what no
    ack covered; return once every tick is acked and a late duplicate would have arrived."""
    unacked: dict[Identity, dict[str, Any]] = {}
    index = 0
    while True:
        url = urls[record.connections % len(urls)]
        connection = record.connections
        record.connections += 1
        by_seq: dict[int, Identity] = {}
        try:
            async with connect(url, open_timeout=5) as ws:
                hello = {"type": "hello", "signals": "every_tick", "symbols": [SYMBOL]}
                await ws.send(json.dumps(hello))
                receiver = asyncio.create_task(receive(ws, connection, by_seq, unacked, record))
                seq = 0
                for item in list(unacked.values()):  # the resend, in the original order
                    seq += 1
                    by_seq[seq] = identity(item)
                    await ws.send(json.dumps({"type": "tick", **item, "seq": seq}))
                while time.monotonic() < stop_at:
                    item = tick_of(start_ms, index)
                    index += 1
                    seq += 1
                    by_seq[seq] = identity(item)
                    unacked[identity(item)] = item
                    record.sent_at[identity(item)] = time.monotonic()
                    await ws.send(json.dumps({"type": "tick", **item, "seq": seq}))
                    await asyncio.sleep(PACE_S)
                deadline = time.monotonic() + 15
                while unacked and time.monotonic() < deadline and not receiver.done():
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # a late or duplicate signal would arrive now
                receiver.cancel()
                await asyncio.gather(receiver, return_exceptions=True)
                if not unacked:
                    return
        except (ConnectionClosed, OSError, TimeoutError):
            pass
        if time.monotonic() > stop_at + 30:
            return
        await asyncio.sleep(0.3)  # back-off before the next replica


async def receive(
    ws: Any,
    connection: int,
    by_seq: dict[int, Identity],
    unacked: dict[Identity, dict[str, Any]],
    record: Record,
) -> None:
    async for raw in ws:
        frame = json.loads(raw)
        now = time.monotonic()
        if frame["type"] == "ack":
            for seq, key in by_seq.items():
                if seq <= frame["seq"] and unacked.pop(key, None) is not None:
                    record.acked_at[key] = now
        elif frame["type"] == "signal":
            record.answers[(connection, frame["seq"])] += 1
            key = by_seq[frame["seq"]]
            record.answered_at.setdefault(key, now)
        elif frame["type"] == "error" and frame.get("code") != "duplicate":
            record.errors.append(frame)


class Probe:
    """GETs the front's /health and hub registry every 0.2 s in a thread; keeps statuses."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.statuses: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                for path in ("/health", "/api/v1/hub/services"):
                    try:
                        status = client.get(self.base + path).status_code
                    except httpx.HTTPError:
                        status = 0  # no answer: counted apart from 5xx
                    self.statuses.append((time.monotonic(), status))
                self._stop.wait(0.2)

    @contextmanager
    def running(self) -> Iterator[Probe]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=10)


@dataclass
class Deployment:
    env: dict[str, str]
    bases: list[str]
    processes: list[subprocess.Popen[bytes]]
    layout: tuple[str, ...]
    startup_s: float


@contextmanager
def deployment(
    tmp_path: Path, layout: tuple[str, ...], via: dict[str, TcpProxy] | None = None
) -> Iterator[Deployment]:
    """Start ``layout``'s processes; ``via`` maps a backend's ``host:port`` in the
    deployment's URLs to a proxy that the test can cut."""
    with scaled_environment("faults") as env, ExitStack() as stack:
        for address, proxy in (via or {}).items():
            for name, url in env.items():
                env[name] = url.replace(f"@{address}/", f"@127.0.0.1:{proxy.port}/").replace(
                    f"//{address}", f"//127.0.0.1:{proxy.port}"
                )
        began = time.monotonic()
        run_cli(env, "db", "upgrade")
        started = [
            stack.enter_context(server_process(tmp_path / f"p{i}", env, ("--services", s)))
            for i, s in enumerate(layout)
        ]
        bases = [base for base, _ in started]
        wait_for_instances(bases[0], "trading", sum("trading" in s for s in layout))
        processes = [process for _, process in started]
        startup_s = round(time.monotonic() - began, 1)
        yield Deployment(env, bases, processes, layout, startup_s)


def tenant_of(base: str, email: str) -> str:
    credentials = {"email": email, "password": PASSWORD}
    token = httpx.post(base + "/api/v1/auth/login", json=credentials, timeout=10).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    me = httpx.get(base + "/api/v1/users/me", headers=headers, timeout=10).json()
    return str(me["tenant_id"])


def run_stream(
    deployed: Deployment,
    bridges: list[list[str]],
    fault: Callable[[list[str]], float],
    tenants: int,
    tier: str | None = None,
) -> tuple[list[Record], float, Probe]:
    """Stream from ``tenants`` terminals (terminal i tries ``bridges[i]`` in turn), call
    ``fault(emails)`` after ``BEFORE_FAULT_S`` (it returns the fault's monotonic time);
    return the records, the fault's time and the probe."""
    front = deployed.bases[0]
    emails = [f"fault{i}@example.com" for i in range(tenants)]
    keys = [terminal_key(front, email, PASSWORD) for email in emails]
    for email in emails if tier else []:  # a backlog resent at once is over the free tier
        run_cli(deployed.env, "users", "set-tier", email, str(tier))
    start_ms = int(time.time() * 1000) - 300_000
    records = [Record() for _ in emails]
    fault_at = 0.0

    async def run() -> None:
        nonlocal fault_at
        stop_at = time.monotonic() + BEFORE_FAULT_S + AFTER_FAULT_S
        sessions = [
            asyncio.create_task(
                terminal(
                    [b.replace("http", "ws") + f"/ws/ticks?api_key={key}" for b in bridges[i]],
                    start_ms + i,  # distinct identities per tenant
                    stop_at,
                    records[i],
                )
            )
            for i, key in enumerate(keys)
        ]
        await asyncio.sleep(BEFORE_FAULT_S)
        fault_at = await asyncio.to_thread(fault, emails)
        await asyncio.gather(*sessions)

    probe = Probe(front)
    with probe.running():
        asyncio.run(run())
    return records, fault_at, probe


def measure(
    deployed: Deployment,
    records: list[Record],
    fault_at: float,
    probe: Probe,
    name: str,
    tolerated: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Check the invariants, print the figures as JSON and return them. ``tolerated``: error
    codes the fault may cause (a store down), and then 5xx answers inside its window."""
    front = deployed.bases[0]
    lost = stored_twice = 0
    for i, record in enumerate(records):
        tenant = tenant_of(front, f"fault{i}@example.com")
        stored = Counter(
            (t.symbol, t.ts, t.bid, t.ask) for t in stored_ticks(deployed.env, tenant, SYMBOL)
        )
        lost += sum(stored[key] == 0 for key in record.acked_at)
        stored_twice += sum(count > 1 for count in stored.values())
    after = [
        (record, {k: t for k, t in record.sent_at.items() if t >= fault_at}) for record in records
    ]
    late = fault_at + RECOVERY_BOUND_S
    figures: dict[str, Any] = {
        "fault": name,
        "ticks_sent": sum(len(r.sent_at) for r in records),
        "ticks_acked": sum(len(r.acked_at) for r in records),
        "acked_lost": lost,
        "stored_twice": stored_twice,
        "duplicate_signals": sum(sum(c > 1 for c in r.answers.values()) for r in records),
        "unanswered": sum(len(set(r.acked_at) - set(r.answered_at)) for r in records),
        "unanswered_after_bound": sum(
            sum(k not in r.answered_at for k, t in sent.items() if t >= late) for r, sent in after
        ),
        "unacked": sum(len(set(r.sent_at) - set(r.acked_at)) for r in records),
        "signal_recovery_s": round(first_after(after, "answered_at") - fault_at, 2),
        "ack_recovery_s": round(first_after(after, "acked_at") - fault_at, 2),
        "connections": [r.connections for r in records],
        "errors": [e for r in records for e in r.errors if e.get("code") not in tolerated][:5],
        "tolerated_errors": sum(e.get("code") in tolerated for r in records for e in r.errors),
        "http_probes": len(probe.statuses),
        "http_5xx": sum(status >= 500 for _, status in probe.statuses),
        "http_5xx_outside_fault": sum(
            status >= 500 and not fault_at <= t <= late for t, status in probe.statuses
        ),
        "http_unanswered": sum(status == 0 for _, status in probe.statuses),
    }
    figures["startup_s"] = deployed.startup_s
    print(json.dumps(figures))  # noqa: T201 - the figures in the test log
    assert figures["acked_lost"] == 0 and figures["stored_twice"] == 0, figures
    assert figures["duplicate_signals"] == 0, figures
    assert figures["unacked"] == 0 and not figures["errors"], figures
    assert figures["unanswered_after_bound"] == 0, figures
    assert figures["signal_recovery_s"] <= RECOVERY_BOUND_S, figures
    assert figures["ack_recovery_s"] <= RECOVERY_BOUND_S, figures
    assert figures["http_5xx_outside_fault"] == 0 and figures["http_probes"] > 20, figures
    assert figures["http_5xx"] == 0 or tolerated, figures
    return figures


def first_after(after: list[tuple[Record, dict[Identity, float]]], field_name: str) -> float:
    """The slowest terminal's first ack or signal of a tick sent after the fault."""
    firsts = []
    for record, sent in after:
        times = getattr(record, field_name)
        firsts.append(min((times[k] for k in sent if k in times), default=float("inf")))
    return max(firsts)


def lease_holders(deployed: Deployment, tenants: list[str]) -> set[str]:
    """The instance ids holding the trading tick partitions of ``tenants`` (Redis leases)."""
    from chainflow.hub.partitions.assignment import partition_of

    client = redis.Redis.from_url(deployed.env["CHAINFLOW_CACHE_URL"])
    prefix = deployed.env["CHAINFLOW_CACHE_KEY_PREFIX"]
    try:
        holders = set()
        for tenant in tenants:
            k = partition_of(tenant, partitions=16)
            value = client.get(f"{prefix}partitions:lease:trading-ticks:p{k}")
            if isinstance(value, bytes):
                holders.add(value.decode())
        return holders
    finally:
        client.close()


def instance_of(deployed: Deployment, index: int) -> str:
    """The hub registry's instance id of process ``index`` (matched by its port)."""
    port = deployed.bases[index].rsplit(":", 1)[1]
    items = httpx.get(deployed.bases[0] + "/api/v1/hub/services", timeout=10).json()["items"]
    matches = [item["instance_id"] for item in items if item["url"].endswith(":" + port)]
    assert len(matches) == 1, (port, items)
    return str(matches[0])


def kill(process: subprocess.Popen[bytes]) -> float:
    """SIGKILL ``process`` (no shutdown at all); return when it was sent."""
    at = time.monotonic()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    return at


def test_trading_replica_killed(tmp_path: Path) -> None:
    with deployment(tmp_path, TWO_TRADERS) as deployed:
        bridge = [deployed.bases[0]]
        victims: list[str] = []

        def fault(emails: list[str]) -> float:
            tenants = [tenant_of(deployed.bases[0], email) for email in emails]
            holders = lease_holders(deployed, tenants)
            index = next(i for i in (1, 2) if instance_of(deployed, i) in holders)
            victims.append(f"p{index}")
            return kill(deployed.processes[index])

        records, fault_at, probe = run_stream(deployed, [bridge] * 4, fault, tenants=4)
        figures = measure(deployed, records, fault_at, probe, "trading replica kill -9")
    assert victims, "no trading replica held a tenant's partition"
    assert figures["unanswered"] > 0, "the killed replica answered no tenant: nothing measured"


def test_bridge_replica_killed(tmp_path: Path) -> None:
    """Tenant 0's terminal is on the bridge killed; it reconnects to the other and resends."""
    with deployment(tmp_path, TWO_BRIDGES) as deployed:
        first, second = deployed.bases[1], deployed.bases[2]

        def fault(_emails: list[str]) -> float:
            return kill(deployed.processes[1])

        bridges = [[first, second], [second, first]]
        records, fault_at, probe = run_stream(deployed, bridges, fault, tenants=2)
        figures = measure(deployed, records, fault_at, probe, "bridge replica kill -9")
    assert figures["connections"] == [2, 1], figures


def test_cache_keys_deleted(tmp_path: Path) -> None:
    """What a Redis flush means for one deployment: every key under its prefix (partition
    leases, rate-limit buckets, caches) deleted mid-stream, without touching other tests'."""
    with deployment(tmp_path, TWO_TRADERS) as deployed:
        url = deployed.env["CHAINFLOW_CACHE_URL"]
        pattern = deployed.env["CHAINFLOW_CACHE_KEY_PREFIX"] + "*"
        deleted: list[int] = []

        def fault(_emails: list[str]) -> float:
            at = time.monotonic()
            client = redis.Redis.from_url(url)
            try:
                keys = list(client.scan_iter(match=pattern))
                deleted.append(client.delete(*keys) if keys else 0)
            finally:
                client.close()
            return at

        records, fault_at, probe = run_stream(deployed, [[deployed.bases[0]]] * 2, fault, 2)
        measure(deployed, records, fault_at, probe, "cache prefix deleted")
    assert deleted and deleted[0] > 0, deleted


def test_nats_connections_dropped(tmp_path: Path) -> None:
    """Every process's NATS connection reset at once (through a loopback proxy): the
    clients reconnect, re-subscribe and the stream carries on."""
    address = urlsplit(NATS_URL).netloc
    proxy = proxy_to(address)
    dropped: list[int] = []
    try:
        with deployment(tmp_path, TWO_TRADERS, {address: proxy}) as deployed:

            def fault(_emails: list[str]) -> float:
                at = time.monotonic()
                dropped.append(proxy.drop())
                return at

            records, fault_at, probe = run_stream(deployed, [[deployed.bases[0]]] * 2, fault, 2)
            measure(deployed, records, fault_at, probe, "NATS connections dropped")
    finally:
        proxy.close()
    assert dropped and dropped[0] >= len(TWO_TRADERS), dropped
    assert proxy.accepted > dropped[0], "no process reconnected"


def test_postgresql_down_for_seconds(tmp_path: Path) -> None:
    """Every PostgreSQL connection reset and new ones refused for ``PG_DOWN_S``, as a
    restart looks to the processes (the shared server itself cannot be restarted under
    other tests). Ticks the bridge could not store are refused ``dependency_unavailable``
    (close 1013) and resent; 5xx answers are allowed only inside the fault's window."""
    address = urlsplit(POSTGRES_URL).netloc.rsplit("@", 1)[-1]
    proxy = proxy_to(address)
    dropped: list[int] = []
    try:
        with deployment(tmp_path, TWO_TRADERS, {address: proxy}) as deployed:

            def fault(_emails: list[str]) -> float:
                at = time.monotonic()
                dropped.append(proxy.drop(refuse_s=PG_DOWN_S))
                return at

            bridges = [[deployed.bases[0]]] * 2
            records, fault_at, probe = run_stream(deployed, bridges, fault, 2, "pro")
            measure(
                deployed,
                records,
                fault_at,
                probe,
                "PostgreSQL down",
                tolerated=("dependency_unavailable", "internal_error"),
            )
    finally:
        proxy.close()
    assert dropped and dropped[0] > 0, dropped


def proxy_to(address: str) -> TcpProxy:
    host, _, port = address.rpartition(":")
    return TcpProxy((host or "127.0.0.1", int(port)))
