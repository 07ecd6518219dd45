"""Public interface of the storage service: the store Protocols other services program against.

Backends (DuckDB, ClickHouse, chDB, in-process, Redis, pgvector) implement these; the kernel builds
one of each from settings and hands it down. Other services import only this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from chainflow.core.health import HealthReport
from chainflow.core.ids import TenantId
from chainflow.core.market import Bar, Tick, Timeframe

if TYPE_CHECKING:
    from chainflow.storage.redis_connection import RedisConnection as RedisConnection
    from chainflow.storage.timeseries.columns import BarColumns, Column, TickColumns

# --- time series --------------------------------------------------------------------------


class ColumnType(StrEnum):
    INT64 = "int64"
    FLOAT64 = "float64"
    STRING = "string"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    type: ColumnType


KEY_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("tenant_id", ColumnType.STRING),
    ColumnSpec("symbol", ColumnType.STRING),
    ColumnSpec("ts", ColumnType.INT64),
)


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A time-series table: the key columns (tenant_id, symbol, ts epoch-ms) then ``values``.

    Rows are ordered by (tenant_id, symbol, ts). Services declare their own tables
    (features, predictions, usage) and call ``TimeSeriesStore.ensure_table`` at start.
    """

    name: str
    values: tuple[ColumnSpec, ...]
    replace_key: tuple[str, ...] | None = None
    """``None``: rows are appended. Otherwise a row is identified by (tenant_id, symbol, ts)
    plus these STRING/INT64 value columns, and appending a row with a stored key replaces
    that row (the last one appended wins): a revised bar is one row, not one per revision."""

    @property
    def columns(self) -> tuple[ColumnSpec, ...]:
        return (*KEY_COLUMNS, *self.values)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


TICKS_TABLE = TableSpec(
    "ticks",
    (
        ColumnSpec("bid", ColumnType.FLOAT64),
        ColumnSpec("ask", ColumnType.FLOAT64),
        ColumnSpec("volume", ColumnType.FLOAT64),
    ),
)


@runtime_checkable
class TimeSeriesStore(Protocol):
    """Append-mostly, range-scanned, tenant-keyed time series.

    Contract (tests/contracts/test_timeseries.py holds every backend to it):
    - ``start`` creates the built-in ``ticks`` table if missing; it is idempotent.
    - ``append`` is durable when it returns (group-committed with concurrent appends).
    - ticks are stored exactly once: appending a tick whose (tenant, symbol, ts, bid, ask)
      is already stored stores nothing, whether through ``append_ticks``, ``insert_ticks``
      or ``append("ticks", ...)``, in this process or after a restart.
    - ranges are ``start_ms <= ts < end_ms``; results ascending by ts unless ``descending``.
    - every read is filtered by ``tenant_id``: one tenant never sees another's rows.
    - ``ohlcv`` buckets ticks by ``timeframe`` (UTC-aligned, bid prices): open = bid of the
      earliest tick in the bucket, close = bid of the latest, high/low = max/min bid,
      volume = sum of volume, tick_count = number of ticks. Bars are keyed by bucket open time.
    """

    backend: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def health(self) -> HealthReport: ...

    async def ensure_table(self, spec: TableSpec) -> None: ...

    async def append(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append ``rows`` (dicts with every column of the table); return how many."""
        ...

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
        """Rows of one tenant and symbol in range; ``where`` = equality on STRING/INT64 values."""
        ...

    async def append_ticks(self, tenant_id: TenantId, ticks: Sequence[Tick]) -> int:
        """Store the ticks not stored before (exactly once); return how many were new."""
        ...

    async def insert_ticks(self, tenant_id: TenantId, ticks: Sequence[Tick]) -> list[bool]:
        """Store the ticks not stored before; return, per tick, whether it was new.

        A tick's identity is (tenant, symbol, ts, bid, ask); a tick already stored, or
        repeated earlier in ``ticks``, is skipped, including after a restart.
        """
        ...

    def stored_tick_watermark(self, tenant_id: TenantId, symbol: str) -> int | None:
        """A ts no stored tick of the pair exceeds, once known to this store; else None."""
        ...

    async def load_tick_watermark(self, tenant_id: TenantId, symbol: str) -> int:
        """Read the pair's latest stored tick now and raise its watermark to it (before its
        first commit, and when its terminal connects: another process may have stored)."""
        ...

    async def scan_ticks(
        self,
        tenant_id: TenantId,
        symbol: str,
        start_ms: int,
        end_ms: int,
        *,
        limit: int | None = None,
    ) -> list[Tick]: ...

    async def ohlcv(
        self,
        tenant_id: TenantId,
        symbol: str,
        timeframe: Timeframe,
        start_ms: int,
        end_ms: int,
    ) -> list[Bar]: ...

    # Columnar reads: what the row reads above return, as NumPy columns (no object per row).
    async def read_tick_columns(
        self, tenant_id: TenantId, symbol: str, start_ms: int, end_ms: int
    ) -> TickColumns:
        """``scan_ticks`` of the range (no limit) as int64 ts and float64 bid/ask/volume."""
        ...

    async def read_bar_columns(
        self, tenant_id: TenantId, symbol: str, timeframe: Timeframe, start_ms: int, end_ms: int
    ) -> BarColumns:
        """``ohlcv`` of the range as columns."""
        ...

    async def scan_columns(
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
        columns: Sequence[str] | None = None,
    ) -> dict[str, Column]:
        """``scan`` as one array per column (``columns``: which, in order; default all)."""
        ...


# --- cache ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenBucketResult:
    """Outcome of one ``take_token``: whether allowed, tokens left, seconds until one more."""

    allowed: bool
    remaining: float
    capacity: float
    retry_after_s: float
    reset_after_s: float


@runtime_checkable
class Cache(Protocol):
    """Key-value cache with TTL, atomic counters and token buckets.

    Keys are namespaced by the backend's ``key_prefix``. Values are bytes. ``ttl_s=None``
    means no expiry. Token buckets refill continuously at ``refill_per_s`` up to ``capacity``
    and start full; ``take_token`` is atomic across processes on the Redis backend.
    """

    backend: str

    async def close(self) -> None: ...

    async def health(self) -> HealthReport: ...

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None: ...

    async def set_if_absent(self, key: str, value: bytes, *, ttl_s: float | None = None) -> bool:
        """Set only if ``key`` is absent; return whether it was set."""
        ...

    async def delete(self, key: str) -> bool:
        """Delete ``key``; return whether it existed."""
        ...

    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        """Add ``amount`` atomically and return the new value; ``ttl_s`` applies on creation."""
        ...

    async def take_token(
        self, key: str, *, capacity: float, refill_per_s: float, cost: float = 1.0
    ) -> TokenBucketResult: ...


# --- vectors -------------------------------------------------------------------------------

VectorItem: TypeAlias = tuple[str, Sequence[float], Mapping[str, Any]]
"""One item to index: (id, vector, JSON payload). An integer ``payload["ts"]`` is its time."""


@dataclass(frozen=True, slots=True)
class VectorMatch:
    """One search result: the item's id, its cosine similarity to the query, its payload."""

    id: str
    score: float
    payload: dict[str, Any]


