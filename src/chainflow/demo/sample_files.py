"""Derive bars from the sample market and write MT5 exports, OHLCV CSV and regime segments.

Bars are bid-based OHLCV computed from the ticks, as ``TimeSeriesStore.ohlcv`` builds them.
Files: one per symbol and kind; prices are formatted from whole points, so each carries
exactly the symbol's digits (never ``1.0900000001``). All times are UTC.

- MT5 ticks, ``SYMBOL_ticks.tsv``, laid out as MetaTrader 5's tick export: tab-separated,
  CRLF, header ``<DATE> <TIME> <BID> <ASK> <LAST> <VOLUME> <FLAGS>``, DATE ``YYYY.MM.DD``,
  TIME ``HH:MM:SS.mmm``; BID and ASK on every row, LAST empty (FX), VOLUME the synthetic
  tick volume (MT5 leaves it empty for FX; kept so that the file round-trips). FLAGS is 2
  when the bid changed, 4 when the ask changed, 6 when both did (TICK_FLAG_BID/_ASK).
- MT5 bars, ``SYMBOL_<TF>.tsv``: ``<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> <TICKVOL> <VOL>
  <SPREAD>`` with TIME ``HH:MM:SS`` (bar open) and bid prices; TICKVOL the number of
  ticks, VOL the summed tick volume, SPREAD the smallest spread in the bar (points).
- OHLCV CSV, ``SYMBOL_<TF>.csv``: ``Date,Open,High,Low,Close,Volume``, with Date
  ``YYYY-MM-DD HH:MM:SS`` and Volume the summed tick volume.
- Regime segments, ``SYMBOL_regimes.csv``: ``start,end,regime,ticks``, one row per run of
  ticks with the same hidden regime label. The times are those of the run's first and last
  tick, in ISO 8601 with milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

import numpy as np

from chainflow.core.errors import InvalidInput
from chainflow.core.market import Bar, Timeframe
from chainflow.demo.sample_market import (
    MS_PER_DAY,
    Int64Array,
    Regime,
    SampleDay,
    SymbolTicks,
    generate_sample_days,
)

if TYPE_CHECKING:
    from chainflow.demo.sample_data import SampleMarketConfig

MT5_TICK_HEADER = "<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>"
MT5_BAR_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"
OHLCV_CSV_HEADER = "Date,Open,High,Low,Close,Volume"
REGIME_CSV_HEADER = "start,end,regime,ticks"
TICK_FLAG_BID = 2
TICK_FLAG_ASK = 4

_MT5_TICK_ROW = "%s\t%02d:%02d:%02d.%03d\t%s\t%s\t\t%d\t%d\r\n"
_MT5_BAR_ROW = "%s\t%02d:%02d:%02d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\r\n"
_OHLCV_CSV_ROW = "%s %02d:%02d:%02d,%s,%s,%s,%s,%d\n"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_W = TypeVar("_W")


@dataclass(frozen=True, slots=True, eq=False)
class SymbolBars:
    """One symbol's bid-based OHLCV bars as arrays; prices in points like ``SymbolTicks``."""

    symbol: str
    digits: int
    timeframe: Timeframe
    ts_ms: Int64Array
    open_points: Int64Array
    high_points: Int64Array
    low_points: Int64Array
    close_points: Int64Array
    volume: Int64Array
    tick_count: Int64Array
    min_spread_points: Int64Array

    def __len__(self) -> int:
        return len(self.ts_ms)

    def to_bars(self) -> list[Bar]:
        """Return the bars as ``Bar`` objects."""
        scale = float(10**self.digits)
        columns = (
            self.ts_ms.tolist(),
            (self.open_points / scale).tolist(),
            (self.high_points / scale).tolist(),
            (self.low_points / scale).tolist(),
            (self.close_points / scale).tolist(),
            self.volume.tolist(),
            self.tick_count.tolist(),
        )
        return [
            Bar(self.symbol, self.timeframe, ts, o, h, low, c, float(v), n)
            for ts, o, h, low, c, v, n in zip(*columns, strict=True)
        ]


