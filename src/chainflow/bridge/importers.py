"""Import history files into a tenant's time series: ``import_file`` and ``chainflow import``.

Parsing lives in ``import_formats`` (formats, encodings, time zones, error messages). Here
each parsed chunk is stored idempotently:

- rows repeated inside a chunk are dropped (ticks: same ts, bid, ask; bars: same ts);
- the store is scanned for the symbol over the chunk's ``[first ts, last ts + 1)`` and rows
  already stored are skipped: ticks with the same (ts, bid, ask), bars of the same
  timeframe with the same open time (whatever their values: a bar already built from live
  ticks wins over the imported one). Earlier chunks of the same file are already stored
  when a later chunk is checked, so duplicates across chunks are caught the same way.

Re-importing a file therefore stores nothing, and an overlapping file stores only its new
rows. Ticks go to the ``ticks`` table, bars to ``BAR_TABLE`` with the given timeframe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from chainflow.bridge.bar_table import BAR_TABLE, latest_bars, persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.bridge.import_formats import (
    DEFAULT_CHUNK_ROWS,
    IMPORT_FORMATS,
    ImportFormat,
    detect_format,
    iter_chunks,
    utc_offset_ms,
)
from chainflow.core.errors import ChainflowError, InvalidInput
from chainflow.core.ids import TenantId
from chainflow.core.market import Tick, Timeframe
from chainflow.storage.api import TimeSeriesStore

T = TypeVar("T")
ProgressCallback = Callable[[int, int], None]
"""Called after each chunk with (bytes read, data lines read) so far."""
KernelRunner = Callable[[str, Callable[[Any], Awaitable[T]]], Awaitable[T]]
"""Runs ``action(kernel)`` on a started tool-mode kernel with the named services."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What one import did. ``first_ts``/``last_ts`` span the rows read (None if none)."""

    path: Path
    format: ImportFormat
    symbol: str
    rows_read: int
    rows_stored: int
    duplicates_skipped: int
    rows_without_quote: int
    first_ts: int | None
    last_ts: int | None


def parse_timeframe(value: str) -> Timeframe:
    """Return the timeframe ``value`` names (any case); raise ``InvalidInput`` otherwise."""
    try:
        return Timeframe(value.strip().upper())
    except ValueError as e:
        expected = ", ".join(t.value for t in Timeframe)
        raise InvalidInput(f"expected a timeframe among {expected}; received {value!r}") from e


def _normalized_symbol(symbol: str) -> str:
    normalized = symbol.strip().upper()
    if not normalized or not normalized.replace(".", "").replace("_", "").isalnum():
        raise InvalidInput(f"expected a symbol such as EURUSD; received {symbol!r}")
    return normalized


