"""What every time-series backend shares: lifecycle, validation, group commit, conversions.

A backend subclasses ``TimeSeriesStoreBase`` and supplies the engine-specific steps (open,
create a table, commit rows, select rows, select bars, ping, close). Everything the
contract in ``chainflow.storage.api`` promises beyond those steps lives here once, so the
backends cannot drift apart.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from enum import Enum
from typing import Any, TypeVar

from chainflow.core.errors import DependencyUnavailable
from chainflow.core.health import HealthReport
from chainflow.core.ids import TenantId
from chainflow.core.market import Bar, Tick, Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import TICKS_TABLE, TableSpec
from chainflow.storage.timeseries.columnar_reads import ColumnarReads
from chainflow.storage.timeseries.group_commit import GroupCommitWriter, StoredMask
from chainflow.storage.timeseries.range_query import (
    RangeQuery,
    check_text,
    check_timeframe,
    check_where,
    range_query,
)
from chainflow.storage.timeseries.tables import (
    INT64_MAX,
    EncodedRow,
    TableCatalog,
    encode_rows,
    last_row_per_key,
    row_decoder,
    ticks_to_rows,
    validate_table_spec,
)
from chainflow.storage.timeseries.tick_dedup import StoredTickIndex

_T = TypeVar("_T")
_TICK_COLUMNS = ("ts", "bid", "ask", "volume")
_TICK_KEY_COLUMNS = ("ts", "bid", "ask")


class _State(Enum):
    NEW = "not started"
    OPEN = "open"
    CLOSED = "closed"


class TimeSeriesStoreBase(ColumnarReads):
    """A ``TimeSeriesStore`` whose appends go through one group-committing writer.

    Its columnar reads (``read_tick_columns``, ``read_bar_columns``, ``scan_columns``) come
    from ``ColumnarReads``, whose engine steps a backend supplies beside the ones below.
    """

    backend: str

    def __init__(self, settings: TimeSeriesSettings, *, location: str) -> None:
        self.location = location
        self._catalog = TableCatalog()
        self._stored_ticks = StoredTickIndex(self._read_tick_keys)
        self._writer = GroupCommitWriter(
            self._commit_once,
            max_rows=settings.batch_max_rows,
            max_delay_s=settings.batch_max_delay_ms / 1000.0,
            description=f"{self.backend} at {location}",
        )
        # The ticks have their own writer with a wider window: nothing waits for a tick's
        # store in series (the tick path answers before it; only the terminal's ack waits),
        # and a commit costs the engine about the same CPU whatever its size (DuckDB: ~1.7
        # ms), so at a few hundred ticks a second a 5 ms window spent a quarter of a core on
        # commits. Bars, features and predictions keep the short window: their consumers
        # wait for each store before the next message.
        self._tick_writer = GroupCommitWriter(
            self._commit_once,
            max_rows=settings.batch_max_rows,
            max_delay_s=settings.tick_batch_max_delay_ms / 1000.0,
            description=f"{self.backend} at {location} ({TICKS_TABLE.name})",
        )
        self._state = _State.NEW
        self._reads_in_flight = 0
        self._reads_idle = asyncio.Event()
        self._reads_idle.set()
        self._schema_lock = asyncio.Lock()

    # --- engine-specific steps -------------------------------------------------------------

    @abc.abstractmethod
    async def _open(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...

    @abc.abstractmethod
    async def _create_table(self, spec: TableSpec) -> None:
        """Create ``spec`` if missing, then check that the existing table matches it."""

    @abc.abstractmethod
    async def _commit(self, spec: TableSpec, rows: list[EncodedRow]) -> None:
        """Insert ``rows`` into ``spec`` atomically; return once they are durable."""

    @abc.abstractmethod
    async def _select_rows(
        self, spec: TableSpec, columns: Sequence[str], query: RangeQuery
    ) -> Sequence[Sequence[Any]]:
        """Return the values of ``columns`` for the rows ``query`` selects, ordered by ts."""

    @abc.abstractmethod
    async def _select_bars(self, query: RangeQuery, width_ms: int) -> Sequence[Sequence[Any]]:
        """Return (bucket, open, high, low, close, volume, tick_count) ordered by bucket."""

    @abc.abstractmethod
    async def _ping(self) -> None: ...

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the engine, start the writer and create the ``ticks`` table; idempotent."""
        if self._state is _State.OPEN:
            return
        if self._state is _State.CLOSED:
            raise DependencyUnavailable(
                f"time-series store {self.backend} at {self.location} is closed; "
                "expected a new store instance to be built to open it again"
            )
        await self._open()
        self._writer.start()
        self._tick_writer.start()
        self._state = _State.OPEN
        await self.ensure_table(TICKS_TABLE)

    async def close(self) -> None:
        """Commit every queued append, wait for running reads, then close the engine."""
        if self._state is not _State.OPEN:
            self._state = _State.CLOSED
            return
        self._state = _State.CLOSED
        await asyncio.gather(self._writer.close(), self._tick_writer.close())
        await self._reads_idle.wait()
        await self._close()

    async def health(self) -> HealthReport:
        """Run ``SELECT 1`` and report whether it worked and how long it took."""
        extra: dict[str, Any] = {"location": self.location}
        if self._state is not _State.OPEN:
            return HealthReport(
                "timeseries",
                False,
                self.backend,
                detail=f"store is {self._state.value}",
                extra=extra,
            )
        started = time.perf_counter()
        try:
            await self._run_read(self._ping)
        except Exception as e:
            return HealthReport(
                "timeseries", False, self.backend, detail=f"{type(e).__name__}: {e}", extra=extra
            )
        latency_ms = (time.perf_counter() - started) * 1000.0
        extra["group_commits"] = self._writer.commit_count + self._tick_writer.commit_count
        return HealthReport("timeseries", True, self.backend, latency_ms=latency_ms, extra=extra)

    def stats(self) -> dict[str, float]:
        """Return cumulative writer counters (read by the metrics collector at scrape)."""
        writers = (self._writer, self._tick_writer)
        return {
            "commits": sum(w.commit_count for w in writers),
            "rows": sum(w.rows_committed for w in writers),
            "commit_seconds": sum(w.commit_seconds for w in writers),
            "failed_appends": sum(w.failed_appends for w in writers),
        }

    # --- the TimeSeriesStore protocol ------------------------------------------------------

    async def ensure_table(self, spec: TableSpec) -> None:
        """Create the table ``spec`` declares if it is missing; idempotent."""
        self._require_open(f"declare table {getattr(spec, 'name', spec)!r}")
        validate_table_spec(spec)
        if spec.name in self._catalog and self._catalog.get(spec.name) == spec:
            return
        async with self._schema_lock:
            if spec.name in self._catalog and self._catalog.get(spec.name) == spec:
                return
            self._catalog.check_compatible(spec)
            await self._create_table(spec)
            self._catalog.add(spec)

    async def append(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append ``rows`` (dicts with every column of the table); return how many."""
        self._require_open(f"append to {table!r}")
        spec = self._catalog.get(table)
        encoded = encode_rows(spec, rows)
        if not encoded:
            return 0
        return sum(await self._writer_of(spec).append(spec, encoded))

    async def scan(
        self,
        table: str,
        *,
        tenant_id: TenantId,
        symbol: str,
        start_ms: int,
        end_ms: int,
        limit: int | None = None,
        descending: bool = False,
        where: Mapping[str, str | int] | None = None,
    ) -> list[dict[str, Any]]:
        """Return the tenant's rows of ``symbol`` with ``start_ms <= ts < end_ms``, by ts.

        ``where`` keeps only rows whose STRING/INT64 value columns equal the given values.
        """
        self._require_open(f"scan {table!r}")
        spec = self._catalog.get(table)
        query = range_query(tenant_id, symbol, start_ms, end_ms, limit, descending)
        if query is None:
            return []
        if where:
            query = replace(query, where=check_where(spec, where))
        rows = await self._run_read(lambda: self._select_rows(spec, spec.column_names, query))
        decode = row_decoder(spec)
        return [decode(row) for row in rows]

    async def append_ticks(self, tenant_id: TenantId, ticks: Sequence[Tick]) -> int:
        """Store the ticks of ``tenant_id`` not stored before; return how many were new."""
        return sum(await self.insert_ticks(tenant_id, ticks))

    async def insert_ticks(self, tenant_id: TenantId, ticks: Sequence[Tick]) -> list[bool]:
        """Store the ticks not stored before; return, per tick, whether it was new.

        A tick is identified by (tenant, symbol, ts, bid, ask): one already stored, or
        repeated earlier in ``ticks``, is skipped (``False``), before and after a restart.
        """
        self._require_open("append ticks")
        check_text(tenant_id, "tenant_id")
        encoded = ticks_to_rows(tenant_id, ticks)
        if not encoded:
            return []
        return await self._tick_writer.append(TICKS_TABLE, encoded)

    def stored_tick_watermark(self, tenant_id: TenantId, symbol: str) -> int | None:
        """Return a ts that no stored tick of (tenant, symbol) exceeds, or ``None``.

        Known once this store has committed (or been offered) ticks of the pair; a tick
        later than it is certainly not stored yet.
        """
        return self._stored_ticks.watermark(tenant_id, symbol)

    async def load_tick_watermark(self, tenant_id: TenantId, symbol: str) -> int:
        """Read (tenant, symbol)'s latest stored tick and raise its watermark to it, so that
        its next live ticks need no read: before the pair's first commit in this process,
        and again when a terminal (re)connects, since at scale another process may have
        stored its ticks meanwhile (the terminal was on another bridge replica)."""
        latest = await self.scan(
            TICKS_TABLE.name,
            tenant_id=tenant_id,
            symbol=symbol,
            start_ms=0,
            end_ms=INT64_MAX,
            limit=1,
            descending=True,
        )
        return self._stored_ticks.refresh(
            tenant_id, symbol, int(latest[0]["ts"]) if latest else None
        )

    async def scan_ticks(
        self,
        tenant_id: TenantId,
        symbol: str,
        start_ms: int,
        end_ms: int,
        *,
        limit: int | None = None,
    ) -> list[Tick]:
        """Return the tenant's ticks of ``symbol`` with ``start_ms <= ts < end_ms``, by ts."""
        self._require_open("scan ticks")
        query = range_query(tenant_id, symbol, start_ms, end_ms, limit, False)
        if query is None:
            return []
        rows = await self._run_read(lambda: self._select_rows(TICKS_TABLE, _TICK_COLUMNS, query))
        return [
            Tick(symbol=query.symbol, ts=int(ts), bid=float(bid), ask=float(ask), volume=float(vol))
            for ts, bid, ask, vol in rows
        ]

    async def ohlcv(
        self,
        tenant_id: TenantId,
        symbol: str,
        timeframe: Timeframe,
        start_ms: int,
        end_ms: int,
    ) -> list[Bar]:
        """Return the bars of ``timeframe`` built from the tenant's ticks in the range."""
        self._require_open("compute bars")
        check_timeframe(timeframe)
        query = range_query(tenant_id, symbol, start_ms, end_ms, None, False)
        if query is None:
            return []
        width = timeframe.milliseconds
        rows = await self._run_read(lambda: self._select_bars(query, width))
        return [
            Bar(
                symbol=symbol,
                timeframe=timeframe,
                ts=int(r[0]),
                open=float(r[1]),
                high=float(r[2]),
                low=float(r[3]),
                close=float(r[4]),
                volume=float(r[5]),
                tick_count=int(r[6]),
            )
            for r in rows
        ]

    def _writer_of(self, spec: TableSpec) -> GroupCommitWriter:
        return self._tick_writer if spec.name == TICKS_TABLE.name else self._writer

    # --- exactly-once ticks -----------------------------------------------------------------

    async def _replace(self, spec: TableSpec, rows: list[EncodedRow]) -> None:
        """Store ``rows`` (one per key) of a replacing table, replacing rows with their key."""
        raise NotImplementedError(f"{self.backend} cannot replace rows of {spec.name!r}")

    async def _commit_once(self, spec: TableSpec, rows: list[EncodedRow]) -> StoredMask | None:
        """Commit ``rows``; for ``ticks``, only those not stored yet (``tick_dedup``); for a
        replacing table, the last row of each key, replacing the stored one."""
        if spec.replace_key is not None:
            await self._replace(spec, last_row_per_key(spec, rows))
            return None
        if spec.name != TICKS_TABLE.name:
            await self._commit(spec, rows)
            return None
        mask = await self._stored_ticks.unseen(rows)
        new_rows = [row for row, new in zip(rows, mask, strict=True) if new]
        if not new_rows:
            return mask
        try:
            inserted = await self._commit_new(spec, new_rows)
        except BaseException:
            # The outcome is unknown (a write lost mid-way may still commit): the next
            # commit of these pairs reads what is stored instead of trusting the watermark.
            self._stored_ticks.forget(new_rows)
            raise
        if inserted is not None:
            taken = iter(inserted)
            mask = [new and next(taken) for new in mask]
        self._stored_ticks.committed(rows, mask)
        return mask

    async def _commit_new(self, spec: TableSpec, rows: list[EncodedRow]) -> list[bool] | None:
        """Insert ``rows`` of ``ticks``, which this process found not stored; return, per
        row, whether it was inserted, when the engine enforces the tick identity itself
        (another writer may have stored some meanwhile), else ``None`` (all inserted)."""
        await self._commit(spec, rows)
        return None

    async def _read_tick_keys(
        self, tenant_id: str, symbol: str, start_ms: int, end_ms: int
    ) -> Sequence[Sequence[Any]]:
        query = RangeQuery(tenant_id, symbol, start_ms, min(end_ms, INT64_MAX))
        return await self._run_read(
            lambda: self._select_rows(TICKS_TABLE, _TICK_KEY_COLUMNS, query)
        )

    # --- helpers for subclasses ------------------------------------------------------------

    async def _run_read(self, read: Callable[[], Awaitable[_T]]) -> _T:
        self._reads_in_flight += 1
        self._reads_idle.clear()
        try:
            return await read()
        finally:
            self._reads_in_flight -= 1
            if self._reads_in_flight == 0:
                self._reads_idle.set()

    def _require_open(self, action: str) -> None:
        if self._state is not _State.OPEN:
            raise DependencyUnavailable(
                f"time-series store {self.backend} at {self.location} is {self._state.value}; "
                f"expected an open store to {action}"
            )