@runtime_checkable
class VectorIndex(Protocol):
    """Nearest-neighbour search by cosine similarity, one index per namespace.

    Contract (tests/contracts/test_vectors.py holds every backend to it):
    - a namespace is an opaque non-empty string; callers put the tenant in it, so one
      namespace never sees another's items. Its first vector fixes its dimension until
      ``delete_namespace``; another length, a zero or non-finite vector is ``InvalidInput``.
    - ``upsert`` replaces an item with the same id (vector and payload); within one call
      the last of duplicate ids wins. Payloads are JSON objects, returned decoded.
    - ``search`` is exact: the ``k`` items of highest cosine similarity, best first, ties
      by id. ``before_ts`` keeps only items whose ``payload["ts"]`` (an int, epoch-ms by
      convention) is below it; items without a ts are then left out. A missing namespace
      gives no matches.
    """

    backend: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def health(self) -> HealthReport: ...

    async def upsert(self, namespace: str, items: Sequence[VectorItem]) -> int:
        """Insert or replace ``items``; return how many distinct ids were written."""
        ...

    async def search(
        self, namespace: str, vector: Sequence[float], k: int, *, before_ts: int | None = None
    ) -> list[VectorMatch]: ...

    async def delete_namespace(self, namespace: str) -> int:
        """Delete every item of ``namespace``; return how many there were."""
        ...

    async def count(self, namespace: str) -> int: ...


async def scan_latest_per_ts(
    store: TimeSeriesStore,
    table: str,
    *,
    tenant_id: TenantId,
    symbol: str,
    end_ms: int,
    count: int,
    where: Mapping[str, str | int] | None = None,
    version: Callable[[Mapping[str, Any]], Any],
) -> list[dict[str, Any]]:
    """Return the latest ``count`` distinct ``ts`` before ``end_ms``, oldest first, each as its
    row with the highest ``version`` (append-only tables keep a row per revision of a key).

    Reads newest rows first, doubling the limit until ``count`` keys are complete. When the
    limit cut rows, only the oldest key can miss some, and it is left out.
    """
    if count <= 0:
        return []
    limit = count * 2 + 16  # revisions add rows for the same key
    while True:
        rows = await store.scan(
            table,
            tenant_id=tenant_id,
            symbol=symbol,
            start_ms=0,
            end_ms=end_ms,
            limit=limit,
            descending=True,
            where=where,
        )
        newest: dict[int, dict[str, Any]] = {}
        for row in rows:
            kept = newest.get(row["ts"])
            if kept is None or version(row) > version(kept):
                newest[row["ts"]] = row
        complete = len(rows) < limit
        if complete or len(newest) > count:
            break
        limit *= 2
    keys = sorted(newest) if complete else sorted(newest)[1:]
    return [newest[ts] for ts in keys[-count:]]


# --- the Redis connection kit: one pool, timeouts, errors (shared by Redis-backed stores) ---

_REDIS_KIT = {"RedisConnection": "RedisConnection", "DEFAULT_REDIS_TIMEOUT_S": "DEFAULT_TIMEOUT_S"}


def __getattr__(name: str) -> Any:
    """Load ``RedisConnection`` and ``DEFAULT_REDIS_TIMEOUT_S`` on first use: they import the
    ``redis`` extra, which an install without a Redis-backed store never loads."""
    if name in _REDIS_KIT:
        from chainflow.storage import redis_connection

        return getattr(redis_connection, _REDIS_KIT[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
