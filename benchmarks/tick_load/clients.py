"""One MT5-like terminal: a WebSocket to ``WS /ws/ticks``, its symbols, what it measures.

A ``Connection`` streams one or more symbols (round robin, each along its sample price
path, back and forth so that it never jumps) with timestamps from a tick clock: the wall
clock, or a ``SyntheticClock`` that runs faster than it. ``stream`` sends one ``tick``
frame per tick on a fixed schedule (open loop); ``read_frames`` matches each ``signal``
frame to its tick by ``seq`` and keeps, for every measured tick, when it was sent and the
client and server latencies.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import connect

TickClock = Callable[[], int]
"""Returns a tick timestamp, epoch ms."""

WAIT_SIGNAL_S = 120.0  # closed-loop warm ticks: how long a symbol's first signal may take
DRAIN_S = 120.0  # after the schedule: a saturated server drains its backlog
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@contextmanager
def collector_off() -> Iterator[None]:
    """Run the load generator without cyclic garbage collections, then turn them back on.

    The generator is the terminals' stand-in, and MT5 terminals do not stop to collect
    garbage. Its own full collections, over tens of thousands of samples and frames, took
    110-270 ms in an aligned run (gen 2 passes logged by a ``gc.callbacks`` probe). Every
    answer that arrived meanwhile was read late, and that wait was counted as the server's
    latency. Reference counting still frees what the clients make; a run leaves at most a
    few MB of cyclic garbage until the collector is back on.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def reason_kind(frame: dict[str, Any]) -> str:
    """``action: first reason`` with its numbers as ``#`` (so that reasons can be counted)."""
    reasons = frame.get("reasons") or ["-"]
    return f"{frame.get('action')}: {_NUMBER.sub('#', str(reasons[0]))[:70]}"


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class SyntheticClock:
    """Tick time that starts at ``origin_ms`` and runs ``speed`` times faster than the wall
    clock once ``start`` is called (before that it stays at ``origin_ms``)."""

    origin_ms: int
    speed: float
    started: float | None = None

    def start(self, at: float) -> None:
        self.started = at

    def __call__(self) -> int:
        if self.started is None:
            return self.origin_ms
        elapsed = max(0.0, time.perf_counter() - self.started)
        return self.origin_ms + int(elapsed * self.speed * 1000)


@dataclass(slots=True)
class Sample:
    """One measured tick: when it was sent (perf counter), client and server latency."""

    sent: float
    client_ms: float
    server_ms: float | None


@dataclass(slots=True)
class Connection:
    symbols: tuple[str, ...]
    paths: dict[str, list[list[float]]]
    clock: TickClock = wall_ms
    offset: int = 0  # where in the price paths this terminal starts
    sent_at: dict[int, float] = field(default_factory=dict)
    measured: set[int] = field(default_factory=set)
    samples: list[Sample] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    hold_reasons: Counter[str] = field(default_factory=Counter)
    seq: int = 0
    acked: int = 0
    signals_measured: int = 0
    last_ack_at: float = 0.0
    first_signal: asyncio.Event = field(default_factory=asyncio.Event)
    first_frame: dict[str, Any] | None = None  # the signal of seq 1
    first_ms: float | None = None  # its client latency
    first_sent: float | None = None  # when seq 1 was sent (perf counter)
    model_at: float | None = None  # first signal scored by a model (perf counter)
    scored: set[str] = field(default_factory=set)  # symbols the model has answered
    _turn: int = 0
    _counts: dict[str, int] = field(default_factory=dict)
    _last_ts: dict[str, int] = field(default_factory=dict)

    def next_tick(self) -> dict[str, Any]:
        self.seq += 1
        symbol = self.symbols[self._turn % len(self.symbols)]
        self._turn += 1
        count = self._counts.get(symbol, 0)
        self._counts[symbol] = count + 1
        path = self.paths[symbol]
        n = len(path)
        i = (count + self.offset) % (2 * n)
        bid, ask, volume = path[i if i < n else 2 * n - 1 - i]  # back and forth: no jump
        ts = max(self.clock(), self._last_ts.get(symbol, 0) + 1)
        self._last_ts[symbol] = ts
        return {
            "type": "tick",
            "symbol": symbol,
            "ts": ts,
            "bid": bid,
            "ask": ask,
            "volume": volume,
            "seq": self.seq,
        }

    def hello(self, with_symbols: bool) -> str:
        frame: dict[str, Any] = {"type": "hello", "signals": "every_tick"}
        if with_symbols:
            frame["symbols"] = list(self.symbols)
        return json.dumps(frame)

    def send_now(self, frame: dict[str, Any], measure: bool) -> str:
        """Record ``frame``'s send time (and measure it); return its text."""
        self.sent_at[frame["seq"]] = now = time.perf_counter()
        if frame["seq"] == 1:
            self.first_sent = now
        if measure:
            self.measured.add(frame["seq"])
        return orjson.dumps(frame).decode()

    def pending(self) -> bool:
        """Whether a tick is still unacked or a measured tick still has no signal."""
        return self.acked < self.seq or bool(self.measured & self.sent_at.keys())


