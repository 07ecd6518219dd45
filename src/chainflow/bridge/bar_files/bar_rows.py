"""One row of a bar file to an ``AggregatedBar``: prices, volumes, spread, checks.

- Prices are positive numbers with ``Low <= Open, Close <= High``; the open time must be
  aligned to the timeframe in UTC (a misaligned bar is an error, not a shifted bar).
- With ``use_adj_close`` the close is the adjusted close and open, high and low are scaled
  by ``Adj Close / Close`` (as yfinance's ``auto_adjust`` does); volume is kept.
- MT5 ``<TICKVOL>`` (CSV ``tick_volume``) is the bar's ``tick_count``, ``<VOL>`` (CSV
  ``Volume``/``real_volume``) its ``volume``; empty counts as 0.
- A spread is stored as ``spread_min = spread_max`` and ``spread_sum = spread *
  tick_count`` (so ``spread_mean`` is that spread). A file with a spread but no tick count
  gets ``tick_count`` 1 per bar, so that its spread is known. A spread in points becomes a
  price with ``10 ** -digits``: for MT5 exports the most decimals seen in the file's prices
  so far; for CSV the symbol's price digits (``symbol_digits``; ``ColumnChoices.point_digits``
  overrides), else the most decimals seen. A CSV spread in points must be a whole number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chainflow.bridge.bar_files.columns import BarColumns, ColumnChoices, ImportFormat
from chainflow.bridge.bar_files.source import LineSource
from chainflow.bridge.bar_files.timestamps import Mt5Times, csv_time_ms
from chainflow.bridge.bars import AggregatedBar
from chainflow.core.market import Timeframe


def symbol_digits(symbol: str) -> int | None:
    """Return the price digits of a currency pair: 3 when quoted in JPY, else 5; None for
    another symbol. The same rule as ``risk.instruments.default_instrument`` (the bridge
    sits below risk and cannot import it; a test keeps the two equal)."""
    head = symbol[:6]
    if len(head) < 6 or not head.isascii() or not head.isalpha():
        return None
    return 3 if head[3:].upper() == "JPY" else 5


def price(source: LineSource, text: str, column: str) -> float:
    """Return ``text`` as a positive finite number; raise naming ``column`` otherwise."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise source.fail(f"{column} as a positive number", text)
    return value


def number(source: LineSource, text: str, column: str) -> float:
    """Return ``text`` as a non-negative finite number, 0 when empty; raise otherwise."""
    if not text.strip():
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise source.fail(f"{column} as a non-negative number or empty", text)
    return value


def _decimals(text: str) -> int:
    _, dot, fraction = text.strip().partition(".")
    return len(fraction) if dot else 0


@dataclass(slots=True)
class BarRowReader:
    """Turn the rows of one bar file into bars (``read``), keeping the file's state."""

    source: LineSource
    columns: BarColumns
    fmt: ImportFormat
    symbol: str
    timeframe: Timeframe
    tz_offset_ms: int
    choices: ColumnChoices
    file_digits: int = 0
    mt5_times: Mt5Times = field(init=False)
    point_digits: int | None = field(init=False)
    """The digits of a point when known up front; None: the most decimals seen so far."""

    def __post_init__(self) -> None:
        self.mt5_times = Mt5Times(self.source.fail, self.tz_offset_ms)
        self.point_digits = None
        if self.fmt == "csv":
            self.point_digits = self.choices.point_digits
            if self.point_digits is None:
                self.point_digits = symbol_digits(self.symbol)

    def read(self, fields: list[str]) -> AggregatedBar:
        """Return the bar of one row's ``fields``; raise ``InvalidInput`` naming the column."""
        cols = self.columns
        if len(fields) != cols.count:
            raise self.source.fail(f"{cols.count} fields like the header", f"{len(fields)} fields")
        ts = self._ts(fields)
        o, h, low, c = (price(self.source, fields[i], cols.name(i)) for i in cols.prices)
        if cols.spread is not None and self.point_digits is None:
            decimals = (_decimals(fields[i]) for i in cols.prices)
            self.file_digits = max(self.file_digits, *decimals)
        if cols.adj_close is not None:
            o, h, low, c = self._adjusted(o, h, low, c, fields, cols.adj_close)
        self._check(ts, o, h, low, c)
        volume = self._count(fields, cols.volume)
        ticks = int(self._count(fields, cols.tick_count))
        spread = self._spread(fields)
        if cols.spread is not None and cols.tick_count is None:
            ticks = 1
        return AggregatedBar(
            symbol=self.symbol,
            timeframe=self.timeframe,
            ts=ts,
            open=o,
            high=h,
            low=low,
            close=c,
            volume=volume,
            tick_count=ticks,
            spread_min=spread,
            spread_max=spread,
            spread_sum=spread * ticks,
            first_tick_ts=ts,
            last_tick_ts=ts,
        )

    def _ts(self, fields: list[str]) -> int:
        cols = self.columns
        if self.fmt == "mt5-bars":
            clock = fields[cols.clock] if cols.clock is not None else ""
            return self.mt5_times.ms(fields[cols.time], clock)
        text = fields[cols.time].strip()
        name = cols.name(cols.time) or "the unnamed first column"
        if cols.clock is not None:
            text = f"{text} {fields[cols.clock].strip()}"
            name = f"{name} + {cols.name(cols.clock)}"
        return csv_time_ms(text, self.tz_offset_ms, self.source.fail, name)

    def _count(self, fields: list[str], index: int | None) -> float:
        return (
            0.0 if index is None else number(self.source, fields[index], self.columns.name(index))
        )

    def _adjusted(
        self, o: float, h: float, low: float, c: float, fields: list[str], index: int
    ) -> tuple[float, float, float, float]:
        adjusted = price(self.source, fields[index], self.columns.name(index))
        factor = adjusted / c
        return o * factor, max(h * factor, adjusted), min(low * factor, adjusted), adjusted

    def _check(self, ts: int, o: float, h: float, low: float, c: float) -> None:
        if not low <= min(o, c) <= max(o, c) <= h:
            raise self.source.fail("LOW <= OPEN, CLOSE <= HIGH", f"{o} {h} {low} {c}")
        if ts % self.timeframe.milliseconds:
            moment = _iso(ts)
            expected = f"a bar open time aligned to {self.timeframe.value} in UTC"
            raise self.source.fail(expected, moment)

    def _spread(self, fields: list[str]) -> float:
        cols = self.columns
        if cols.spread is None:
            return 0.0
        name = cols.name(cols.spread)
        value = number(self.source, fields[cols.spread], name)
        if cols.spread_unit == "price":
            return value
        if self.fmt == "csv" and not value.is_integer():
            expected = (
                f"{name} in points as a whole number (a spread in price units needs a "
                "Spread(price) header or --spread-unit price)"
            )
            raise self.source.fail(expected, fields[cols.spread])
        digits = self.file_digits if self.point_digits is None else self.point_digits
        return round(value * 10.0**-digits, digits)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).isoformat()