def aggregate_bars(ticks: SymbolTicks, timeframe: Timeframe) -> SymbolBars:
    """Return bid-based OHLCV bars of ``ticks``, as ``TimeSeriesStore.ohlcv`` builds them."""
    if not isinstance(timeframe, Timeframe):
        expected = ", ".join(t.value for t in Timeframe)
        raise InvalidInput(f"timeframe must be one of {expected}; received {timeframe!r}")
    ts = ticks.ts_ms
    bucket = ts - ts % timeframe.milliseconds
    if len(ts) == 0:
        return SymbolBars(ticks.symbol, ticks.digits, timeframe, *([ts] * 8))
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    bid = ticks.bid_points
    return SymbolBars(
        symbol=ticks.symbol,
        digits=ticks.digits,
        timeframe=timeframe,
        ts_ms=bucket[starts],
        open_points=bid[starts],
        high_points=np.maximum.reduceat(bid, starts),
        low_points=np.minimum.reduceat(bid, starts),
        close_points=bid[ends],
        volume=np.add.reduceat(ticks.volume, starts),
        tick_count=(ends - starts + 1).astype(np.int64),
        min_spread_points=np.minimum.reduceat(ticks.ask_points - bid, starts),
    )


def generate_bars(config: SampleMarketConfig, timeframe: Timeframe) -> Iterator[list[Bar]]:
    """Yield one list of bars per UTC day: each symbol's bars in config order, by time."""
    for day in generate_sample_days(config):
        yield [bar for ticks in day.symbols for bar in aggregate_bars(ticks, timeframe).to_bars()]


class SampleFileKind(StrEnum):
    MT5_TICKS = "mt5-ticks"
    MT5_BARS = "mt5-bars"
    OHLCV_CSV = "csv"
    REGIMES = "regimes"


ALL_SAMPLE_FILE_KINDS: tuple[SampleFileKind, ...] = tuple(SampleFileKind)


def sample_file_name(symbol: str, kind: SampleFileKind, timeframe: Timeframe) -> str:
    """Return the file name of ``kind`` for ``symbol``, e.g. ``EURUSD_M1.tsv``."""
    return {
        SampleFileKind.MT5_TICKS: f"{symbol}_ticks.tsv",
        SampleFileKind.MT5_BARS: f"{symbol}_{timeframe.value}.tsv",
        SampleFileKind.OHLCV_CSV: f"{symbol}_{timeframe.value}.csv",
        SampleFileKind.REGIMES: f"{symbol}_regimes.csv",
    }[kind]


def format_prices(points: Int64Array, digits: int) -> list[str]:
    """Return positive prices given in whole points as decimals with exactly ``digits``."""
    if digits == 0:
        return [str(p) for p in points.tolist()]
    whole, fraction = np.divmod(points, 10**digits)
    row = f"%d.%0{digits}d"
    return [row % pair for pair in zip(whole.tolist(), fraction.tolist(), strict=True)]


