"""The open-loop load of one offered rate on one deployment, and its figures.

Every tenant has one terminal (``tick_load.clients.Connection``: one WebSocket, the tenant's
symbols in turn, timestamps from the wall clock, ``"signals":"every_tick"``). A terminal
first sends one tick per symbol closed-loop (each waits for its signal: the keys exist
everywhere); with a model (``Plan.warm_max_s`` > 0) it then goes on sending a tick now and
then, each waiting for its signal, until the model has scored every one of its symbols (the
keys' states are built from the stored bars meanwhile) or ``warm_max_s`` passed. Then all
terminals stream together on a fixed schedule (open loop), the offered rate split evenly,
staggered within one tick interval: ``warmup_s`` unmeasured, then ``seconds`` measured, then
wait for every ack and measured signal (``DRAIN_S`` at most). Latency is the client's: from
a tick frame's send to the ``signal`` frame with the same ``seq``. Every signal is tallied
by kind (``scale_load.signals``): scored by the model, or a hold with its reason.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

from tick_load.clients import Connection, drain, read_frames, stream
from tick_load.report import latency_figures, totals
from tick_load.server import SOURCES, cpu_seconds
from websockets.asyncio.client import connect

from scale_load.signals import SignalTally, counted, signal_figures
from scale_load.topology import Deployed

PATH_TICKS = 4000
START_PRICES = {"EURUSD": 1.09, "GBPUSD": 1.27, "USDJPY": 151.2, "AUDUSD": 0.66, "USDCHF": 0.88}
SPREAD = 1.2e-4  # relative
WAIT_SIGNAL_S = 60.0
DRAIN_S = 30.0
WARM_TICK_S = 0.25  # with a model: one closed-loop tick this often until every key is scored


@dataclass(frozen=True, slots=True)
class Plan:
    """One offered rate: ticks/s over all tenants, unmeasured and measured seconds, and
    how long a terminal waits at most for the model to score each of its symbols (0: no
    model, one answered tick per symbol is enough)."""

    rate: float
    warmup_s: float
    seconds: float
    warm_max_s: float = 0.0


def price_paths(symbols: tuple[str, ...], seed: int = 24) -> dict[str, list[list[float]]]:
    """A deterministic random walk of ``PATH_TICKS`` (bid, ask, volume) per symbol."""
    rng = random.Random(seed)
    paths: dict[str, list[list[float]]] = {}
    for symbol in symbols:
        mid = START_PRICES.get(symbol, 1.0)
        digits = 3 if mid > 20 else 5
        path = []
        for _ in range(PATH_TICKS):
            mid *= 1 + rng.gauss(0, 5e-5)
            bid = round(mid, digits)
            path.append([bid, round(bid + mid * SPREAD, digits), 1.0])
        paths[symbol] = path
    return paths


def tenant_symbols(symbols_per_tenant: int) -> tuple[str, ...]:
    if not 1 <= symbols_per_tenant <= len(SOURCES):
        raise SystemExit(f"--symbols-per-tenant must be 1..{len(SOURCES)}")
    return SOURCES[:symbols_per_tenant]


async def _closed_loop_tick(ws: Any, url: str, conn: Connection) -> None:
    """Send one unmeasured tick and wait for its signal."""
    conn.first_signal.clear()
    frame = conn.next_tick()
    await ws.send(conn.send_now(frame, measure=False))
    try:
        await asyncio.wait_for(conn.first_signal.wait(), WAIT_SIGNAL_S)
    except TimeoutError:
        raise SystemExit(
            f"no signal for {frame['symbol']} seq {frame['seq']} on {url} in "
            f"{WAIT_SIGNAL_S} s (acked up to {conn.acked}, errors {dict(conn.errors)})"
        ) from None


async def _terminal(
    url: str,
    conn: Connection,
    tally: SignalTally,
    plan: Plan,
    per_rate: float,
    stagger: float,
    clock: dict[str, float],
    go: asyncio.Event,
) -> None:
    async with connect(url, max_size=None, compression=None) as ws:
        await ws.send(conn.hello(with_symbols=True))
        reader = asyncio.create_task(read_frames(counted(ws, tally, conn.measured), conn))
        try:
            for _ in conn.symbols:  # closed loop: every key answered once before the load
                await _closed_loop_tick(ws, url, conn)
            deadline = time.perf_counter() + plan.warm_max_s
            while tally.scored_symbols != set(conn.symbols) and time.perf_counter() < deadline:
                await asyncio.sleep(WARM_TICK_S)  # the keys' states are being built
                await _closed_loop_tick(ws, url, conn)
            clock["ready"] += 1
            await go.wait()
            start = clock["start"] + stagger
            warm_end = clock["start"] + plan.warmup_s
            await stream(ws, conn, per_rate, start, warm_end, measure=False)
            until = warm_end + plan.seconds
            await stream(ws, conn, per_rate, warm_end + stagger, until, measure=True)
            await drain(conn, DRAIN_S)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def _run(
    deployed: Deployed, conns: list[Connection], tallies: list[SignalTally], plan: Plan
) -> dict[str, float]:
    per_rate = plan.rate / len(conns)
    clock = {"ready": 0.0, "start": 0.0}
    go = asyncio.Event()
    tasks = [
        asyncio.create_task(
            _terminal(deployed.ticks_url(i), conn, tally, plan, per_rate, i / plan.rate, clock, go)
        )
        for i, (conn, tally) in enumerate(zip(conns, tallies, strict=True))
    ]
    warm_began = time.perf_counter()
    while clock["ready"] < len(tasks):
        await asyncio.sleep(0.01)
        failed = next((task for task in tasks if task.done() and task.exception()), None)
        if failed is not None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            failed.result()  # a terminal that failed before the start: its error
    warm_s = time.perf_counter() - warm_began
    keys_scored = sum(len(tally.scored_symbols) for tally in tallies)
    warm_seqs = {id(conn): conn.seq for conn in conns}
    clock["start"] = time.perf_counter() + 0.2
    cpu0, wall0 = time.process_time(), time.perf_counter()
    server0 = sum(cpu_seconds(pid) for pid in deployed.pids)
    go.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - wall0
    return {
        "start": clock["start"],
        "warm_s": warm_s,
        "keys_scored": float(keys_scored),
        "generator_cpu_pct": round(100 * (time.process_time() - cpu0) / wall, 1),
        "server_cpu_pct": round(
            100 * (sum(cpu_seconds(pid) for pid in deployed.pids) - server0) / wall, 1
        ),
        "streamed": float(sum(conn.seq - warm_seqs[id(conn)] for conn in conns)),
        "acked_streamed": float(sum(conn.acked - warm_seqs[id(conn)] for conn in conns)),
    }


def run_rate(
    deployed: Deployed, symbols: tuple[str, ...], plan: Plan, positions: list[int]
) -> dict[str, Any]:
    """Offer ``plan.rate`` ticks/s to ``deployed``; return the figures of the run.

    ``positions[i]``: where tenant i's terminal is on the price paths, advanced past the
    ticks it sent: the next run goes on from there (a price that jumped back to a path's
    start would be quarantined as an outlier)."""
    paths = deployed.paths or price_paths(symbols)
    conns = [Connection(symbols=symbols, paths=paths, offset=position) for position in positions]
    tallies = [SignalTally() for _ in conns]
    run = asyncio.run(_run(deployed, conns, tallies, plan))
    for i, conn in enumerate(conns):
        positions[i] += conn.seq // len(symbols)
    samples = sorted((s for c in conns for s in c.samples), key=lambda s: s.sent)
    figures = latency_figures(samples, run["start"] + plan.warmup_s)
    per_second = figures.pop("per_second")
    last_ack = max(c.last_ack_at for c in conns)
    stream_s = plan.warmup_s + plan.seconds
    lag = sorted(v for c in conns for v in c.lag_ms)
    keys = len(conns) * len(symbols)
    return {
        "offered_ticks_per_s": plan.rate,
        # keys (tenant, symbol) the model had scored when the stream started, and the
        # closed-loop warm-up that took
        "keys_scored_before_stream": f"{run['keys_scored']:.0f} of {keys}",
        "warm_up_s": round(run["warm_s"], 1),
        "signals": signal_figures(tallies),
        "sent_ticks_per_s": round(run["streamed"] / stream_s, 1),
        # Acked ticks over the time from the stream's start to the last ack (the drain
        # included): below the offered rate when the servers fall behind.
        "acked_ticks_per_s": round(
            run["acked_streamed"] / max(stream_s, last_ack - run["start"]), 1
        ),
        **figures,
        "worst_second_p99_ms": max(
            (s["p99"] for s in per_second.values() if s["p99"] is not None), default=None
        ),
        "generator_send_lag_ms_p99": round(lag[int(0.99 * (len(lag) - 1))], 2) if lag else None,
        **totals(conns),
        "generator_cpu_pct": run["generator_cpu_pct"],
        "servers_cpu_pct": run["server_cpu_pct"],
    }
