"""``chainflow demo``: the whole platform in one command, on a fresh clone.

It starts the server in this process on embedded storage (a temporary ``CHAINFLOW_HOME``
unless ``--home`` is given, a free port), makes sure a production model exists
(``ensure_default_model``: loaded, or trained on sample data in seconds), creates a demo
tenant, user and API key through the HTTP API, stores a few days of sample bars so that
the features are warm, then replays sample ticks through ``WS /ws/ticks`` with the client
SDK (``"signals": "every_tick"``, so every tick's signal and its latency come back), one
tick at a time so that every run gives the same signals, trades and account
(``demo.replay``). A Rich live table shows the signals per symbol and a panel the
tenant's paper account (every bar-close signal is paper-traded); at the end come a summary
(with the account and its attribution) and the URLs to explore (kept up with
``--keep-running``).

The module imports only light things; the server stack is imported when the demo runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from chainflow.demo.view import DemoState, SymbolState, render, summary_lines

if TYPE_CHECKING:
    import httpx

    from chainflow.client.mt5 import Mt5Client
    from chainflow.core.market import Tick, Timeframe
    from chainflow.demo.server import DemoAccount, DemoServer

PAPER_ACCOUNT_PATH = "/api/v1/trading/paper"
"""The paper-account hook: polled during the replay; the panel shows when it answers 200."""
ATTRIBUTION_PATH = "/api/v1/trading/attribution"
"""Read once after the replay for the summary (P&L and hit rate by symbol)."""
SIGNALS_PATH = "/api/v1/signals?limit=1000"
"""Read once after the replay: the bar-close signals issued (``DemoState.issued``)."""
SIGNAL_GRACE_S = 3.0
"""How long to wait after the last ack for the signals still on their way."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``chainflow demo`` runs; see ``demo_command`` for each option."""

    home: Path | None = None
    port: int | None = None
    symbols: tuple[str, ...] = ("EURUSD", "GBPUSD", "USDJPY")
    minutes: float | None = 30.0
    ticks: int | None = None
    speed: float | None = 120.0
    keep_running: bool = False
    signals_mode: str = "every_tick"
    risk_tolerance: str = "aggressive"
    tune_gc: bool = True  # freeze the started heap: a process that only runs the demo


async def run_demo(options: DemoOptions, console: Console) -> DemoState:
    """Run the demo end to end; return the final state (the summary's figures)."""
    from chainflow.core.market import Timeframe
    from chainflow.demo.market import WEEK_MS, build_demo_market, describe_window
    from chainflow.demo.server import (
        DemoServer,
        create_account,
        ensure_model,
        set_risk_tolerance,
        store_history,
    )

    temporary = options.home is None
    home = options.home or Path(tempfile.mkdtemp(prefix="chainflow-demo-")) / "home"
    server = DemoServer(home, options.port, tune_gc=options.tune_gc)
    began = time.perf_counter()
    try:
        await server.start()
        console.print(
            f"[bold]ChainFlow[/] server on {server.base_url} (embedded storage in {home})",
            highlight=False,
        )
        model = await ensure_model(server)
        how = f"trained in {model.seconds:.1f} s" if model.trained else "loaded"
        accuracy = f", out-of-sample accuracy {model.accuracy:.1%}" if model.accuracy else ""
        console.print(
            f"model {model.ref} ({model.family}, {model.timeframe}) {how}{accuracy}",
            highlight=False,
        )
        console.print(f"verdict: {model.verdict}", highlight=False, markup=False)
        if model.forced:
            console.print(
                f"promoted against its verdict ({model.forced}): its signals show the "
                "platform working, not an edge to trade",
                highlight=False,
                markup=False,
            )
        account = await create_account(server, email=f"demo-{secrets.token_hex(3)}@example.com")
        await set_risk_tolerance(server, account, options.risk_tolerance)
        console.print(
            f"demo user {account.email} / password {account.password} (shown once), "
            f"API key {account.api_key[:12]}… (ticks:write), "
            f"risk tolerance {options.risk_tolerance}",
            highlight=False,
        )
        market = await asyncio.to_thread(
            build_demo_market,
            options.symbols,
            now_ms=server.kernel.clock.now_ms(),
            minutes=options.minutes,
            max_ticks=options.ticks,
            shift_step_ms=WEEK_MS,  # the sample's weekday and hour, whenever the demo runs
        )
        stored = await store_history(server, account.tenant_id, market.bars)
        console.print(
            f"history: {stored:,} sample bars stored (features warm); replaying "
            f"{len(market.ticks):,} ticks of {', '.join(market.symbols)}, "
            f"{describe_window(market)}, speed {_speed_text(options.speed)}",
            highlight=False,
        )
        state = DemoState(
            total_ticks=len(market.ticks),
            symbols={s: SymbolState() for s in market.symbols},
            offset_ms=market.offset_ms,
        )
        timeframe = Timeframe(model.timeframe or "M5")
        open_bars: dict[str, int] = {}  # the last history bar of each symbol
        for bar in market.bars:
            if bar.timeframe == timeframe:
                open_bars[bar.symbol] = max(bar.ts, open_bars.get(bar.symbol, bar.ts))
        await _replay_live(
            server, account, market.ticks, options, state, console, (timeframe, open_bars)
        )
        state.elapsed_s = state.elapsed_s or time.perf_counter() - began
        console.print()
        for line in summary_lines(state):
            console.print(line, highlight=False)
        console.print(f"total: {time.perf_counter() - began:.1f} s", highlight=False)
        _print_urls(console, server, account, market.symbols, options.keep_running)
        if options.keep_running and not server.stopped:
            console.print("[bold]server running[/]: press Ctrl-C to stop", highlight=False)
            await server.wait()
        return state
    finally:
        await server.stop()
        if temporary:
            shutil.rmtree(home.parent, ignore_errors=True)