async def read_frames(ws: Any, conn: Connection) -> None:
    async for raw in ws:
        now = time.perf_counter()
        frame = orjson.loads(raw)
        kind = frame.get("type")
        if kind == "ack":
            conn.acked = max(conn.acked, frame["seq"])
            conn.last_ack_at = now
        elif kind == "signal":
            _on_signal(conn, frame, now)
        elif kind == "error":
            conn.errors[str(frame.get("code"))] += 1


def _on_signal(conn: Connection, frame: dict[str, Any], now: float) -> None:
    seq = frame.get("seq")
    sent = conn.sent_at.pop(seq, None)
    conn.first_signal.set()
    if frame.get("model") and conn.model_at is None:
        conn.model_at = now
    reasons = frame.get("reasons") or [""]
    if not str(reasons[0]).startswith(NOT_SCORED):
        conn.scored.add(str(frame.get("symbol")))
    if seq == 1 and sent is not None:
        conn.first_frame, conn.first_ms = frame, (now - sent) * 1000
    if seq in conn.measured and sent is not None:
        conn.signals_measured += 1
        latency = frame.get("latency_ms")
        server = float(latency) if isinstance(latency, int | float) else None
        conn.samples.append(Sample(sent, (now - sent) * 1000, server))
        if frame.get("action") == "hold":
            conn.hold_reasons[reason_kind(frame)] += 1


async def stream(
    ws: Any, conn: Connection, rate: float, start: float, until: float, measure: bool
) -> None:
    """Send ticks at ``rate``/s on a fixed schedule from ``start`` to ``until`` (perf time)."""
    i = 0
    while True:
        due = start + i / rate
        if due >= until:
            return
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = conn.next_tick()
        text = conn.send_now(frame, measure)
        if measure:
            conn.lag_ms.append(max(0.0, (conn.sent_at[frame["seq"]] - due) * 1000))
        await ws.send(text)
        i += 1


async def drain(conn: Connection, timeout_s: float = DRAIN_S) -> None:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline and conn.pending():
        await asyncio.sleep(0.05)


# A signal with one of these reasons was not scored by the model (state still building).
NOT_SCORED = ("warming", "features warming up", "no forming bar")
WARM_MAX_S = 900.0  # a steady scenario waits this long at most for every state to be built


@dataclass(frozen=True, slots=True)
class Schedule:
    """A warm terminal's run: ``warm_ticks`` closed-loop ticks before ``go``, then ``rate``
    ticks/s from ``clock['start'] + stagger``: ``warmup_s`` unmeasured, ``seconds`` measured."""

    rate: float
    stagger: float
    warmup_s: float
    seconds: float
    warm_ticks: int = 3
    hello_symbols: bool = False


async def warm_terminal(
    url: str,
    conn: Connection,
    plan: Schedule,
    clock: dict[str, float],
    go: asyncio.Event,
) -> None:
    """Wait for the first signals (closed loop), then stream open-loop, then drain."""
    async with connect(url, max_size=None, compression=None) as ws:
        await ws.send(conn.hello(plan.hello_symbols))
        reader = asyncio.create_task(read_frames(ws, conn))
        for _ in range(plan.warm_ticks):  # closed loop until the symbols' features are warm
            conn.first_signal.clear()
            await ws.send(conn.send_now(conn.next_tick(), measure=False))
            await asyncio.wait_for(conn.first_signal.wait(), WAIT_SIGNAL_S)
        deadline = time.perf_counter() + WARM_MAX_S
        while conn.scored != set(conn.symbols) and time.perf_counter() < deadline:
            await asyncio.sleep(0.25)  # the states are being built: a tick now and then
            conn.first_signal.clear()
            await ws.send(conn.send_now(conn.next_tick(), measure=False))
            await asyncio.wait_for(conn.first_signal.wait(), WAIT_SIGNAL_S)
        clock["ready"] += 1
        await go.wait()
        start = clock["start"] + plan.stagger
        warm_end = clock["start"] + plan.warmup_s
        await stream(ws, conn, plan.rate, start, warm_end, measure=False)
        begin = warm_end + plan.stagger
        await stream(ws, conn, plan.rate, begin, warm_end + plan.seconds, measure=True)
        await drain(conn)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def start_together(tasks: list[asyncio.Task[None]], clock: dict[str, float]) -> None:
    """Wait until every terminal is ready (raising a failed one's error)."""
    while clock["ready"] < len(tasks):
        await asyncio.sleep(0.01)
        for task in tasks:
            if task.done():
                task.result()
