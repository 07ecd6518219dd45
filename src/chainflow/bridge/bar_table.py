"""The ``bars`` time-series table: its spec, the row mapping, persistence, the latest-row reducer.

A bar's key is (tenant_id, symbol, timeframe, ts). The table *replaces* by that key
(``TableSpec.replace_key``): the open bar persisted at shutdown
(``MultiTimeframeAggregator.flush``), the closed bar and each ``BarRevised`` overwrite one
row, so the table holds one row per distinct bar however many late ticks revise it. Tables
written before replacement existed (and a ClickHouse table first created as a plain
MergeTree) may still hold a row per revision; every change to a bar adds exactly one tick,
so the row with the highest ``tick_count`` is the latest, and readers reduce rows with
``latest_bars``. Batch ``TimeSeriesStore.ohlcv`` over the stored ticks stays the source of
truth for old data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.bridge.bars import AggregatedBar
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.storage.api import (
    ColumnSpec,
    ColumnType,
    TableSpec,
    TimeSeriesStore,
)

BAR_TABLE = TableSpec(
    "bars",
    (
        ColumnSpec("timeframe", ColumnType.STRING),
        ColumnSpec("open", ColumnType.FLOAT64),
        ColumnSpec("high", ColumnType.FLOAT64),
        ColumnSpec("low", ColumnType.FLOAT64),
        ColumnSpec("close", ColumnType.FLOAT64),
        ColumnSpec("volume", ColumnType.FLOAT64),
        ColumnSpec("tick_count", ColumnType.INT64),
        ColumnSpec("spread_min", ColumnType.FLOAT64),
        ColumnSpec("spread_max", ColumnType.FLOAT64),
        ColumnSpec("spread_sum", ColumnType.FLOAT64),
        ColumnSpec("first_tick_ts", ColumnType.INT64),
        ColumnSpec("last_tick_ts", ColumnType.INT64),
    ),
    replace_key=("timeframe",),
)
"""Bars keyed by (tenant_id, symbol, ts = bar open time) plus ``timeframe``; see module doc."""

_TIMEFRAME_ORDER = {timeframe.value: index for index, timeframe in enumerate(Timeframe)}


def bar_rows(tenant_id: TenantId, bars: Iterable[AggregatedBar]) -> list[dict[str, Any]]:
    """Return ``bars`` as rows of ``BAR_TABLE`` for tenant ``tenant_id``."""
    return [
        {
            "tenant_id": tenant_id,
            "symbol": bar.symbol,
            "ts": bar.ts,
            "timeframe": bar.timeframe.value,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
            "tick_count": bar.tick_count,
            "spread_min": bar.spread_min,
            "spread_max": bar.spread_max,
            "spread_sum": bar.spread_sum,
            "first_tick_ts": bar.first_tick_ts,
            "last_tick_ts": bar.last_tick_ts,
        }
        for bar in bars
    ]


def bar_from_row(row: Mapping[str, Any]) -> AggregatedBar:
    """Return the bar a ``BAR_TABLE`` row holds; raise ``ValueError`` for an unknown timeframe."""
    return AggregatedBar(
        symbol=row["symbol"],
        timeframe=Timeframe(row["timeframe"]),
        ts=row["ts"],
        open=row["open"],
        high=row["high"],
        low=row["low"],
        close=row["close"],
        volume=row["volume"],
        tick_count=row["tick_count"],
        spread_min=row["spread_min"],
        spread_max=row["spread_max"],
        spread_sum=row["spread_sum"],
        first_tick_ts=row["first_tick_ts"],
        last_tick_ts=row["last_tick_ts"],
    )


def latest_bars(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Keep the latest row of each bar key; return them ordered by ts, then timeframe.

    The latest row has the highest ``tick_count``; equal counts (the same bar persisted
    twice) go to the highest ``last_tick_ts``, then to the row that comes last.
    """
    latest: dict[tuple[Any, Any, Any, Any], Mapping[str, Any]] = {}
    for row in rows:
        key = (row["tenant_id"], row["symbol"], row["timeframe"], row["ts"])
        kept = latest.get(key)
        if kept is None or (row["tick_count"], row["last_tick_ts"]) >= (
            kept["tick_count"],
            kept["last_tick_ts"],
        ):
            latest[key] = row
    ordered = sorted(
        latest.values(),
        key=lambda row: (row["ts"], _TIMEFRAME_ORDER.get(row["timeframe"], len(_TIMEFRAME_ORDER))),
    )
    return [dict(row) for row in ordered]


async def persist_bars(
    store: TimeSeriesStore, tenant_id: TenantId, bars: Sequence[AggregatedBar]
) -> int:
    """Append ``bars`` of tenant ``tenant_id`` to ``BAR_TABLE``; return how many rows.

    Declares the table first (idempotent, a dictionary lookup once declared), so callers
    need not order start-up steps around it.
    """
    if not bars:
        return 0
    await store.ensure_table(BAR_TABLE)
    return await store.append(BAR_TABLE.name, bar_rows(tenant_id, bars))