async def _replay_live(
    server: DemoServer,
    account: DemoAccount,
    ticks: tuple[Tick, ...],
    options: DemoOptions,
    state: DemoState,
    console: Console,
    bars: tuple[Timeframe, dict[str, int]],
) -> None:
    import httpx
    from rich.live import Live

    from chainflow.client.mt5 import Mt5Client
    from chainflow.demo.replay import ReplayLockstep, send_ticks

    sent_at: dict[int, float] = {}

    def on_sent(items: list[dict[str, Any]], at: float) -> None:
        for item in items:
            sent_at[item["seq"]] = at
        state.record_sent(items)

    client = Mt5Client(
        f"{server.ws_base_url}/ws/ticks",
        account.api_key,
        signals_mode=options.signals_mode,
        symbols=tuple(state.symbols),
        max_reconnect_attempts=2,
        on_sent=on_sent,
        signal_buffer=100_000,
        linger_s=0.0,  # one tick per frame: the replay waits for each (ReplayLockstep)
    )
    trading = server.kernel.trading
    lockstep = (
        ReplayLockstep(client, trading, account.tenant_id, bars[0], open_bars=bars[1])
        if trading is not None
        else None
    )
    began = time.perf_counter()
    http = httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {account.access_token}"},
        timeout=5,
    )
    with Live(render(state), console=console, refresh_per_second=4) as live:
        await client.connect()
        tasks = [
            asyncio.create_task(_consume(client, state, sent_at)),
            asyncio.create_task(_poll_paper(http, state)),
            asyncio.create_task(_redraw(live, state, began)),
        ]
        try:
            if trading is not None and ticks:  # as a terminal's hello would: states built first
                await trading.tick_path.warm(account.tenant_id, list(state.symbols), ticks[0].ts)
            replay = asyncio.create_task(send_ticks(client, ticks, options.speed, lockstep))
            serving = asyncio.create_task(server.wait())
            done, _ = await asyncio.wait({replay, serving}, return_when=asyncio.FIRST_COMPLETED)
            if replay not in done:  # Ctrl-C stopped the server mid-replay
                replay.cancel()
                raise KeyboardInterrupt
            serving.cancel()
            replay.result()
            state.elapsed_s = time.perf_counter() - began
            await _await_signals(client, state, every_tick=options.signals_mode == "every_tick")
            await _read_account(http, state)
        finally:
            state.acked, state.rejected = client.stats.settled, dict(client.stats.rejected)
            state.unsettled = lockstep.unsettled if lockstep is not None else 0
            await client.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await http.aclose()
            live.update(render(state))


async def _await_signals(client: Mt5Client, state: DemoState, *, every_tick: bool) -> None:
    # With every_tick one signal per acked tick is due; on_change has no count to wait for.
    deadline = time.perf_counter() + (SIGNAL_GRACE_S if every_tick else 0.5)
    while time.perf_counter() < deadline:
        state.acked = client.stats.settled
        if state.signals >= state.acked > 0:
            return
        await asyncio.sleep(0.05)


async def _consume(client: Mt5Client, state: DemoState, sent_at: dict[int, float]) -> None:
    async for frame in client.signals():
        seq = frame.get("seq")
        sent = sent_at.pop(seq, None) if isinstance(seq, int) else None
        latency = (time.perf_counter() - sent) * 1000 if sent is not None else None
        state.record_signal(frame, latency)


