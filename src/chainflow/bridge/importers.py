"""Import history files into a tenant's time series: ``import_file`` and ``chainflow import``.

Parsing lives in ``bar_files`` (formats, encodings, time zones, columns, error messages; the
one reader every command uses, re-exported here as ``read_bar_file``). Here
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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from chainflow.bridge.bar_files import (
    DEFAULT_CHUNK_ROWS,
    IMPORT_FORMATS,
    ColumnChoices,
    ImportFormat,
    Warn,
    detect_format,
    iter_chunks,
    parse_spread_unit,
    read_bar_file,
    utc_offset_ms,
    warn_ignored_columns,
    warn_on_stderr,
)
from chainflow.bridge.bar_table import BAR_TABLE, latest_bars, persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.core.errors import ChainflowError, InvalidInput
from chainflow.core.ids import TenantId
from chainflow.core.market import Tick, Timeframe
from chainflow.storage.api import TimeSeriesStore

__all__ = ["ImportJob", "ImportReport", "import_file", "make_import_command", "read_bar_file"]

ProgressCallback = Callable[[int, int], None]
"""Called after each chunk with (bytes read, data lines read) so far."""


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
    choices: ColumnChoices | None = None,
    warn: Warn | None = None,
) -> ImportReport:
    """Store the rows of ``path`` for ``tenant_id`` and ``symbol``, skipping stored ones.

    ``fmt`` is ``"auto"`` (detected from the header) or one of ``IMPORT_FORMATS``. Raise
    ``InvalidInput`` for an unknown format, a header of another format, a malformed row or
    a ``tz_offset_hours`` outside -14..+14; chunks before a bad row stay stored, and a
    re-import after fixing the file adds only the rest. ``choices`` (adjusted close, spread
    unit) and ``warn`` (told the ignored columns) are passed to the reader.
    """
    symbol = _normalized_symbol(symbol)
    offset_ms = utc_offset_ms(tz_offset_hours)
    if fmt == "auto":
        resolved = detect_format(path)
    elif fmt in IMPORT_FORMATS:
        resolved = fmt
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
        choices=choices or ColumnChoices(),
        warn=warn,
    ):
        without_quote = chunk.rows_without_quote
        if chunk.rows:
            rows_read += len(chunk.rows)
            low = min(row.ts for row in chunk.rows)
            high = max(row.ts for row in chunk.rows)
            first_ts = low if first_ts is None else min(first_ts, low)
            last_ts = high if last_ts is None else max(last_ts, high)
            if resolved == "mt5-ticks":
                ticks = cast(list[Tick], chunk.rows)
                new_ticks = await _new_ticks(store, tenant_id, symbol, ticks)
                if new_ticks:
                    await store.append_ticks(tenant_id, new_ticks)
                added = len(new_ticks)
            else:
                bars = cast(list[AggregatedBar], chunk.rows)
                new_bars = await _new_bars(store, tenant_id, symbol, timeframe_for_bars, bars)
                await persist_bars(store, tenant_id, new_bars)
                added = len(new_bars)
            stored += added
            duplicates += len(chunk.rows) - added
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

UseAdjClose = Annotated[
    bool,
    typer.Option(
        "--use-adj-close",
        help="CSV: use Adj Close as the close and scale open/high/low by it (default: ignore it)",
    ),
]
SpreadUnitOption = Annotated[
    str | None,
    typer.Option(
        help="unit of a Spread column whose header does not say it: points (default) or price"
    ),
]


@dataclass(frozen=True, slots=True)
class ImportJob:
    """One ``chainflow import``: which file goes to the tenant of which user, read how.

    The CLI runs it on a tool-mode kernel, or hands it to the server that owns the home
    (``to_json``/``from_json``), which runs it on its own store.
    """

    file: Path
    symbol: str
    email: str
    format: str = "auto"
    timeframe: Timeframe = Timeframe.M1
    tz_offset_hours: float = 0.0
    choices: ColumnChoices = ColumnChoices()

    async def run(
        self,
        store: TimeSeriesStore,
        tenant_id: TenantId,
        progress_callback: ProgressCallback | None = None,
    ) -> ImportReport:
        """Import the file into ``store`` for ``tenant_id`` (see ``import_file``)."""
        return await import_file(
            store,
            tenant_id,
            self.file,
            self.symbol,
            self.format,
            self.timeframe,
            progress_callback,
            tz_offset_hours=self.tz_offset_hours,
            choices=self.choices,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the job as JSON values (the file as an absolute path)."""
        return {
            "file": str(self.file.resolve()),
            "symbol": self.symbol,
            "email": self.email,
            "format": self.format,
            "timeframe": self.timeframe.value,
            "tz_offset_hours": self.tz_offset_hours,
            "use_adj_close": self.choices.use_adj_close,
            "spread_unit": self.choices.spread_unit,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ImportJob:
        """Return the job ``raw`` describes; raise ``InvalidInput`` for a bad field."""
        try:
            return cls(
                file=Path(str(raw["file"])),
                symbol=str(raw["symbol"]),
                email=str(raw["email"]),
                format=str(raw.get("format", "auto")),
                timeframe=parse_timeframe(str(raw.get("timeframe", "M1"))),
                tz_offset_hours=float(raw.get("tz_offset_hours", 0.0)),
                choices=ColumnChoices(
                    use_adj_close=bool(raw.get("use_adj_close", False)),
                    spread_unit=parse_spread_unit(raw.get("spread_unit")),
                ),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInput(
                "expected an import job with file, symbol, email and optional format, "
                f"timeframe, tz_offset_hours; received {sorted(raw)} ({e})"
            ) from e


ImportRunner = Callable[[ImportJob, ProgressCallback], ImportReport]
"""Runs an import job (on a tool-mode kernel, or through the server owning the home)."""


def report_to_json(report: ImportReport) -> dict[str, Any]:
    """Return ``report`` as JSON values."""
    return {
        "path": str(report.path),
        "format": report.format,
        "symbol": report.symbol,
        "rows_read": report.rows_read,
        "rows_stored": report.rows_stored,
        "duplicates_skipped": report.duplicates_skipped,
        "rows_without_quote": report.rows_without_quote,
        "first_ts": report.first_ts,
        "last_ts": report.last_ts,
    }


def report_from_json(raw: dict[str, Any]) -> ImportReport:
    """Return the report ``report_to_json`` wrote."""
    return ImportReport(
        path=Path(raw["path"]),
        format=raw["format"],
        symbol=raw["symbol"],
        rows_read=int(raw["rows_read"]),
        rows_stored=int(raw["rows_stored"]),
        duplicates_skipped=int(raw["duplicates_skipped"]),
        rows_without_quote=int(raw["rows_without_quote"]),
        first_ts=raw["first_ts"],
        last_ts=raw["last_ts"],
    )


def make_import_command(run_import: ImportRunner) -> Callable[..., None]:
    """Return the ``chainflow import`` Typer command; ``run_import`` runs the job.

    The bridge sits below ``runtime`` and cannot build a kernel or find a running server
    itself, so the CLI passes the runner: ``app.command("import")(make_import_command(r))``.
    """

    def import_command(
        file: Annotated[Path, typer.Argument(help="MT5 tick/bar export or OHLCV CSV")],
        symbol: Annotated[str, typer.Option(help="symbol to store the rows under, e.g. EURUSD")],
        email: Annotated[str, typer.Option(help="email of a user; rows go to their tenant")],
        format: Annotated[
            str, typer.Option(help="auto, mt5-ticks, mt5-bars or csv (auto reads the header)")
        ] = "auto",
        timeframe: Annotated[
            str, typer.Option(help="timeframe of bar files: M1, M5, M15, M30, H1, H4 or D1")
        ] = "M1",
        tz_offset_hours: Annotated[
            float,
            typer.Option(help="UTC offset of times without one (MT5 server time), -14..+14"),
        ] = 0.0,
        use_adj_close: UseAdjClose = False,
        spread_unit: SpreadUnitOption = None,
    ) -> None:
        """Import a MetaTrader 5 history export or an OHLCV CSV; re-importing adds nothing."""
        try:
            utc_offset_ms(tz_offset_hours)
        except InvalidInput as e:
            _fail(f"--tz-offset-hours: {e.message}", exit_code=2)
        try:
            bar_timeframe = parse_timeframe(timeframe)
            choices = ColumnChoices(use_adj_close, parse_spread_unit(spread_unit))
            if not file.is_file():
                raise InvalidInput(f"expected FILE to be a readable file; received {str(file)!r}")
            # Named here, on the CLI's stderr, whichever process (this one or a server) imports.
            warn_ignored_columns(file, format, choices, warn_on_stderr)
        except InvalidInput as e:
            _fail(e.message)
        job = ImportJob(file, symbol, email, format, bar_timeframe, tz_offset_hours, choices)
        size = file.stat().st_size
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
        with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as progress:
            task = progress.add_task(f"importing {file.name}", total=size)

            def on_progress(bytes_read: int, _lines: int) -> None:
                progress.update(task, completed=bytes_read)

            try:
                report = run_import(job, on_progress)
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
    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False
    )
    raise typer.Exit(code=exit_code)
