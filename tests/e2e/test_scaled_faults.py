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

The faults that stop no process (NATS connections reset, PostgreSQL unreachable, the Redis
keys deleted) share one deployment (two trading replicas beside a front process, its NATS
and PostgreSQL behind loopback proxies), each test with tenants of its own; each kill gets
a deployment of its own (a shared one of seven processes did not start within the 60 s a
process has to answer /health on the loaded 2-core machine). The processes heartbeat every
``HEARTBEAT_S`` with an instance and lease TTL of ``TTL_S`` (shorter than
``tests/fixtures/processes.py``'s 0.5 s / 5 s, so that a dead replica's partitions move
sooner and the stream after the recovery bound is shorter).

A terminal follows docs/mt5-protocol.md §8: after a dropped connection it reconnects (to
the next bridge replica) and resends every unacked tick with new seqs; the server settles
the ones already stored as ``duplicate``. Ticks refused ``rate_limited`` (a reconnect's
resend burst after a long outage can exceed the free tier's 20 ticks/s) are resent with the
same seq after ``retry_after_s`` (§4) and counted, not taken for errors.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import nats
import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.fixtures.backends import NATS_URL, POSTGRES_URL
from tests.fixtures.scaled import (
    TcpProxy,
    run_cli,
    scaled_environment,
    start_processes,
    stored_ticks,
    terminal_key,
)

pytestmark = [pytest.mark.nats, pytest.mark.redis, pytest.mark.postgres]

PASSWORD = "Faulted-Terminal-2026!"
SYMBOL = "EURUSD"
PACE_S = 0.1  # 10 ticks a second per tenant: a resend burst stays inside the free tier's 20
TICK_STEP_MS = 250  # tick time between a terminal's ticks
HEARTBEAT_S = 0.3
TTL_S = 3.0  # the registry's instance TTL; the partition lease TTL follows it
LIVENESS = {
    "CHAINFLOW_HUB_HEARTBEAT_INTERVAL_S": str(HEARTBEAT_S),
    "CHAINFLOW_HUB_INSTANCE_TTL_S": str(TTL_S),
}
SETTLE_S = 4 * HEARTBEAT_S  # after the last replica registered: partitions settle
# A dead replica's partitions are taken within TTL + one heartbeat (Membership.
# takeover_bound_s); the rest is slack for a loaded 2-core machine (warming the moved keys,
# a reconnect's back-off).
TAKEOVER_BOUND_S = TTL_S + HEARTBEAT_S
RECOVERY_BOUND_S = TAKEOVER_BOUND_S + 4.5
BEFORE_FAULT_S = 2.0
AFTER_FAULT_S = RECOVERY_BOUND_S + 2.5  # ticks sent after the bound must all be answered
PG_DOWN_S = 3.0

FRONT = "gateway,hub,storage,users"
TWO_TRADERS = (FRONT + ",bridge,features,ml", "trading", "trading")
TWO_BRIDGES = (FRONT + ",trading", "bridge,features,ml", "bridge,features,ml")
TWO_FEATURES = (FRONT + ",bridge,trading", "features", "features")

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
    closes: list[str] = field(default_factory=list)  # why each ended connection ended
    rate_limited: int = 0  # rate_limited refusals, each resent (docs/mt5-protocol.md §4)


def tick_of(start_ms: int, index: int, step_ms: int = TICK_STEP_MS) -> dict[str, Any]:
    bid = round(1.09 + (index % 50) * 1e-5, 5)
    return {
        "symbol": SYMBOL,
        "ts": start_ms + index * step_ms,
        "bid": bid,
        "ask": round(bid + 0.00012, 5),
        "volume": 1.0,
    }


def identity(item: dict[str, Any]) -> Identity:
    return (item["symbol"], item["ts"], item["bid"], item["ask"])


async def terminal(
    urls: list[str], start_ms: int, stop_at: float, record: Record, step_ms: int = TICK_STEP_MS
) -> None:
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
                    item = tick_of(start_ms, index, step_ms)
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
        except ConnectionClosed as closed:
            frame = closed.rcvd
            record.closes.append(f"{frame.code} {frame.reason}" if frame else "no close frame")
        except (OSError, TimeoutError) as failed:
            record.closes.append(repr(failed))
        if time.monotonic() > stop_at + 30:
            return
        await asyncio.sleep(0.3)  # back-off before the next replica


class RateLimitedResends:
    """docs/mt5-protocol.md §4: ``rate_limited`` ticks are resent with the same seq on the
    same connection after ``retry_after_s``, the refused seqs in order before later ones.
    Refusals that arrive while a resend waits join it (in seq order); a refusal after it
    was sent starts the next one. A long enough outage (JetStream's publish timing out)
    makes the reconnect's resend burst larger than the free tier's 20 ticks/s."""

    def __init__(
        self, ws: Any, by_seq: dict[int, Identity], unacked: dict[Identity, dict[str, Any]]
    ) -> None:
        self._ws = ws
        self._by_seq = by_seq
        self._unacked = unacked
        self._refused: set[int] = set()
        self._pending: asyncio.Task[None] | None = None

    def refused(self, frame: dict[str, Any]) -> None:
        details = frame.get("details") or {}
        seqs = details.get("seqs") or [frame.get("seq")]
        self._refused.update(seq for seq in seqs if seq is not None)
        if self._pending is None or self._pending.done():
            delay = float(details.get("retry_after_s", 1.0))
            self._pending = asyncio.create_task(self._resend(delay))

    async def _resend(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        seqs, self._refused = sorted(self._refused), set()
        for seq in seqs:
            key = self._by_seq.get(seq)
            item = None if key is None else self._unacked.get(key)
            if item is not None:
                await self._ws.send(json.dumps({"type": "tick", **item, "seq": seq}))

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()


async def receive(
    ws: Any,
    connection: int,
    by_seq: dict[int, Identity],
    unacked: dict[Identity, dict[str, Any]],
    record: Record,
) -> None:
    resends = RateLimitedResends(ws, by_seq, unacked)
    try:
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
            elif frame["type"] == "error" and frame.get("code") == "rate_limited":
                record.rate_limited += 1
                resends.refused(frame)  # resent as the protocol says; an ack settles them
            elif frame["type"] == "error" and frame.get("code") != "duplicate":
                record.errors.append(frame)
    finally:
        resends.cancel()


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
    """Start ``layout``'s processes (at once); ``via`` maps a backend's ``host:port`` in the
    deployment's URLs to a proxy that the test can cut."""
    with scaled_environment("faults") as env, ExitStack() as stack:
        for address, proxy in (via or {}).items():
            for name, url in env.items():
                env[name] = url.replace(f"@{address}/", f"@127.0.0.1:{proxy.port}/").replace(
                    f"//{address}", f"//127.0.0.1:{proxy.port}"
                )
        env.update(LIVENESS)
        began = time.monotonic()
        run_cli(env, "db", "upgrade")
        started = start_processes(stack, tmp_path, env, layout)
        bases = [base for base, _ in started]
        for service in ("bridge", "features", "trading"):
            wait_for_instances(bases[0], service, sum(service in s for s in layout))
        time.sleep(SETTLE_S)
        processes = [process for _, process in started]
        startup_s = round(time.monotonic() - began, 1)
        yield Deployment(env, bases, processes, layout, startup_s)


@dataclass
class Shared:
    """One deployment of two trading replicas, its NATS and PostgreSQL behind proxies,
    for the faults that leave every process running."""

    deployed: Deployment
    nats: TcpProxy
    postgres: TcpProxy

    def terminals(self, tenants: int) -> list[list[str]]:
        """Every terminal on the front process's bridge (``run_stream``'s ``bridges``)."""
        return [[self.deployed.bases[0]] for _ in range(tenants)]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One deployment for the faults that stop no process: starting the processes is
    most of a test's time."""
    nats_address = urlsplit(NATS_URL).netloc
    postgres_address = urlsplit(POSTGRES_URL).netloc.rsplit("@", 1)[-1]
    nats_proxy, postgres_proxy = proxy_to(nats_address), proxy_to(postgres_address)
    via = {nats_address: nats_proxy, postgres_address: postgres_proxy}
    try:
        with deployment(tmp_path_factory.mktemp("shared"), TWO_TRADERS, via) as deployed:
            yield Shared(deployed, nats_proxy, postgres_proxy)
    finally:
        nats_proxy.close()
        postgres_proxy.close()


def wait_for_instances(base: str, service: str, count: int) -> None:
    """Wait until the hub's registry lists ``count`` live instances running ``service``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = httpx.get(base + "/api/v1/hub/services", timeout=10).json()["items"]
        if sum(service in item["services"] for item in items) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"expected {count} live {service} instances")


def tenant_of(base: str, email: str) -> str:
    credentials = {"email": email, "password": PASSWORD}
    token = httpx.post(base + "/api/v1/auth/login", json=credentials, timeout=10).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    me = httpx.get(base + "/api/v1/users/me", headers=headers, timeout=10).json()
    return str(me["tenant_id"])


def emails_of(tag: str, tenants: int) -> list[str]:
    return [f"{tag}{i}@example.com" for i in range(tenants)]


def run_stream(
    deployed: Deployment,
    bridges: list[list[str]],
    fault: Callable[[list[str]], float],
    tenants: int,
    tier: str | None = None,
    *,
    tag: str = "fault",
    step_ms: int = TICK_STEP_MS,
) -> tuple[list[Record], float, Probe]:
    """Stream from ``tenants`` terminals of users ``<tag><i>@example.com`` (terminal i tries
    ``bridges[i]`` in turn), call ``fault(emails)`` after ``BEFORE_FAULT_S`` (it returns the
    fault's monotonic time); return the records, the fault's time and the probe."""
    front = deployed.bases[0]
    emails = emails_of(tag, tenants)
    keys = [terminal_key(front, email, PASSWORD) for email in emails]
    if tier:  # a backlog resent at once is over the free tier
        with ThreadPoolExecutor(len(emails)) as pool:
            moves = [
                pool.submit(run_cli, deployed.env, "users", "set-tier", e, tier) for e in emails
            ]
            for move in moves:
                move.result()
    ticks = (BEFORE_FAULT_S + AFTER_FAULT_S) / PACE_S
    start_ms = int(time.time() * 1000) - max(300_000, int(ticks * step_ms) + 600_000)
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
                    step_ms,
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
    tag: str = "fault",
) -> dict[str, Any]:
    """Check the invariants, print the figures as JSON and return them. ``tolerated``: error
    codes the fault may cause (a store down), and then 5xx answers inside its window."""
    front = deployed.bases[0]
    lost = stored_twice = 0
    for i, record in enumerate(records):
        tenant = tenant_of(front, f"{tag}{i}@example.com")
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
        "closes": [close for r in records for close in r.closes][:5],
        "errors": [e for r in records for e in r.errors if e.get("code") not in tolerated][:5],
        "tolerated_errors": sum(e.get("code") in tolerated for r in records for e in r.errors),
        "http_probes": len(probe.statuses),
        "http_5xx": sum(status >= 500 for _, status in probe.statuses),
        "http_5xx_outside_fault": sum(
            status >= 500 and not fault_at <= t <= late for t, status in probe.statuses
        ),
        "http_unanswered": sum(status == 0 for _, status in probe.statuses),
        "rate_limited_refusals": sum(r.rate_limited for r in records),
    }
    figures["recovery_bound_s"] = RECOVERY_BOUND_S
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


def lease_holder(deployed: Deployment, tenant: str, lease: str) -> str | None:
    """The instance id holding lease ``<lease>:p<k>`` of ``tenant``'s partition k (Redis)."""
    from chainflow.hub.partitions.assignment import partition_of

    client = redis.Redis.from_url(deployed.env["CHAINFLOW_CACHE_URL"])
    prefix = deployed.env["CHAINFLOW_CACHE_KEY_PREFIX"]
    try:
        k = partition_of(tenant, partitions=16)
        value = client.get(f"{prefix}partitions:lease:{lease}:p{k}")
        return value.decode() if isinstance(value, bytes) else None
    finally:
        client.close()


def lease_holders(deployed: Deployment, tenants: list[str]) -> set[str]:
    """The instance ids holding the trading tick partitions of ``tenants`` (Redis leases)."""
    holders = (lease_holder(deployed, tenant, "trading-ticks") for tenant in tenants)
    return {holder for holder in holders if holder is not None}


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


@dataclass(frozen=True)
class Vector:
    """One feature vector in the deployment's stream: its key, bar and when it was stored."""

    tenant: str
    timeframe: str
    ts: int
    revised: bool
    stored_at: float  # wall clock, s


PARTITION_TOKEN = re.compile(r"p\d+")


async def stored_vectors(env: dict[str, str]) -> list[Vector]:
    """Every feature vector (``features.p<k>.…``) the deployment's stream holds, read by an
    ephemeral consumer: what the stream kept, after its ``Nats-Msg-Id`` deduplication."""
    client = await nats.connect(env["CHAINFLOW_BUS_URL"])
    root = env["CHAINFLOW_BUS_SUBJECT_PREFIX"] + ".ev.features."
    vectors = []
    try:
        reader = await client.jetstream().pull_subscribe(
            root + ">", stream=env["CHAINFLOW_BUS_STREAM"]
        )
        pending = 1
        while pending:
            try:
                messages = await reader.fetch(1000, timeout=2.0)
            except TimeoutError:  # nats-py raises asyncio's (the builtin) or its subclass
                break
            for message in messages:
                pending = message.metadata.num_pending
                await message.ack()
                if not PARTITION_TOKEN.fullmatch(message.subject.removeprefix(root).split(".")[0]):
                    continue  # a regime change or a correlation update
                event = json.loads(message.data)
                vectors.append(
                    Vector(
                        tenant=event["tenant_id"],
                        timeframe=event["timeframe"],
                        ts=event["ts"],
                        revised=event["revised"],
                        stored_at=message.metadata.timestamp.timestamp(),
                    )
                )
    finally:
        await client.close()
    return vectors


def vector_figures(
    vectors: Sequence[Vector], tenants: list[str], victims: set[str], killed_at: float
) -> dict[str, Any]:
    """Per M1 key: bars published twice, bars missing between its first and last vector;
    the moved keys' first vector after the kill, and every key's last bar."""
    first = [v for v in vectors if v.timeframe == "M1" and not v.revised and v.tenant in tenants]
    published = Counter((v.tenant, v.ts) for v in first)
    missing = 0
    last_bar: dict[str, int] = {}
    for tenant in tenants:
        bars = sorted(ts for t, ts in published if t == tenant)
        if bars:
            missing += len(set(range(bars[0], bars[-1] + 1, 60_000)) - set(bars))
            last_bar[tenant] = bars[-1]
    moved = [
        min(
            (v.stored_at for v in first if v.tenant == tenant and v.stored_at > killed_at),
            default=float("inf"),
        )
        for tenant in victims
    ]
    return {
        "vectors": len(first),
        "vectors_revised": sum(v.revised for v in vectors),
        "bars_published_twice": sum(count > 1 for count in published.values()),
        "bars_missing": missing,
        "moved_tenants": len(victims),
        "vector_recovery_s": round(max(moved) - killed_at, 2),
        "last_bar": last_bar,
    }


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


FEATURES_STEP_MS = 6_000  # tick time: an M1 bar closes every 10 ticks (one a second)
VECTORS_WAIT_S = 20.0


def test_features_replica_killed(tmp_path: Path) -> None:
    """The features replica holding tenant 0's partition is killed: the other takes its
    partitions once the leases expire and consumes the bars published meanwhile from the
    partitions' durable consumers. Every tenant's M1 bars get a vector, none twice (the
    stream deduplicates a bar processed again by its message id), the moved tenants' first
    vector after the kill comes within the recovery bound, and the tick path (in the front
    process) keeps ``measure``'s invariants."""
    with deployment(tmp_path, TWO_FEATURES) as deployed:
        front = deployed.bases[0]
        killed: list[tuple[float, str]] = []
        tenants: list[str] = []
        victims: set[str] = set()

        def fault(emails: list[str]) -> float:
            tenants.extend(tenant_of(front, email) for email in emails)
            holders = {t: lease_holder(deployed, t, "features") for t in tenants}
            index = next(i for i in (1, 2) if instance_of(deployed, i) == holders[tenants[0]])
            victims.update(t for t, holder in holders.items() if holder == holders[tenants[0]])
            killed.append((time.time(), f"p{index}"))
            return kill(deployed.processes[index])

        # pro: a terminal whose connection drops resends its backlog at once (one run of
        # four saw that), which the free tier's 20 ticks/s would refuse.
        records, fault_at, probe = run_stream(
            deployed, [[front]] * 4, fault, 4, "pro", tag="feat", step_ms=FEATURES_STEP_MS
        )
        figures = measure(
            deployed, records, fault_at, probe, "features replica kill -9", tag="feat"
        )
        # The last bar each terminal closed: the one before its last tick's.
        closed = {
            tenant: max(t.ts for t in stored_ticks(deployed.env, tenant, SYMBOL)) // 60_000 * 60_000
            - 60_000
            for tenant in tenants
        }
        deadline = time.monotonic() + VECTORS_WAIT_S
        while True:
            vectors = asyncio.run(stored_vectors(deployed.env))
            found = vector_figures(vectors, tenants, victims, killed[0][0])
            caught_up = all(found["last_bar"].get(t, 0) >= closed[t] for t in tenants)
            if caught_up or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    found["caught_up"] = caught_up
    found["killed"] = killed[0][1]
    print(json.dumps({"fault": "features replica kill -9 (vectors)", **found}))  # noqa: T201
    assert caught_up, (closed, found)
    assert found["bars_published_twice"] == 0 and found["bars_missing"] == 0, found
    assert found["vector_recovery_s"] <= RECOVERY_BOUND_S, found
    assert found["moved_tenants"] > 0 and figures["unanswered_after_bound"] == 0, figures


def test_cache_keys_deleted(shared: Shared) -> None:
    """What a Redis flush means for one deployment: every key under its prefix (partition
    leases, rate-limit buckets, caches) deleted mid-stream, without touching other tests'."""
    deployed = shared.deployed
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

    records, fault_at, probe = run_stream(deployed, shared.terminals(2), fault, 2, tag="cache")
    measure(deployed, records, fault_at, probe, "cache prefix deleted", tag="cache")
    assert deleted and deleted[0] > 0, deleted


def test_nats_connections_dropped(shared: Shared) -> None:
    """Every process's NATS connection reset at once (through a loopback proxy): the
    clients reconnect, re-subscribe and the stream carries on."""
    deployed, proxy = shared.deployed, shared.nats
    dropped: list[int] = []
    accepted: list[int] = []

    def fault(_emails: list[str]) -> float:
        at = time.monotonic()
        accepted.append(proxy.accepted)
        dropped.append(proxy.drop())
        return at

    records, fault_at, probe = run_stream(deployed, shared.terminals(2), fault, 2, tag="nats")
    measure(deployed, records, fault_at, probe, "NATS connections dropped", tag="nats")
    assert dropped and dropped[0] >= len(TWO_TRADERS), dropped
    reconnected = proxy.accepted - accepted[0]
    assert reconnected >= len(TWO_TRADERS), f"{reconnected} reconnected of {dropped[0]}"


def test_postgresql_down_for_seconds(shared: Shared) -> None:
    """Every PostgreSQL connection reset and new ones refused for ``PG_DOWN_S``, as a
    restart looks to the processes (the shared server itself cannot be restarted under
    other tests). Ticks the bridge could not store are refused ``dependency_unavailable``
    (close 1013) and resent; 5xx answers are allowed only inside the fault's window."""
    deployed, proxy = shared.deployed, shared.postgres
    dropped: list[int] = []

    def fault(_emails: list[str]) -> float:
        at = time.monotonic()
        dropped.append(proxy.drop(refuse_s=PG_DOWN_S))
        return at

    records, fault_at, probe = run_stream(deployed, shared.terminals(2), fault, 2, "pro", tag="pg")
    measure(
        deployed,
        records,
        fault_at,
        probe,
        "PostgreSQL down",
        tolerated=("dependency_unavailable", "internal_error"),
        tag="pg",
    )
    assert dropped and dropped[0] > 0, dropped


def proxy_to(address: str) -> TcpProxy:
    host, _, port = address.rpartition(":")
    return TcpProxy((host or "127.0.0.1", int(port)))
