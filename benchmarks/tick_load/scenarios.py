"""The scenarios: steady (one tenant, N symbols), aligned bar closes, cold start.

Each runs a fresh server child (``server.server_child``) with the tenants it needs; this
process is the load generator (one asyncio loop). ``noisy`` lives in ``tick_load.noisy``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tick_load.clients import (
    Connection,
    Schedule,
    SyntheticClock,
    drain,
    read_frames,
    reason_kind,
    start_together,
    stream,
    warm_terminal,
)
from tick_load.report import latency_figures, percentiles, totals
from tick_load.server import SOURCES, Layout, TenantSpec, cpu_seconds, server_child

HISTORY_MINUTES = 240  # steady: live price path per symbol, ~8k sample ticks
PATH_MINUTES = 60  # other scenarios: ~2k ticks per symbol, played back and forth
HOUR_MS = 3_600_000
TIMEFRAME_MS = {
    "M1": 60_000,
    "M5": 300_000,
    "M15": 900_000,
    "M30": 1_800_000,
    "H1": HOUR_MS,
    "H4": 4 * HOUR_MS,
    "D1": 24 * HOUR_MS,
}
END_MARGIN_MS = 10_000  # the synthetic clock ends at least this far before the wall clock


def ws_url(port: int, api_key: str) -> str:
    return f"ws://127.0.0.1:{port}/ws/ticks?api_key={api_key}"


async def run_warm(
    urls: Sequence[str],
    conns: Sequence[Connection],
    plans: Sequence[Schedule],
    on_go: Callable[[float], Awaitable[Any]] | None = None,
    metrics_url: str | None = None,
) -> tuple[float, float, Any]:
    """Run warm terminals together; return (clock start, generator CPU %, ``on_go``'s result).

    With ``metrics_url``, start only once the server's background state builds are done
    (its features rebuild counter unchanged for ``QUIET_S``): a steady-state measurement.
    """
    clock = {"ready": 0.0, "start": 0.0}
    go = asyncio.Event()
    tasks = [
        asyncio.create_task(warm_terminal(u, c, p, clock, go))
        for u, c, p in zip(urls, conns, plans, strict=True)
    ]
    await start_together(tasks, clock)
    if metrics_url is not None:
        await until_quiet(metrics_url)
    clock["start"] = time.perf_counter() + 0.5
    side = asyncio.create_task(on_go(clock["start"])) if on_go is not None else None
    go.set()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*tasks)
    generator_cpu = round(100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0), 1)
    return clock["start"], generator_cpu, (await side if side is not None else None)


async def server_profile(
    pid: int, window: tuple[float, float], out: Path | None, *, gil: bool = False
) -> None:
    """Record ``py-spy``'s raw profile of the server over a perf-counter window (``out``
    None: nothing): every thread, idle samples left out, or only the GIL's holder."""
    if out is None:
        return
    await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
    seconds = max(1, round(window[1] - time.perf_counter()))
    beside = Path(sys.executable).with_name("py-spy")  # installed in this environment
    spy = await asyncio.create_subprocess_exec(
        str(beside) if beside.exists() else "py-spy",
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "100",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(out),
        *(["--gil"] if gil else []),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await spy.wait()


async def server_cpu(pid: int, windows: Sequence[tuple[float, float]]) -> list[float]:
    """The server's CPU % over each (start, end) perf-counter window, read as they pass."""
    out: list[float] = []
    for start, end in windows:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        out.append(round(100 * (cpu_seconds(pid) - cpu0) / (time.perf_counter() - wall0), 1))
    return out


COUNTED = ("chainflow_tick_path_", "chainflow_features_")


async def scrape_counters(http: httpx.AsyncClient, metrics_url: str) -> dict[str, float]:
    """The server's tick-path and features counters, as scraped now."""
    text = (await http.get(metrics_url)).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(COUNTED) and not line.startswith("#"):
            name, value = line.split()[:2]
            out[name.removesuffix("_total").removeprefix("chainflow_")] = float(value)
    return out


async def counter_deltas(metrics_url: str, window: tuple[float, float]) -> dict[str, int]:
    """How much each counter of ``scrape_counters`` grew over a perf-counter window."""
    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        before = await scrape_counters(http, metrics_url)
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        after = await scrape_counters(http, metrics_url)
    return {name: int(after[name] - before.get(name, 0.0)) for name in sorted(after)}


# --- steady: today's benchmark, output unchanged (plus the per-second series) --------------


def run_steady(entry: str, clients: int, args: argparse.Namespace) -> dict[str, Any]:
    names = tuple(f"{SOURCES[i % len(SOURCES)]}.C{i:02d}" for i in range(clients))
    layout = Layout(
        tenants=(TenantSpec("bench@example.com", "enterprise", True, names),),
        path_minutes=HISTORY_MINUTES,
        alias={name: name.split(".")[0] for name in names},
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-tick-signal-") as tmp,
        server_child(entry, Path(tmp), layout) as ready,
    ):
        url = ws_url(ready.port, ready.tenants[0]["api_key"])
        conns = [Connection((name,), ready.paths) for name in names]
        rate, warmup = args.rate, args.warmup_seconds
        plans = [Schedule(rate / clients, k / rate, warmup, args.seconds) for k in range(clients)]
        cpu0, wall0 = cpu_seconds(ready.pid), time.perf_counter()
        start, generator_cpu, _ = asyncio.run(run_warm([url] * clients, conns, plans))
        server_cpu_percent = round(
            100 * (cpu_seconds(ready.pid) - cpu0) / (time.perf_counter() - wall0), 1
        )
        samples = [s for c in conns for s in c.samples]
        figures = latency_figures(samples, start + warmup)
        sums = totals(conns)
        measured = sum(len(c.measured) for c in conns)
        throughput = round(measured / (max(c.last_ack_at for c in conns) - start - warmup))
        lag = sorted(x for c in conns for x in c.lag_ms)
        return {
            "clients": clients,
            "target_rate": rate,
            "ticks_sent": sums["ticks_sent"],
            "ticks_acked": sums["ticks_acked"],
            "ticks_lost": sums["ticks_lost"],
            "measured_ticks": measured,
            "signals_received": sum(c.signals_measured for c in conns),
            "signals_missing": sums["signals_missing"],
            "throughput_acked_per_s": throughput,
            # The server could not keep up: ticks queued in front of it, so the client latency
            # is mostly waiting time (the server's latency_ms starts when it reads the frame).
            "saturated": throughput < 0.95 * rate,
            "client_latency_ms": figures["client_latency_ms"],
            "server_latency_ms": figures["server_latency_ms"],
            "generator_lag_ms": percentiles(lag, (50, 99)),
            "error_frames": sums["error_frames"],
            "generator_cpu_percent": generator_cpu,
            "server_cpu_percent": server_cpu_percent,
            "model": ready.model,
            "history_bars": ready.history_bars,
            "per_second": figures["per_second"],
        }


# --- aligned: every key crosses M1, M5 and H1 boundaries at the same moment ----------------


def boundaries(first_ms: int, last_ms: int, speed: float) -> list[dict[str, Any]]:
    """Bar boundaries in [first_ms, last_ms) of tick time: wall second after ``first_ms``
    (at ``speed``) and the timeframes whose bars close there."""
    out = []
    minute = TIMEFRAME_MS["M1"]
    for ts in range((first_ms // minute + 1) * minute, last_ms, minute):
        closing = [name for name, ms in TIMEFRAME_MS.items() if ts % ms == 0]
        out.append({"second": round((ts - first_ms) / 1000 / speed, 2), "timeframes": closing})
    return out


def aligned_origin(now_ms: int, args: argparse.Namespace) -> tuple[int, int]:
    """Return (the hour boundary crossed, the synthetic clock's origin) for a run starting
    at ``now_ms``: the latest hour whose run still ends ``END_MARGIN_MS`` before the wall
    clock, crossed ``--lead-seconds`` into the measured part."""
    speed, lead = args.time_speed, args.lead_seconds
    wall_end = now_ms + int((args.warmup_seconds + args.seconds) * 1000)
    synthetic_after = int((args.seconds - lead) * speed * 1000)
    hour = (wall_end - synthetic_after - END_MARGIN_MS) // HOUR_MS * HOUR_MS
    return hour, hour - int((args.warmup_seconds + lead) * speed * 1000)


QUIET_S = 5.0
QUIET_METRICS = (
    "chainflow_features_rebuilds_total",
    "chainflow_features_warming",
    "chainflow_tick_path_building",
)


async def until_quiet(metrics_url: str, max_s: float = 900.0) -> float:
    """Wait until no state build is pending (``chainflow_features_warming`` and
    ``chainflow_tick_path_building`` at 0) and ``chainflow_features_rebuilds_total`` has
    not changed for ``QUIET_S``; return the wait."""
    began = time.perf_counter()
    last, since = None, time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as http:
        while time.perf_counter() - began < max_s:
            text = (await http.get(metrics_url)).text
            values = {
                name: line.split()[-1]
                for line in text.splitlines()
                for name in QUIET_METRICS
                if line.startswith(name + " ")
            }
            value = values.get("chainflow_features_rebuilds_total")
            pending = any(float(values.get(name, 0.0)) > 0 for name in QUIET_METRICS[1:])
            if value != last or pending:
                last, since = value, time.perf_counter()
            elif time.perf_counter() - since >= QUIET_S:
                break
            await asyncio.sleep(0.5)
    return time.perf_counter() - began


def run_aligned(entry: str, args: argparse.Namespace) -> dict[str, Any]:
    n, per = args.tenants, args.symbols_per_tenant
    symbols = [tuple(SOURCES[(k + j) % len(SOURCES)] for j in range(per)) for k in range(n)]
    now_ms = int(time.time() * 1000)
    layout = Layout(
        tenants=tuple(
            TenantSpec(f"aligned-{k:03d}@example.com", "pro", False, symbols[k]) for k in range(n)
        ),
        path_minutes=PATH_MINUTES,
        history_end_ms=now_ms - 3 * HOUR_MS,  # the history ends before the synthetic clock
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-tick-aligned-") as tmp,
        server_child(entry, Path(tmp), layout) as ready,
    ):
        hour, origin = aligned_origin(int(time.time() * 1000), args)
        clock = SyntheticClock(origin, args.time_speed)
        conns = [Connection(symbols[k], ready.paths, clock, offset=17 * k) for k in range(n)]
        urls = [ws_url(ready.port, t["api_key"]) for t in ready.tenants]
        warmup, seconds = args.warmup_seconds, args.seconds
        plans = [
            Schedule(args.rate / n, k / args.rate, warmup, seconds, 3 * per, True) for k in range(n)
        ]

        metrics = f"http://127.0.0.1:{ready.port}/metrics"

        async def on_go(start: float) -> tuple[list[float], dict[str, int]]:
            clock.start(start)
            window = (start + warmup, start + warmup + seconds)
            cpu = asyncio.create_task(server_cpu(ready.pid, [window]))
            profile = asyncio.create_task(
                server_profile(ready.pid, window, args.profile, gil=args.profile_gil)
            )
            counters = await counter_deltas(metrics, window)
            await profile
            return await cpu, counters

        warm_began = time.perf_counter()
        start, generator_cpu, (cpu, counters) = asyncio.run(
            run_warm(urls, conns, plans, on_go, metrics)
        )
        warm_s = start - warm_began
    measure_ms = origin + int(warmup * args.time_speed * 1000)
    closes = boundaries(
        measure_ms, measure_ms + int(seconds * args.time_speed * 1000), args.time_speed
    )
    samples = [s for c in conns for s in c.samples]
    t0 = start + warmup
    at_closes = [s for s in samples if any(0 <= s.sent - t0 - b["second"] < 1 for b in closes)]
    return {
        "tenants": n,
        "symbols_per_tenant": per,
        "connections": n,
        "tier": "pro",
        "target_rate": args.rate,
        "time_speed": args.time_speed,
        "hour_crossed_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime(hour / 1000)),
        # every key's state built from its stored bars (its terminal's hello) before measuring
        "state_build_s": round(warm_s, 1),
        "bar_boundaries": closes,
        **latency_figures(samples, t0),
        "bar_close_seconds_client_latency_ms": percentiles(
            sorted(s.client_ms for s in at_closes), (50, 99, 99.9)
        ),
        **totals(conns),
        "generator_cpu_percent": generator_cpu,
        "server_cpu_percent": cpu[0],
        "server_counters_measured": counters,
        "model": ready.model,
        "history_bars_per_tenant": ready.history_bars * per // len(ready.paths),
        "server_setup_s": ready.setup_s,
    }


# --- cold: new tenants connect within a few seconds, first tick answered at once ----------


async def cold_terminal(
    url: str, conn: Connection, connect_at: float, rate: float, until: float
) -> None:
    """Connect at ``connect_at``, send the first tick alone until its ack, then stream."""
    await asyncio.sleep(max(0.0, connect_at - time.perf_counter()))
    async with connect(url, max_size=None, compression=None) as ws:
        await ws.send(conn.hello(with_symbols=True))
        reader = asyncio.create_task(read_frames(ws, conn))
        first = conn.next_tick()
        await ws.send(conn.send_now(first, measure=True))
        began = conn.sent_at[first["seq"]]
        deadline = began + 30  # the protocol: the first tick alone until its ack
        while conn.acked < 1 and not conn.errors and time.perf_counter() < deadline:
            await asyncio.sleep(0.002)
        await stream(ws, conn, rate, began + 1 / rate, until, measure=True)
        await drain(conn)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


def run_cold(entry: str, args: argparse.Namespace) -> dict[str, Any]:
    n, rate, spread, seconds = args.tenants, args.tenant_rate, args.connect_spread, args.seconds
    symbols = [(SOURCES[k % len(SOURCES)],) for k in range(n)]
    layout = Layout(
        tenants=tuple(
            TenantSpec(f"cold-{k:03d}@example.com", "pro", False, symbols[k]) for k in range(n)
        ),
        path_minutes=PATH_MINUTES,
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-tick-cold-") as tmp,
        server_child(entry, Path(tmp), layout) as ready,
    ):
        conns = [Connection(symbols[k], ready.paths, offset=17 * k) for k in range(n)]
        urls = [ws_url(ready.port, t["api_key"]) for t in ready.tenants]

        async def main() -> tuple[float, list[float], float]:
            go = time.perf_counter() + 0.5
            cpu0 = time.process_time()
            cpu = asyncio.create_task(server_cpu(ready.pid, [(go, go + spread + seconds)]))
            await asyncio.gather(
                *(
                    cold_terminal(u, c, go + k * spread / n, rate, go + k * spread / n + seconds)
                    for k, (u, c) in enumerate(zip(urls, conns, strict=True))
                )
            )
            generator = 100 * (time.process_time() - cpu0) / (time.perf_counter() - go)
            return go, await cpu, round(generator, 1)

        go, cpu, generator_cpu = asyncio.run(main())
    answered = [c for c in conns if c.first_frame is not None]
    first_reasons: Counter[str] = Counter()
    for c in answered:
        first_reasons[reason_kind(c.first_frame or {})] += 1
    to_model = sorted(c.model_at - c.first_sent for c in conns if c.model_at and c.first_sent)
    return {
        "tenants": n,
        "tier": "pro",
        "connect_spread_s": spread,
        "ticks_per_s_each": rate,
        "first_ticks_answered": len(answered),
        "first_ticks_unanswered": n - len(answered),
        "first_tick_latency_ms": percentiles(sorted(c.first_ms or 0.0 for c in answered), (50, 99)),
        "first_signal_reasons": dict(first_reasons.most_common()),
        "seconds_to_model_signal": percentiles(to_model, (50,)),
        "tenants_without_model_signal": n - len(to_model),
        **latency_figures([s for c in conns for s in c.samples], go),
        **totals(conns),
        "generator_cpu_percent": generator_cpu,
        "server_cpu_percent": cpu[0],
        "model": ready.model,
        "server_setup_s": ready.setup_s,
    }
