"""Encode batches of rows as CSV or Parquet chunks, holding one batch at a time.

- **CSV**: a header, then each batch as soon as it is read. Times are ISO-8601 UTC with
  milliseconds (``2024-01-01T09:30:00.123Z``); prices carry the symbol's digits; money two.
- **Parquet**: ``pyarrow`` is not a dependency of ours, so the batches are appended to a
  DuckDB spool file on disk (memory limited) and DuckDB's ``COPY ... (FORMAT parquet)``
  writes the file, which is then streamed back in chunks and deleted. The range is never
  held in memory; the first byte leaves once the last batch is spooled.
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pandas

from chainflow.analytics.exports.datasets import ColumnKind, ExportColumn, ExportDataset, Row
from chainflow.risk.api import default_instrument

DAY_MS = 86_400_000
FILE_CHUNK_BYTES = 1 << 20
SPOOL_MEMORY_LIMIT = "64MB"
PARQUET_ROW_GROUP = 100_000

Batches = AsyncIterator[Sequence[Row]]

_DUCKDB_TYPES = {
    ColumnKind.TIME: "BIGINT",
    ColumnKind.PRICE: "DOUBLE",
    ColumnKind.MONEY: "DOUBLE",
    ColumnKind.FLOAT: "DOUBLE",
    ColumnKind.INT: "BIGINT",
    ColumnKind.TEXT: "VARCHAR",
}


@lru_cache(maxsize=4096)
def price_digits(symbol: str) -> int:
    """Return the price digits of ``symbol`` (5, or 3 for JPY-quoted pairs)."""
    return default_instrument(symbol or "EURUSD", 1.0).price_digits


@lru_cache(maxsize=4096)
def _iso_day(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).date().isoformat()


def iso_utc(ms: int) -> str:
    """Return epoch milliseconds as ISO-8601 UTC with milliseconds and a ``Z``."""
    seconds, millis = divmod(int(ms), 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


def _iso_second(seconds: int) -> str:
    day, rest = divmod(seconds, 86_400)
    minutes, second = divmod(rest, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_iso_day(day)}T{hour:02d}:{minute:02d}:{second:02d}"


class TimeColumnText:
    """Renders a column of epoch ms; rows come in time order, so the text of the second
    before the milliseconds is kept from one row to the next."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, values: Sequence[Any]) -> list[Any]:
        cells: list[Any] = []
        for value in values:
            if value is None:
                cells.append(None)
                continue
            seconds, millis = divmod(int(value), 1000)
            if seconds != self._second:
                self._second, self._prefix = seconds, _iso_second(seconds)
            cells.append(f"{self._prefix}.{millis:03d}Z")
        return cells


def _price_cells(values: Sequence[Any], digits: Sequence[int]) -> list[Any]:
    return [
        None if value is None else format(value, f".{places}f")
        for value, places in zip(values, digits, strict=True)
    ]


def _money_cells(values: Sequence[Any]) -> list[Any]:
    return [None if value is None else format(value, ".2f") for value in values]


class CsvBatchRenderer:
    """Renders a batch column by column; FLOAT, INT and TEXT cells go to the csv module as
    they are (it writes floats with ``repr`` and ``None`` as an empty cell)."""

    def __init__(self, dataset: ExportDataset) -> None:
        self._dataset = dataset
        times = [c.key for c in dataset.columns if c.kind is ColumnKind.TIME]
        self._times = {key: TimeColumnText() for key in times}

    def __call__(self, rows: Sequence[Row]) -> Iterable[Sequence[Any]]:
        symbol_key = self._dataset.symbol_key
        digits: list[int] | None = None
        columns: list[list[Any]] = []
        for column in self._dataset.columns:
            values = [row.get(column.key) for row in rows]
            if column.kind is ColumnKind.TIME:
                values = self._times[column.key](values)
            elif column.kind is ColumnKind.PRICE:
                if digits is None:
                    digits = [price_digits(str(row.get(symbol_key) or "")) for row in rows]
                values = _price_cells(values, digits)
            elif column.kind is ColumnKind.MONEY:
                values = _money_cells(values)
            columns.append(values)
        return zip(*columns, strict=True)


async def csv_chunks(dataset: ExportDataset, batches: Batches) -> AsyncIterator[bytes]:
    """Yield the header, then one chunk of CSV per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.name for column in dataset.columns])
    yield buffer.getvalue().encode()
    render = CsvBatchRenderer(dataset)
    async for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(render(rows))
        yield buffer.getvalue().encode()


class ParquetSpool:
    """A DuckDB file that batches are appended to and that ``COPY`` turns into Parquet."""

    def __init__(self, columns: Sequence[ExportColumn], directory: Path) -> None:
        self._columns = tuple(columns)
        self._directory = directory
        self.parquet_path = directory / "export.parquet"
        self._connection = duckdb.connect(str(directory / "spool.duckdb"))
        self._connection.execute(f"SET memory_limit='{SPOOL_MEMORY_LIMIT}'")
        self._connection.execute("SET threads=1")
        self._connection.execute("SET preserve_insertion_order=true")
        self._connection.execute("SET TimeZone='UTC'")
        definitions = ", ".join(f'"{c.name}" {_DUCKDB_TYPES[c.kind]}' for c in self._columns)
        self._connection.execute(f"CREATE TABLE spool ({definitions})")

    def add(self, rows: Sequence[Row]) -> None:
        """Append one batch."""
        frame = pandas.DataFrame(
            {column.name: [row.get(column.key) for row in rows] for column in self._columns}
        )
        self._connection.register("batch", frame)
        try:
            self._connection.execute("INSERT INTO spool SELECT * FROM batch")
        finally:
            self._connection.unregister("batch")

    def write_parquet(self) -> None:
        """Write the spooled rows as one Parquet file (times as UTC timestamps)."""
        selected = ", ".join(
            f'make_timestamp("{c.name}" * 1000)::TIMESTAMPTZ AS "{c.name}"'
            if c.kind is ColumnKind.TIME
            else f'"{c.name}"'
            for c in self._columns
        )
        target = str(self.parquet_path).replace("'", "''")
        self._connection.execute(
            f"COPY (SELECT {selected} FROM spool) TO '{target}' "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {PARQUET_ROW_GROUP})"
        )
        self._connection.execute("DROP TABLE spool")

    def close(self) -> None:
        self._connection.close()


def _read_chunk(handle: io.BufferedReader) -> bytes:
    return handle.read(FILE_CHUNK_BYTES)


async def parquet_chunks(
    dataset: ExportDataset, batches: Batches, *, spool_root: Path | None = None
) -> AsyncIterator[bytes]:
    """Spool every batch, write the Parquet file, then yield it in chunks; delete it after."""
    directory = Path(tempfile.mkdtemp(prefix="chainflow-export-", dir=spool_root))
    spool: ParquetSpool | None = None
    try:
        spool = await asyncio.to_thread(ParquetSpool, dataset.columns, directory)
        async for rows in batches:
            await asyncio.to_thread(spool.add, rows)
        await asyncio.to_thread(spool.write_parquet)
        await asyncio.to_thread(spool.close)
        spool = None
        with (directory / "export.parquet").open("rb") as handle:
            while chunk := await asyncio.to_thread(_read_chunk, handle):
                yield chunk
    finally:
        if spool is not None:
            spool.close()
        shutil.rmtree(directory, ignore_errors=True)
