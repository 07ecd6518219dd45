"""``chainflow replay``: stream an MT5 tick export to ``WS /ws/ticks`` with ``Mt5Client``.

Reads MetaTrader 5 tick exports (and the sample generator's ``SYMBOL_ticks.tsv``, which
uses the same layout): tab-separated, header ``<DATE> <TIME> <BID> <ASK> <LAST> <VOLUME>
<FLAGS>``, DATE ``YYYY.MM.DD``, TIME ``HH:MM:SS.mmm``, an empty BID or ASK carries the
previous value forward. UTF-8 or UTF-16 (MT5's default export encoding), times taken as UTC.

``shift_to_now`` (default on) moves every timestamp by one offset so that the file's last
tick is "now": the server refuses ticks older than the tenant's retention window (30 days
on the free tier) as ``stale_timestamp``, and sample or historic files are usually older.

The summary counts the signals by action and says why the server held: a ``hold`` carries
its reasons (features warming up, no production model — with the command that trains one),
and the most frequent are printed once at the end rather than with every tick.
"""

from __future__ import annotations

import asyncio
import codecs
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chainflow.client.frames import Mt5ClientError
from chainflow.client.mt5 import Mt5Client
from chainflow.core.clock import Clock, WallClock

ProgressCallback = Callable[[int, int, int], None]
"""Called as ``progress(sent, acked, total)``."""


class ReplayFileError(ValueError):
    """The file is not an MT5 tick export; the message names the line."""