class Mt5TickWriter:
    """Write ticks in MetaTrader 5's tick export format; successive calls continue the file."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last_quote = (-1, -1)
        stream.write(MT5_TICK_HEADER + "\r\n")

    def write(self, ticks: SymbolTicks) -> int:
        """Append ``ticks`` (in time order); return how many rows were written."""
        if not len(ticks):
            return 0
        bid, ask = ticks.bid_points, ticks.ask_points
        last_bid, last_ask = self._last_quote
        flags = np.where(bid != np.r_[last_bid, bid[:-1]], TICK_FLAG_BID, 0) + np.where(
            ask != np.r_[last_ask, ask[:-1]], TICK_FLAG_ASK, 0
        )
        dates, hours, minutes, seconds, millis = _split_times(ticks.ts_ms, "%Y.%m.%d")
        rows = zip(
            dates,
            hours,
            minutes,
            seconds,
            millis,
            format_prices(bid, ticks.digits),
            format_prices(ask, ticks.digits),
            ticks.volume.tolist(),
            flags.tolist(),
            strict=True,
        )
        self._stream.write("".join([_MT5_TICK_ROW % row for row in rows]))
        self._last_quote = (int(bid[-1]), int(ask[-1]))
        return len(ticks)


class Mt5BarWriter:
    """Write bars in MetaTrader 5's bar export format; successive calls continue the file."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        stream.write(MT5_BAR_HEADER + "\r\n")

    def write(self, bars: SymbolBars) -> int:
        """Append ``bars`` (in time order); return how many rows were written."""
        dates, hours, minutes, seconds, _ = _split_times(bars.ts_ms, "%Y.%m.%d")
        rows = zip(
            dates,
            hours,
            minutes,
            seconds,
            *_format_ohlc(bars),
            bars.tick_count.tolist(),
            bars.volume.tolist(),
            bars.min_spread_points.tolist(),
            strict=True,
        )
        self._stream.write("".join([_MT5_BAR_ROW % row for row in rows]))
        return len(bars)


class OhlcvCsvWriter:
    """Write bars as generic ``Date,Open,High,Low,Close,Volume`` CSV."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        stream.write(OHLCV_CSV_HEADER + "\n")

    def write(self, bars: SymbolBars) -> int:
        """Append ``bars`` (in time order); return how many rows were written."""
        dates, hours, minutes, seconds, _ = _split_times(bars.ts_ms, "%Y-%m-%d")
        rows = zip(
            dates, hours, minutes, seconds, *_format_ohlc(bars), bars.volume.tolist(), strict=True
        )
        self._stream.write("".join([_OHLCV_CSV_ROW % row for row in rows]))
        return len(bars)


class RegimeSegmentWriter:
    """Write runs of ticks with the same regime label; call ``finish`` after the last write."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._open_segment: list[int] | None = None  # regime, first ts, last ts, ticks
        stream.write(REGIME_CSV_HEADER + "\n")

    def write(self, ticks: SymbolTicks) -> int:
        """Extend the segments with ``ticks``; return how many segments were completed."""
        if not len(ticks):
            return 0
        regime, ts = ticks.regime, ticks.ts_ms
        starts = np.flatnonzero(np.r_[True, regime[1:] != regime[:-1]])
        ends = np.r_[starts[1:], len(ts)] - 1
        completed = 0
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            label, count = int(regime[start]), end - start + 1
            segment = self._open_segment
            if segment is not None and segment[0] == label:
                segment[2], segment[3] = int(ts[end]), segment[3] + count
                continue
            completed += self.finish()
            self._open_segment = [label, int(ts[start]), int(ts[end]), count]
        return completed

    def finish(self) -> int:
        """Write the open segment, if any; return how many rows were written."""
        if self._open_segment is None:
            return 0
        label, first_ms, last_ms, count = self._open_segment
        name = Regime(label).name.lower()
        self._stream.write(f"{_iso_ms(first_ms)},{_iso_ms(last_ms)},{name},{count}\n")
        self._open_segment = None
        return 1


@dataclass(frozen=True, slots=True)
class SampleFileSummary:
    """What was written for one symbol: tick count, first and last tick time, the files."""

    symbol: str
    tick_count: int
    first_ts_ms: int | None
    last_ts_ms: int | None
    paths: tuple[Path, ...]


