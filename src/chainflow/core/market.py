"""Market data domain types: ``Tick``, ``Bar``, ``BarRow``, ``BarSeries`` and ``Timeframe``.

``Bar`` is one bar as an object of a symbol and timeframe (what ingestion builds and
publishes); ``BarSeries`` (``core.bar_series``) is one symbol's bars as columns, the input of
the backtester, the training datasets and the batch feature matrix; ``BarRow`` is one row of
those columns, the bar as the streaming feature engine, the tick path and a strategy read it.
``Bar`` and ``BarRow`` both satisfy ``OHLCV`` (one bar's seven values, read-only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from chainflow.core.bar_series import BarSeries
from chainflow.core.errors import InvalidInput

__all__ = [
    "OHLCV",
    "Bar",
    "BarRow",
    "BarSeries",
    "Tick",
    "Timeframe",
    "bar_row",
    "parse_moment",
]


class Timeframe(StrEnum):
    M1 = "M1"
    M5 = "M5"
    M15 = "M15"
    M30 = "M30"
    H1 = "H1"
    H4 = "H4"
    D1 = "D1"

    @property
    def milliseconds(self) -> int:
        return _TIMEFRAME_MS[self]

    def bucket_start_ms(self, ts_ms: int) -> int:
        """Return the open time of the bar that contains ``ts_ms`` (UTC-aligned)."""
        width = _TIMEFRAME_MS[self]
        return ts_ms - ts_ms % width


_TIMEFRAME_MS: dict[Timeframe, int] = {
    Timeframe.M1: 60_000,
    Timeframe.M5: 300_000,
    Timeframe.M15: 900_000,
    Timeframe.M30: 1_800_000,
    Timeframe.H1: 3_600_000,
    Timeframe.H4: 14_400_000,
    Timeframe.D1: 86_400_000,
}


@dataclass(frozen=True, slots=True)
class Tick:
    """One quote: epoch-millisecond ``ts``, ``bid``/``ask`` prices and tick ``volume``."""

    symbol: str
    ts: int
    bid: float
    ask: float
    volume: float = 0.0


class OHLCV(Protocol):
    """One bar's values, read-only: what the streaming feature engine reads of a bar.

    ``ts`` is the bar's open time (epoch ms, UTC), ``open``/``high``/``low``/``close`` its bid
    prices, ``volume`` its tick volume and ``spread`` its mean ask minus bid in price units
    (NaN where unknown). ``Bar``, ``BarRow`` and the backtester's ``BarView`` satisfy it.
    """

    @property
    def ts(self) -> int: ...

    @property
    def open(self) -> float: ...

    @property
    def high(self) -> float: ...

    @property
    def low(self) -> float: ...

    @property
    def close(self) -> float: ...

    @property
    def volume(self) -> float: ...

    @property
    def spread(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar of ``symbol`` in ``timeframe``; ``ts`` is its open time in epoch ms.

    ``spread`` is the bar's mean ask minus bid in price units, NaN where unknown. It is
    keyword-only, so that a subclass's own fields (the bridge's ``AggregatedBar``) keep their
    positions, and left out of equality and the hash: an unknown spread (NaN) is not equal to
    itself once copied (pickled, decoded), and a bar is its key, prices, volume and ticks.
    """

    symbol: str
    timeframe: Timeframe
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    tick_count: int = 0
    spread: float = field(default=math.nan, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class BarRow:
    """One bar without symbol or timeframe: a row of a ``BarSeries`` as an object.

    What the streaming feature engine is fed, one per closed bar (and, on the tick path, one
    per tick for the forming bar). Where bars are rows of columns (a replay of stored bars, a
    backtest whose series may name no timeframe, a strategy's snapshot) no symbol or
    timeframe is at hand, and the engine reads neither. ``spread`` is NaN where unknown.
    """

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    spread: float = math.nan


def bar_row(
    ts: int,
    open_: float,
    high: float,
    low: float,
    close: float,
    volume: float,
    spread: float | None,
) -> BarRow:
    """Return one bar's ``BarRow``; an unknown (``None``) spread is NaN."""
    return BarRow(
        ts=ts,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        spread=math.nan if spread is None else spread,
    )


def parse_moment(option: str, value: str | None) -> int | None:
    """Return epoch ms of an ISO 8601 time (UTC unless it says otherwise) or of epoch ms.

    ``option`` names the input in the error (a CLI option such as ``--from``).
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"expected {option} as ISO 8601 (2026-01-05 or 2026-01-05T10:00Z) or epoch ms; "
            f"received {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
