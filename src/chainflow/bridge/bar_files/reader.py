"""The one reader of history files: ``detect_format``, ``iter_chunks``, ``read_bar_file``.

``chainflow import`` streams chunks (``iter_chunks``); ``train``, ``backtest``,
``optimize`` and ``walkforward`` read a whole bar file (``read_bar_file``), which is
``iter_chunks`` too. Columns left unused are named once per file through ``warn``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

from chainflow.bridge.bar_files.bar_rows import BarRowReader
from chainflow.bridge.bar_files.chunks import ParsedChunk, bar_chunks, tick_chunks
from chainflow.bridge.bar_files.columns import (
    EXPECTED_HEADERS,
    IMPORT_FORMATS,
    ColumnChoices,
    ImportFormat,
    bar_columns,
    format_of,
    parse_spread_unit,
    tick_columns,
)
from chainflow.bridge.bar_files.source import open_source
from chainflow.bridge.bar_files.timestamps import HOUR_MS, utc_offset_ms
from chainflow.bridge.bars import AggregatedBar
from chainflow.core.errors import InvalidInput
from chainflow.core.market import Timeframe

DEFAULT_CHUNK_ROWS = 50_000
Warn = Callable[[str], None]
"""Receives one line naming what of a file was not used (its ignored columns)."""
_NO_CHOICES = ColumnChoices()


def warn_on_stderr(message: str) -> None:
    """Print ``message`` as one ``warning:`` line on stderr (the commands' ``Warn``)."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def options_of_flags(
    tz_offset_hours: float | None, use_adj_close: bool | None, spread_unit: str | None
) -> tuple[int, ColumnChoices]:
    """Return ``(tz_offset_ms, choices)`` for the commands' ``--tz-offset-hours``,
    ``--use-adj-close`` and ``--spread-unit``; raise ``InvalidInput`` naming a bad flag."""
    try:
        offset_ms = utc_offset_ms(tz_offset_hours or 0.0)
    except InvalidInput as e:
        raise InvalidInput(f"--tz-offset-hours: {e.message}") from None
    return offset_ms, ColumnChoices(bool(use_adj_close), parse_spread_unit(spread_unit))


def detect_format(path: Path) -> ImportFormat:
    """Return the format of ``path`` from its header line; raise ``InvalidInput`` if unknown."""
    with open_source(path) as source:
        detected = format_of(source.header)
        if detected is None:
            raise source.fail(EXPECTED_HEADERS, source.header_text)
        return detected


def iter_chunks(
    path: Path,
    fmt: ImportFormat,
    symbol: str,
    *,
    timeframe: Timeframe = Timeframe.M1,
    tz_offset_ms: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    choices: ColumnChoices = _NO_CHOICES,
    warn: Warn | None = None,
) -> Iterator[ParsedChunk]:
    """Yield the rows of ``path`` (``Tick`` or ``AggregatedBar``) in chunks of ``chunk_rows``.

    The file is read as it goes, so memory stays bounded by one chunk. Raise ``InvalidInput``
    for a header that is not ``fmt`` or a malformed row, naming the file, line and column.
    ``warn`` (if given) receives one line naming the columns left unused, before any row.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1; received {chunk_rows}")
    utc_offset_ms(tz_offset_ms / HOUR_MS)
    with open_source(path) as source:
        if format_of(source.header) != fmt:
            expected = f"a header of the {fmt} format ({EXPECTED_HEADERS})"
            raise source.fail(expected, source.header_text)
        if fmt == "mt5-ticks":
            ticks = tick_columns(source.header)
            _warn_ignored(path, ticks.ignored, warn)
            yield from tick_chunks(source, ticks, symbol, tz_offset_ms, chunk_rows)
            return
        columns = bar_columns(source.header, fmt, choices, source.fail)
        _warn_ignored(path, columns.ignored, warn)
        reader = BarRowReader(source, columns, fmt, symbol, timeframe, tz_offset_ms, choices)
        yield from bar_chunks(source, reader.read, chunk_rows)


def warn_ignored_columns(path: Path, fmt: str, choices: ColumnChoices, warn: Warn) -> None:
    """Tell ``warn`` the columns of ``path`` a read as ``fmt`` (or ``auto``) leaves unused.

    For a caller that reads the file elsewhere (``chainflow import`` through a server). Raise
    ``InvalidInput`` for an unreadable or unknown header, or columns ``choices`` cannot use;
    say nothing for a format the file is not (the read itself reports that).
    """
    resolved = detect_format(path) if fmt == "auto" else fmt
    with open_source(path) as source:
        if resolved not in IMPORT_FORMATS or format_of(source.header) != resolved:
            return
        if resolved == "mt5-ticks":
            ignored = tick_columns(source.header).ignored
        else:
            bar_format = cast(ImportFormat, resolved)
            ignored = bar_columns(source.header, bar_format, choices, source.fail).ignored
    _warn_ignored(path, ignored, warn)


def _warn_ignored(path: Path, ignored: tuple[str, ...], warn: Warn | None) -> None:
    if ignored and warn is not None:
        warn(f"{path.name}: ignoring columns {', '.join(ignored)}")


def read_bar_file(
    path: Path,
    symbol: str,
    *,
    timeframe: Timeframe = Timeframe.M1,
    tz_offset_ms: int = 0,
    choices: ColumnChoices = _NO_CHOICES,
    warn: Warn | None = None,
) -> list[AggregatedBar]:
    """Return every bar of an MT5 bar export or OHLCV CSV, ordered by time, one per open time.

    For files read outside the server (``train``, ``backtest``, ``optimize``,
    ``walkforward`` with ``--data FILE``). Raise ``InvalidInput`` for a tick file, an
    unknown header or a malformed row.
    """
    fmt = detect_format(path)
    if fmt == "mt5-ticks":
        raise InvalidInput(
            f"expected a bar file (mt5-bars or OHLCV csv); received a tick export: {path}"
        )
    bars: dict[int, AggregatedBar] = {}
    chunks = iter_chunks(
        path,
        fmt,
        symbol,
        timeframe=timeframe,
        tz_offset_ms=tz_offset_ms,
        choices=choices,
        warn=warn,
    )
    for chunk in chunks:
        for bar in chunk.rows:
            bars[bar.ts] = bar  # type: ignore[assignment]
    return [bars[ts] for ts in sorted(bars)]