def write_sample_files(
    config: SampleMarketConfig,
    out_dir: Path,
    kinds: Collection[SampleFileKind] = ALL_SAMPLE_FILE_KINDS,
    timeframe: Timeframe = Timeframe.M1,
    on_day: Callable[[SampleDay], None] | None = None,
) -> list[SampleFileSummary]:
    """Generate the sample market day by day and write ``kinds`` files per symbol.

    Memory holds one day at a time. ``on_day`` is called after each day is written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        files = {
            symbol: _SymbolFiles(stack, out_dir, symbol, kinds, timeframe)
            for symbol in config.symbols
        }
        for day in generate_sample_days(config):
            for ticks in day.symbols:
                files[ticks.symbol].write(ticks)
            if on_day is not None:
                on_day(day)
        return [files[symbol].finish() for symbol in config.symbols]


class _SymbolFiles:
    def __init__(
        self,
        stack: ExitStack,
        out_dir: Path,
        symbol: str,
        kinds: Collection[SampleFileKind],
        timeframe: Timeframe,
    ) -> None:
        self._symbol, self._timeframe = symbol, timeframe
        self.paths = tuple(out_dir / sample_file_name(symbol, kind, timeframe) for kind in kinds)
        streams = {
            kind: stack.enter_context(path.open("w", encoding="utf-8", newline=""))
            for kind, path in zip(kinds, self.paths, strict=True)
        }
        self._tick_writer = _maybe(streams, SampleFileKind.MT5_TICKS, Mt5TickWriter)
        self._regime_writer = _maybe(streams, SampleFileKind.REGIMES, RegimeSegmentWriter)
        self._bar_writers: Sequence[Mt5BarWriter | OhlcvCsvWriter] = [
            writer
            for writer in (
                _maybe(streams, SampleFileKind.MT5_BARS, Mt5BarWriter),
                _maybe(streams, SampleFileKind.OHLCV_CSV, OhlcvCsvWriter),
            )
            if writer is not None
        ]
        self._tick_count = 0
        self._first_ts_ms: int | None = None
        self._last_ts_ms: int | None = None

    def write(self, ticks: SymbolTicks) -> None:
        if not len(ticks):
            return
        if self._tick_writer is not None:
            self._tick_writer.write(ticks)
        if self._regime_writer is not None:
            self._regime_writer.write(ticks)
        if self._bar_writers:
            bars = aggregate_bars(ticks, self._timeframe)
            for writer in self._bar_writers:
                writer.write(bars)
        self._tick_count += len(ticks)
        if self._first_ts_ms is None:
            self._first_ts_ms = int(ticks.ts_ms[0])
        self._last_ts_ms = int(ticks.ts_ms[-1])

    def finish(self) -> SampleFileSummary:
        if self._regime_writer is not None:
            self._regime_writer.finish()
        return SampleFileSummary(
            self._symbol, self._tick_count, self._first_ts_ms, self._last_ts_ms, self.paths
        )


def _maybe(
    streams: Mapping[SampleFileKind, TextIO], kind: SampleFileKind, writer: Callable[[TextIO], _W]
) -> _W | None:
    stream = streams.get(kind)
    return writer(stream) if stream is not None else None


def _format_ohlc(bars: SymbolBars) -> tuple[list[str], list[str], list[str], list[str]]:
    return (
        format_prices(bars.open_points, bars.digits),
        format_prices(bars.high_points, bars.digits),
        format_prices(bars.low_points, bars.digits),
        format_prices(bars.close_points, bars.digits),
    )


def _split_times(
    ts_ms: Int64Array, date_format: str
) -> tuple[list[str], list[int], list[int], list[int], list[int]]:
    days = ts_ms // MS_PER_DAY
    ms_of_day = ts_ms - days * MS_PER_DAY
    labels = {
        day: (_EPOCH + timedelta(days=day)).strftime(date_format)
        for day in np.unique(days).tolist()
    }
    return (
        [labels[day] for day in days.tolist()],
        (ms_of_day // 3_600_000).tolist(),
        (ms_of_day // 60_000 % 60).tolist(),
        (ms_of_day // 1000 % 60).tolist(),
        (ms_of_day % 1000).tolist(),
    )


def _iso_ms(ts_ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=ts_ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ts_ms % 1000:03d}Z"