async def _poll_paper(http: httpx.AsyncClient, state: DemoState) -> None:
    """The paper-account hook: show ``GET /api/v1/trading/paper`` once the route exists."""
    while True:
        try:
            response = await http.get(PAPER_ACCOUNT_PATH)
        except Exception:  # the panel is optional; the replay goes on without it
            response = None
        if response is None or response.status_code in (404, 405):
            return
        if response.status_code == 200 and isinstance(body := response.json(), dict):
            state.paper = body
        await asyncio.sleep(1.0)


async def _read_account(http: httpx.AsyncClient, state: DemoState) -> None:
    """Read the final paper account, its attribution and the signals issued."""
    for path in (PAPER_ACCOUNT_PATH, ATTRIBUTION_PATH, SIGNALS_PATH):
        try:
            response = await http.get(path)
        except Exception:  # optional figures: the summary goes on without them
            continue
        if response.status_code == 200 and isinstance(body := response.json(), dict):
            if path == PAPER_ACCOUNT_PATH:
                state.paper = body
            elif path == ATTRIBUTION_PATH:
                state.attribution = body
            else:
                state.issued = list(reversed(body.get("items") or []))  # oldest first


async def _redraw(live: Any, state: DemoState, began: float) -> None:
    while True:
        state.elapsed_s = time.perf_counter() - began
        live.update(render(state))
        await asyncio.sleep(0.25)


def _print_urls(
    console: Console,
    server: DemoServer,
    account: DemoAccount,
    symbols: tuple[str, ...],
    keep_running: bool,
) -> None:
    base, symbol = server.base_url, symbols[0] if symbols else "EURUSD"
    header = (
        "explore" if keep_running else "explore (run with --keep-running to keep the server up)"
    )
    console.print(f"\n[bold]{header}[/]:", highlight=False)
    for line in (
        f"  API docs      {base}/docs",
        f"  signals       {base}/api/v1/signals?symbol={symbol}&limit=20",
        f"  paper account {base}{PAPER_ACCOUNT_PATH}",
        f"  attribution   {base}{ATTRIBUTION_PATH}",
        f"  bars          {base}/api/v1/market/bars?symbol={symbol}&timeframe=M5&limit=50",
        f"  metrics       {base}/metrics",
        f"  live stream   {server.ws_base_url}/ws/stream?access_token=<token>",
        f"  login         {account.email} / {account.password}",
        f"  token         {account.access_token}",
        f"  curl          curl -H 'Authorization: Bearer <token>' '{base}/api/v1/signals?limit=5'",
    ):
        console.print(line, highlight=False, soft_wrap=True)


def _speed_text(speed: float | None) -> str:
    return "max" if speed is None else f"{speed:g}x"


def demo_command(
    symbols: Annotated[str, typer.Option(help="comma-separated sample symbols")] = (
        "EURUSD,GBPUSD,USDJPY"
    ),
    minutes: Annotated[float, typer.Option(help="minutes of sample market to replay")] = 30.0,
    ticks: Annotated[
        int | None, typer.Option(help="replay at most this many ticks (overrides --minutes)")
    ] = None,
    speed: Annotated[str, typer.Option(help="'max' or a factor of market time, e.g. 60x")] = "120x",
    home: Annotated[
        Path | None, typer.Option(help="CHAINFLOW_HOME to use (default: a temporary directory)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default: a free one)")] = None,
    keep_running: Annotated[
        bool, typer.Option(help="leave the server up after the replay (Ctrl-C stops it)")
    ] = False,
    signals: Annotated[
        str, typer.Option(help="'every_tick' (latency of each tick) or 'on_change'")
    ] = "every_tick",
    risk_tolerance: Annotated[
        str, typer.Option(help="the demo tenant's: conservative, moderate or aggressive")
    ] = "aggressive",
) -> None:
    """Run the platform on sample data: server, model, demo tenant, live signals."""
    from chainflow.client.replay import parse_speed

    if signals not in ("every_tick", "on_change"):
        raise typer.BadParameter(f"expected 'every_tick' or 'on_change'; received {signals!r}")
    names = tuple(s.strip().upper() for s in symbols.split(",") if s.strip())
    options = DemoOptions(
        home=home,
        port=port,
        symbols=names,
        minutes=minutes if ticks is None else None,
        ticks=ticks,
        speed=parse_speed(speed),
        keep_running=keep_running,
        signals_mode=signals,
        risk_tolerance=risk_tolerance,
    )
    console = Console(soft_wrap=True)
    if not console.is_terminal:  # pipes and CI logs do not wrap: room for the whole table
        console = Console(soft_wrap=True, width=120)
    from chainflow.runtime.server import run_serving

    try:
        run_serving(run_demo(options, console))
    except KeyboardInterrupt:
        console.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as e:
        with contextlib.suppress(Exception):
            console.print(f"[bold red]demo failed:[/] {type(e).__name__}: {e}", highlight=False)
        raise typer.Exit(1) from e
