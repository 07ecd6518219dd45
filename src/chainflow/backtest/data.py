"""Bars for the backtester: from a bar file (MT5 export or OHLCV CSV) or the bar store.

A file is read by the bridge's one bar-file reader (``bridge.api.read_bar_file``), as
``chainflow import`` and ``chainflow train`` read it: pandas/yfinance CSVs, ISO or epoch
times, a ``Spread`` column in points or price (see ``chainflow.bridge.bar_files``).

Both paths give a ``core.market.BarSeries``; a bar's mean spread (MT5 exports carry it, CSVs
do not) becomes ``BarSeries.spread`` in price units, NaN where unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainflow.bridge.api import (
    AggregatedBar,
    ColumnChoices,
    read_bar_columns,
    read_bar_file,
)
from chainflow.core.errors import InvalidInput
from chainflow.core.ids import TenantId
from chainflow.core.market import BarSeries, Timeframe

MAX_STORED_BARS = 2_000_000


def parse_timeframe(value: str) -> Timeframe:
    """Return the timeframe ``value`` names (any case); raise ``InvalidInput`` otherwise."""
    try:
        return Timeframe(value.strip().upper())
    except ValueError:
        expected = ", ".join(t.value for t in Timeframe)
        raise InvalidInput(f"expected a timeframe among {expected}; received {value!r}") from None


def bars_from_aggregated(
    bars: Sequence[AggregatedBar], symbol: str = "", timeframe: str = ""
) -> BarSeries:
    """Return ``bars`` as backtester arrays; raise ``InvalidInput`` when there are none."""
    if not bars:
        raise InvalidInput(f"expected bars to backtest {symbol} {timeframe}; received none")
    spread = np.array([b.spread_mean for b in bars], dtype=np.float64)
    return BarSeries.from_arrays(
        ts=np.array([b.ts for b in bars], dtype=np.int64),
        open=np.array([b.open for b in bars], dtype=np.float64),
        high=np.array([b.high for b in bars], dtype=np.float64),
        low=np.array([b.low for b in bars], dtype=np.float64),
        close=np.array([b.close for b in bars], dtype=np.float64),
        volume=np.array([b.volume for b in bars], dtype=np.float64),
        spread=spread,
        symbol=symbol,
        timeframe=timeframe,
    )


def within(bars: BarSeries, start_ms: int | None, end_ms: int | None) -> BarSeries:
    """Return the bars opened in ``[start_ms, end_ms)`` (either bound may be open)."""
    low = 0 if start_ms is None else int(np.searchsorted(bars.ts, start_ms, side="left"))
    high = len(bars) if end_ms is None else int(np.searchsorted(bars.ts, end_ms, side="left"))
    return bars.slice(low, max(low, high))


def symbol_of_file(path: Path) -> str:
    """Guess a symbol from a file name such as ``EURUSD_M5.tsv`` (else ``DATA``)."""
    head = path.stem.split("_")[0].split(".")[0].upper()
    return head if head.isalnum() else "DATA"


def timeframe_of_spacing(ts: Sequence[int] | np.ndarray) -> Timeframe | None:
    """Return the timeframe matching the most common spacing of ``ts``, if one does."""
    if len(ts) < 2:
        return None
    gaps, counts = np.unique(np.diff(np.asarray(ts, dtype=np.int64)), return_counts=True)
    usual = int(gaps[np.argmax(counts)])
    return next((t for t in Timeframe if t.milliseconds == usual), None)


def load_file(
    path: Path,
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    tz_offset_ms: int = 0,
    choices: ColumnChoices | None = None,
    warn: Callable[[str], None] | None = None,
) -> BarSeries:
    """Read a bar file; the symbol defaults to the file name's, the timeframe to the bars'
    spacing. Raise ``InvalidInput`` for a missing file or one without bars in range.

    ``tz_offset_ms`` (times without an offset), ``choices`` (adjusted close, spread unit)
    and ``warn`` (told the ignored columns) go to the reader."""
    if not path.is_file():
        raise InvalidInput(f"expected --data to be a readable file; received {str(path)!r}")
    name = (symbol or symbol_of_file(path)).strip().upper()
    wanted = parse_timeframe(timeframe) if timeframe else None
    raw = read_bar_file(
        path,
        name,
        timeframe=wanted or Timeframe.M1,
        tz_offset_ms=tz_offset_ms,
        choices=choices or ColumnChoices(),
        warn=warn,
    )
    found = timeframe_of_spacing([b.ts for b in raw])
    if wanted is None:
        wanted = found or Timeframe.M1
    elif found is not None and found != wanted:
        raise InvalidInput(
            f"expected {wanted.value} bars ({wanted.milliseconds // 60_000} minutes apart); "
            f"received {found.value} bars: pass the file's own timeframe as --timeframe"
        )
    bars = bars_from_aggregated(raw, name, wanted.value)
    picked = within(bars, start_ms, end_ms)
    if not len(picked):
        raise InvalidInput(
            f"expected bars in the chosen --from/--to range; received none of {len(bars)}"
        )
    return picked


async def load_stored(
    store: Any,
    tenant_id: TenantId,
    symbol: str,
    timeframe: Timeframe,
    *,
    start_ms: int | None,
    end_ms: int,
) -> BarSeries:
    """Read a tenant's stored bars opened in ``[start_ms, end_ms)`` (the latest
    ``MAX_STORED_BARS`` without ``start_ms``); raise ``InvalidInput`` when there are none.

    Read as columns (``bridge.api.read_bar_columns``): the same bars ``read_bars`` gives,
    without an object per bar (a 100k-bar range reads ~10x faster)."""
    columns = await read_bar_columns(
        store, tenant_id, symbol, timeframe, start_ms=start_ms or 0, end_ms=end_ms
    )
    if not len(columns["ts"]):
        raise InvalidInput(
            f"expected stored {symbol} {timeframe.value} bars in that range; received none "
            "(import some with chainflow import, or stream ticks)"
        )
    latest = {name: column[-MAX_STORED_BARS:] for name, column in columns.items()}
    return bars_from_columns(latest, symbol, timeframe.value)


def bars_from_columns(columns: Mapping[str, np.ndarray], symbol: str, timeframe: str) -> BarSeries:
    """Return stored bar columns (``bridge.api.BAR_COLUMNS``) as backtester arrays; the
    spread is ``AggregatedBar.spread_mean`` per bar (NaN where unknown)."""
    count = columns["tick_count"].astype(np.float64)
    spread = np.full(len(count), np.nan)
    np.divide(columns["spread_sum"], count, out=spread, where=count != 0)
    return BarSeries.from_arrays(
        ts=columns["ts"],
        open=columns["open"],
        high=columns["high"],
        low=columns["low"],
        close=columns["close"],
        volume=columns["volume"],
        spread=spread,
        symbol=symbol,
        timeframe=timeframe,
    )