@dataclass(slots=True)
class ReplaySummary:
    total: int = 0
    sent: int = 0
    acked: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    signals: int = 0
    reconnects: int = 0
    elapsed_s: float = 0.0
    actions: Counter[str] = field(default_factory=Counter)
    hold_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def ticks_per_s(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def record_signal(self, frame: dict[str, Any]) -> None:
        """Count a signal frame by action; remember why a ``hold`` held (its first reason)."""
        action = str(frame.get("action"))
        self.actions[action] += 1
        reasons = frame.get("reasons") or []
        if action == "hold" and reasons:
            self.hold_reasons[str(reasons[0])] += 1


def summary_lines(summary: ReplaySummary, *, reasons: int = 3) -> list[str]:
    """Return the end-of-replay lines: the counts, then the most frequent hold reasons."""
    rejected = ", ".join(f"{k}={v}" for k, v in sorted(summary.rejected.items())) or "none"
    actions = ", ".join(f"{k} {v}" for k, v in sorted(summary.actions.items()))
    lines = [
        f"sent {summary.sent}, acked {summary.acked}, rejected {rejected}, "
        f"signals {summary.signals}{f' ({actions})' if actions else ''}, "
        f"reconnects {summary.reconnects}, "
        f"{summary.ticks_per_s:,.0f} ticks/s in {summary.elapsed_s:.1f} s"
    ]
    for reason, count in summary.hold_reasons.most_common(reasons):
        lines.append(f"hold x{count}: {reason}")
    return lines


def read_mt5_ticks(path: Path) -> Iterator[tuple[int, float, float, float]]:
    """Yield ``(ts_ms, bid, ask, volume)`` from an MT5 tick export, in file order."""
    with path.open("rb") as raw:
        head = raw.read(4)
    encoding = "utf-16" if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    with path.open(encoding=encoding, newline="") as stream:
        header = stream.readline().strip().split("\t")
        try:
            col = {name: header.index(name) for name in ("<DATE>", "<TIME>", "<BID>", "<ASK>")}
        except ValueError:
            received = " ".join(header)[:80]
            raise ReplayFileError(
                f"{path}:1: expected an MT5 tick header with <DATE> <TIME> <BID> <ASK>; "
                f"received {received!r}"
            ) from None
        vol = header.index("<VOLUME>") if "<VOLUME>" in header else None
        bid = ask = None
        for number, line in enumerate(stream, start=2):
            row = line.rstrip("\r\n").split("\t")
            if row == [""]:
                continue
            try:
                ts = _parse_ts(row[col["<DATE>"]], row[col["<TIME>"]])
                bid = float(row[col["<BID>"]]) if row[col["<BID>"]] else bid
                ask = float(row[col["<ASK>"]]) if row[col["<ASK>"]] else ask
                volume = float(row[vol]) if vol is not None and vol < len(row) and row[vol] else 0
            except (ValueError, IndexError) as e:
                raise ReplayFileError(f"{path}:{number}: malformed tick row {line!r}: {e}") from e
            if bid is not None and ask is not None:  # leading rows with one side only: skip
                yield ts, bid, ask, volume


_TIME = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$")


def _parse_ts(day: str, clock: str) -> int:
    match = _TIME.match(clock)
    if match is None:
        raise ValueError(f"expected TIME HH:MM:SS.mmm; received {clock!r}")
    h, m, s, ms = match.groups()
    date = datetime.strptime(day, "%Y.%m.%d").replace(tzinfo=UTC)
    seconds = int(date.timestamp()) + int(h) * 3600 + int(m) * 60 + int(s)
    return seconds * 1000 + int((ms or "0").ljust(3, "0"))


async def replay_file(
    path: Path,
    url: str,
    api_key: str,
    symbol: str,
    speed: float | None,
    progress: ProgressCallback | None = None,
    *,
    shift_to_now: bool = True,
    on_signal: Callable[[dict[str, Any]], None] | None = None,
    drain_timeout_s: float = 60.0,
    client_options: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> ReplaySummary:
    """Stream ``path`` to ``url``; pace by tick time / ``speed`` (``None``: no pacing)."""
    clock = clock or WallClock()
    if speed is not None and speed <= 0:
        raise ValueError(f"speed must be > 0; received {speed}")
    total, last_ts = 0, None
    for ts, *_ in read_mt5_ticks(path):  # first pass: count and find the last tick
        total, last_ts = total + 1, ts
    offset = clock.now_ms() - last_ts if shift_to_now and last_ts is not None else 0
    summary = ReplaySummary(total=total)
    began = time.perf_counter()
    client = Mt5Client(url, api_key, **(client_options or {}))
    await client.connect()
    signals = asyncio.create_task(_consume_signals(client, summary, on_signal))
    try:
        first_ts: int | None = None
        for ts, bid, ask, volume in read_mt5_ticks(path):
            if speed is not None:
                first_ts = ts if first_ts is None else first_ts
                ahead = (ts - first_ts) / 1000 / speed - (time.perf_counter() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await client.send_tick(symbol, ts + offset, bid, ask, volume)
            summary.sent += 1
            if progress is not None and summary.sent % 100 == 0:
                progress(summary.sent, client.stats.settled, total)
        await client.drain(drain_timeout_s)
        if (client_options or {}).get("signals_mode") == "every_tick":
            await _settle_signals(client, timeout_s=min(drain_timeout_s, 10.0))
    finally:
        stats = client.stats
        summary.acked, summary.rejected = stats.settled, dict(stats.rejected)
        summary.signals, summary.reconnects = stats.signals, stats.reconnects
        summary.elapsed_s = time.perf_counter() - began
        await client.close()
        await signals
    if progress is not None:
        progress(summary.sent, summary.acked, total)
    return summary


async def _settle_signals(client: Mt5Client, timeout_s: float, quiet_s: float = 0.5) -> None:
    """Wait for the signals of the stored ticks, which may follow their acks.

    A tick is acked once stored, and its signal is computed beside that: the last signals
    can arrive after the last ack. Stop when every stored tick has one, or when none came
    for ``quiet_s`` (under load the server scores a symbol's queued ticks once, at the
    newest), or after ``timeout_s``.
    """
    stats = client.stats
    deadline = time.perf_counter() + timeout_s
    seen, quiet_since = stats.signals, time.perf_counter()
    while time.perf_counter() < deadline:
        if stats.signals >= stats.settled - sum(stats.rejected.values()):
            return
        await asyncio.sleep(0.02)
        if stats.signals != seen:
            seen, quiet_since = stats.signals, time.perf_counter()
        elif time.perf_counter() - quiet_since >= quiet_s:
            return


async def _consume_signals(
    client: Mt5Client,
    summary: ReplaySummary,
    on_signal: Callable[[dict[str, Any]], None] | None,
) -> None:
    async for frame in client.signals():
        summary.record_signal(frame)
        if on_signal is not None:
            on_signal(frame)


def parse_speed(text: str) -> float | None:
    """``max`` -> ``None`` (no pacing); ``10x``/``10``/``0.5x`` -> the factor."""
    value = text.strip().lower()
    if value == "max":
        return None
    try:
        factor = float(value.removesuffix("x"))
    except ValueError:
        factor = 0.0
    if not factor > 0:
        raise typer.BadParameter(f"expected 'max' or a factor like '10x'; received {text!r}")
    return factor


def ws_ticks_url(url: str) -> str:
    """Accept ``http(s)://host:port`` or a bare host URL: point it at ``/ws/ticks``."""
    url = re.sub(r"^http", "ws", url.strip())
    scheme, _, rest = url.partition("://")
    return url if "/" in rest.rstrip("/") else f"{scheme}://{rest.rstrip('/')}/ws/ticks"


def replay_command(
    file: Annotated[Path, typer.Argument(help="MT5 tick export (.tsv/.csv)", exists=True)],
    url: Annotated[str, typer.Option(help="server URL")] = "ws://127.0.0.1:8000/ws/ticks",
    api_key: Annotated[
        str, typer.Option(help="API key with ticks:write", envvar="CHAINFLOW_API_KEY")
    ] = "",
    symbol: Annotated[str, typer.Option(help="symbol; default: the file name's prefix")] = "",
    speed: Annotated[str, typer.Option(help="'max' or a factor like 10x, 1x")] = "max",
    shift_to_now: Annotated[
        bool, typer.Option(help="shift times so the last tick is now (retention window)")
    ] = True,
) -> None:
    """Stream an MT5 tick export to WS /ws/ticks and print the signals received."""
    console = Console(stderr=True)
    if not api_key:
        raise typer.BadParameter("an API key is required (--api-key or CHAINFLOW_API_KEY)")
    factor = parse_speed(speed)
    name = symbol or file.name.split("_")[0].split(".")[0].upper()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(f"replay {name}", total=None)

        def on_progress(sent: int, acked: int, total: int) -> None:
            bar.update(task, completed=acked, total=total, description=f"sent {sent}")

        explained: set[str] = set()  # a hold's reason is printed once, not with every tick

        def on_signal(frame: dict[str, Any]) -> None:
            reasons = frame.get("reasons") or []
            why = str(reasons[0]) if frame.get("action") == "hold" and reasons else ""
            bar.console.print(
                f"signal {frame.get('symbol')} {frame.get('action')} "
                f"conf={frame.get('confidence')} size={frame.get('size')} seq={frame.get('seq')}"
                + (f" ({why})" if why and why not in explained else ""),
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            explained.add(why)

        try:
            summary = asyncio.run(
                replay_file(
                    file,
                    ws_ticks_url(url),
                    api_key,
                    name,
                    factor,
                    on_progress,
                    shift_to_now=shift_to_now,
                    on_signal=on_signal,
                )
            )
        except (Mt5ClientError, ReplayFileError, TimeoutError, OSError) as e:
            console.print(f"[red]replay failed:[/red] {e or type(e).__name__}")
            raise typer.Exit(1) from e
    for line in summary_lines(summary):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