async def import_file(
    store: TimeSeriesStore,
    tenant_id: TenantId,
    path: Path,
    symbol: str,
    fmt: ImportFormat | str = "auto",
    timeframe_for_bars: Timeframe = Timeframe.M1,
    progress_callback: ProgressCallback | None = None,
    *,
    tz_offset_hours: float = 0.0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ImportReport:
    """Store the rows of ``path`` for ``tenant_id`` and ``symbol``, skipping stored ones.

    ``fmt`` is ``"auto"`` (detected from the header) or one of ``IMPORT_FORMATS``. Raise
    ``InvalidInput`` for an unknown format, a header of another format, a malformed row or
    a ``tz_offset_hours`` outside -14..+14; chunks before a bad row stay stored, and a
    re-import after fixing the file adds only the rest.
    """
    symbol = _normalized_symbol(symbol)
    offset_ms = utc_offset_ms(tz_offset_hours)
    if fmt == "auto":
        resolved = detect_format(path)
    elif fmt in IMPORT_FORMATS:
        resolved = cast(ImportFormat, fmt)
    else:
        expected = ", ".join(("auto", *IMPORT_FORMATS))
        raise InvalidInput(f"expected a format among {expected}; received {fmt!r}")
    if resolved != "mt5-ticks":
        await store.ensure_table(BAR_TABLE)
    rows_read = stored = duplicates = without_quote = 0
    first_ts: int | None = None
    last_ts: int | None = None
    for chunk in iter_chunks(
        path,
        resolved,
        symbol,
        timeframe=timeframe_for_bars,
        tz_offset_ms=offset_ms,
        chunk_rows=chunk_rows,
    ):
        without_quote = chunk.rows_without_quote
        if chunk.rows:
            rows_read += len(chunk.rows)
            low = min(row.ts for row in chunk.rows)
            high = max(row.ts for row in chunk.rows)
            first_ts = low if first_ts is None else min(first_ts, low)
            last_ts = high if last_ts is None else max(last_ts, high)
            if resolved == "mt5-ticks":
                new = await _new_ticks(store, tenant_id, symbol, cast(list[Tick], chunk.rows))
                if new:
                    await store.append_ticks(tenant_id, new)
            else:
                bars = cast(list[AggregatedBar], chunk.rows)
                new = await _new_bars(store, tenant_id, symbol, timeframe_for_bars, bars)
                await persist_bars(store, tenant_id, new)
            stored += len(new)
            duplicates += len(chunk.rows) - len(new)
        if progress_callback is not None:
            progress_callback(chunk.bytes_read, chunk.lines_read)
    return ImportReport(
        path, resolved, symbol, rows_read, stored, duplicates, without_quote, first_ts, last_ts
    )


async def _new_ticks(
    store: TimeSeriesStore, tenant_id: TenantId, symbol: str, ticks: list[Tick]
) -> list[Tick]:
    start = min(t.ts for t in ticks)
    end = max(t.ts for t in ticks) + 1
    seen = {(t.ts, t.bid, t.ask) for t in await store.scan_ticks(tenant_id, symbol, start, end)}
    new: list[Tick] = []
    for tick in ticks:
        key = (tick.ts, tick.bid, tick.ask)
        if key not in seen:
            seen.add(key)
            new.append(tick)
    return new


async def _new_bars(
    store: TimeSeriesStore,
    tenant_id: TenantId,
    symbol: str,
    timeframe: Timeframe,
    bars: list[AggregatedBar],
) -> list[AggregatedBar]:
    start = min(b.ts for b in bars)
    end = max(b.ts for b in bars) + 1
    rows = await store.scan(
        BAR_TABLE.name, tenant_id=tenant_id, symbol=symbol, start_ms=start, end_ms=end
    )
    seen = {row["ts"] for row in latest_bars(rows) if row["timeframe"] == timeframe.value}
    new: list[AggregatedBar] = []
    for bar in bars:
        if bar.ts not in seen:
            seen.add(bar.ts)
            new.append(bar)
    return new


# --- the `chainflow import` command ------------------------------------------------------


def make_import_command(run_with_kernel: KernelRunner[ImportReport]) -> Callable[..., None]:
    """Return the ``chainflow import`` Typer command, running on kernels from ``run_with_kernel``.

    The bridge sits below ``runtime`` and cannot build a kernel itself, so the CLI passes its
    ``_with_kernel``: ``app.command("import")(make_import_command(_with_kernel))``.
    """

    def import_command(
        file: Annotated[Path, typer.Argument(help="MT5 tick/bar export or OHLCV CSV")],
        symbol: Annotated[str, typer.Option(help="symbol to store the rows under, e.g. EURUSD")],
        email: Annotated[str, typer.Option(help="email of a user; rows go to their tenant")],
        format: Annotated[
            str, typer.Option(help="auto, mt5-ticks, mt5-bars or csv (auto reads the header)")
        ] = "auto",
        timeframe: Annotated[str, typer.Option(help="timeframe of bar files")] = "M1",
        tz_offset_hours: Annotated[
            float,
            typer.Option(help="UTC offset of times without one (MT5 server time), -14..+14"),
        ] = 0.0,
    ) -> None:
        """Import a MetaTrader 5 history export or an OHLCV CSV; re-importing adds nothing."""
        try:
            utc_offset_ms(tz_offset_hours)
        except InvalidInput as e:
            _fail(f"--tz-offset-hours: {e.message}", exit_code=2)
        try:
            bar_timeframe = parse_timeframe(timeframe)
            if not file.is_file():
                raise InvalidInput(f"expected FILE to be a readable file; received {str(file)!r}")
        except InvalidInput as e:
            _fail(e.message)
        size = file.stat().st_size
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
        with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as progress:
            task = progress.add_task(f"importing {file.name}", total=size)

            def on_progress(bytes_read: int, _lines: int) -> None:
                progress.update(task, completed=bytes_read)

            async def action(kernel: Any) -> ImportReport:
                async with kernel.infra.database.unit_of_work(system=True) as uow:
                    tenant_id = await kernel.users.admin.tenant_id_for_email(uow, email)
                store = kernel.infra.timeseries
                # Tool-mode kernels leave the store closed (a server may hold it); open it here.
                await store.start()
                try:
                    return await import_file(
                        store, tenant_id, file, symbol, format, bar_timeframe, on_progress,
                        tz_offset_hours=tz_offset_hours,
                    )  # fmt: skip
                finally:
                    await store.close()

            try:
                report = asyncio.run(run_with_kernel("hub,storage,users", action))
            except ChainflowError as e:
                progress.stop()
                _fail(e.message)
            except KeyboardInterrupt:
                raise typer.Exit(code=130) from None
            progress.update(task, completed=size)
        _print_summary(report)

    return import_command


def _print_summary(report: ImportReport) -> None:
    from datetime import UTC, datetime

    def moment(ts: int | None) -> str:
        return "-" if ts is None else datetime.fromtimestamp(ts / 1000, UTC).isoformat()

    console = Console(soft_wrap=True)
    console.print(
        f"{report.path.name} ({report.format}) → {report.symbol}: "
        f"{report.rows_read} rows read, {report.rows_stored} stored, "
        f"{report.duplicates_skipped} duplicates skipped"
        + (f", {report.rows_without_quote} without a quote" if report.rows_without_quote else "")
        + f"; {moment(report.first_ts)} .. {moment(report.last_ts)}",
        highlight=False,
    )


def _fail(message: str, *, exit_code: int = 1) -> NoReturn:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=exit_code)


def read_bar_file(
    path: Path, symbol: str, *, timeframe: Timeframe = Timeframe.M1, tz_offset_ms: int = 0
) -> list[AggregatedBar]:
    """Return every bar of an MT5 bar export or OHLCV CSV, ordered by time, one per open time.

    For files read outside the server (``chainflow train --data FILE``). Raise
    ``InvalidInput`` for a tick file, an unknown header or a malformed row.
    """
    fmt = detect_format(path)
    if fmt == "mt5-ticks":
        raise InvalidInput(
            f"expected a bar file (mt5-bars or OHLCV csv); received a tick export: {path}"
        )
    bars: dict[int, AggregatedBar] = {}
    for chunk in iter_chunks(path, fmt, symbol, timeframe=timeframe, tz_offset_ms=tz_offset_ms):
        for bar in chunk.rows:
            bars[bar.ts] = bar  # type: ignore[assignment]
    return [bars[ts] for ts in sorted(bars)]