async def read_bars(
    store: TimeSeriesStore,
    tenant_id: TenantId,
    symbol: str,
    timeframe: Timeframe,
    *,
    end_ms: int,
    count: int,
) -> list[AggregatedBar]:
    """Return the latest ``count`` stored bars of one timeframe opened before ``end_ms``, by ts
    (``read_latest_bar_columns`` as ``AggregatedBar`` objects)."""
    columns = await read_latest_bar_columns(
        store, tenant_id, symbol, timeframe, end_ms=end_ms, count=count
    )
    return _bars_of(symbol, timeframe, columns)


async def read_latest_bar_columns(
    store: TimeSeriesStore,
    tenant_id: TenantId,
    symbol: str,
    timeframe: Timeframe,
    *,
    end_ms: int,
    count: int,
) -> dict[str, NDArray[Any]]:
    """Return the latest ``count`` stored bars of one timeframe opened before ``end_ms``, by
    ts, as one array per name of ``BAR_COLUMNS``.

    Reads newest rows first as columns (``scan_columns``: no Python row per stored row),
    doubling the limit until ``count`` distinct bars are complete; each bar is its latest
    row (``latest_bars``: the highest ``tick_count``, then ``last_tick_ts``), so revisions
    and flushed open bars collapse to one bar. When the limit cut rows, only the oldest
    bar can miss some, and it is left out (as ``scan_latest_per_ts``).
    """
    await store.ensure_table(BAR_TABLE)
    limit = max(count, 0) * 2 + 16  # revisions add rows for the same bar
    while True:
        columns = await store.scan_columns(
            BAR_TABLE.name,
            tenant_id=tenant_id,
            symbol=symbol,
            start_ms=0,
            end_ms=end_ms,
            limit=limit,
            descending=True,
            where={"timeframe": timeframe.value},
            columns=BAR_COLUMNS,
        )
        latest = _latest_per_ts(columns)
        complete = len(columns["ts"]) < limit
        if complete or len(latest["ts"]) > count:
            break
        limit *= 2
    first = 0 if complete else 1  # the oldest bar may have lost rows to the limit
    kept = max(first, len(latest["ts"]) - max(count, 0))
    return {name: column[kept:] for name, column in latest.items()}


def _latest_per_ts(columns: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """Each ts's latest row (highest tick_count, then last_tick_ts, then the later row),
    ordered by ts."""
    ts = columns["ts"]
    if len(ts) == 0:
        return columns
    position = np.arange(len(ts))[::-1]  # rows come newest first: a later row ranks higher
    order = np.lexsort((position, columns["last_tick_ts"], columns["tick_count"], ts))
    ordered = ts[order]
    latest = order[np.append(ordered[1:] != ordered[:-1], True)]
    return {name: column[latest] for name, column in columns.items()}


def _bars_of(
    symbol: str, timeframe: Timeframe, columns: dict[str, NDArray[Any]]
) -> list[AggregatedBar]:
    names = ("ts", "open", "high", "low", "close", "volume", "tick_count")
    spreads = ("spread_min", "spread_max", "spread_sum", "first_tick_ts", "last_tick_ts")
    rows = zip(*(columns[name].tolist() for name in (*names, *spreads)), strict=True)
    return [
        AggregatedBar(
            symbol=symbol,
            timeframe=timeframe,
            ts=ts,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
            tick_count=tick_count,
            spread_min=spread_min,
            spread_max=spread_max,
            spread_sum=spread_sum,
            first_tick_ts=first_tick_ts,
            last_tick_ts=last_tick_ts,
        )
        for (
            ts,
            open_,
            high,
            low,
            close,
            volume,
            tick_count,
            spread_min,
            spread_max,
            spread_sum,
            first_tick_ts,
            last_tick_ts,
        ) in rows
    ]


BAR_COLUMNS = ("ts", *(c.name for c in BAR_TABLE.values if c.name != "timeframe"))
"""The columns ``read_bar_columns`` returns: the bar's open time, then its values."""


async def read_bar_columns(
    store: TimeSeriesStore,
    tenant_id: TenantId,
    symbol: str,
    timeframe: Timeframe,
    *,
    start_ms: int,
    end_ms: int,
) -> dict[str, NDArray[Any]]:
    """Return the stored bars of one timeframe opened in ``[start_ms, end_ms)``, by ts, as
    one array per name of ``BAR_COLUMNS`` (``TimeSeriesStore.scan_columns``).

    Each bar is its latest row, as ``read_bars`` picks it: the highest ``tick_count``, then
    the highest ``last_tick_ts`` (rows equal in both are the same bar persisted twice).
    """
    await store.ensure_table(BAR_TABLE)
    columns = await store.scan_columns(
        BAR_TABLE.name,
        tenant_id=tenant_id,
        symbol=symbol,
        start_ms=start_ms,
        end_ms=end_ms,
        where={"timeframe": timeframe.value},
        columns=BAR_COLUMNS,
    )
    ts = columns["ts"]
    if len(ts) < 2 or bool(np.all(ts[1:] > ts[:-1])):
        return columns  # one row per bar (a replacing table): nothing to reduce
    order = np.lexsort((columns["last_tick_ts"], columns["tick_count"], ts))
    ordered = ts[order]
    latest = order[np.append(ordered[1:] != ordered[:-1], True)]  # each ts's last in order
    return {name: column[latest] for name, column in columns.items()}
