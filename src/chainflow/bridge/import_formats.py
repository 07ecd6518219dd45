"""Read history files for ``chainflow import``: detect the format, stream rows in chunks.

Formats (the header line decides; ``detect_format``):

- ``mt5-ticks``, MetaTrader 5's tick export: tab-separated, ``<DATE> <TIME> <BID> <ASK>
  <LAST> <VOLUME> <FLAGS>``, DATE ``YYYY.MM.DD``, TIME ``HH:MM:SS.mmm``. MT5 leaves BID or
  ASK empty on rows where only the other side changed: the last known value is carried
  forward. Rows with neither side known yet (e.g. a LAST-only trade, or a one-sided row
  before the first full quote) carry no quote and are counted in ``rows_without_quote``.
  An empty VOLUME is 0. LAST and FLAGS are ignored. A crossed quote (ASK < BID) is an error.
- ``mt5-bars``, MetaTrader 5's bar export: ``<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE>
  <TICKVOL> <VOL> <SPREAD>`` (daily exports may omit ``<TIME>``). TICKVOL becomes the bar's
  ``tick_count`` and VOL its ``volume`` (0 for FX in real exports). SPREAD, the smallest
  spread of the bar in points, is converted to a price with the point size inferred from
  the most decimals seen in the file's prices so far, and stored as ``spread_min`` =
  ``spread_max`` with ``spread_sum = spread * tick_count`` (so ``spread_mean`` is that
  smallest spread: an approximation). ``first_tick_ts`` and ``last_tick_ts`` are unknown and
  set to the bar's open time.
- ``csv``, generic OHLCV: a header with Date, Open, High, Low, Close and optionally Volume in
  any case, separated by commas, semicolons or tabs. Date is an ISO date or date-time (with
  or without an offset), ``YYYY.MM.DD[ HH:MM[:SS]]``, or epoch milliseconds (an integer
  below 10**11 is read as epoch seconds). ``tick_count`` and the spread stats are 0.

Times without an offset (all MT5 times) are read as UTC shifted back by ``tz_offset_ms``:
MT5 exports are in the broker's server time (often UTC+2/UTC+3), so pass the server's
offset to store UTC. Bar open times must be aligned to the timeframe in UTC; a misaligned
bar (wrong timeframe, or daily bars in server time) is an error rather than a silently
shifted bar.

Encodings: UTF-8 (with or without BOM), UTF-16 LE/BE with BOM (what MT5 often writes),
and UTF-16 LE without BOM (detected from NUL bytes). Line endings LF or CRLF. Every error
is ``InvalidInput`` naming the file, the line number and what was expected vs received.
"""

from __future__ import annotations

import codecs
import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal, TextIO

from chainflow.bridge.bars import AggregatedBar
from chainflow.core.errors import InvalidInput
from chainflow.core.market import Tick, Timeframe

ImportFormat = Literal["mt5-ticks", "mt5-bars", "csv"]
IMPORT_FORMATS: tuple[ImportFormat, ...] = ("mt5-ticks", "mt5-bars", "csv")
DEFAULT_CHUNK_ROWS = 50_000
# Civil time runs from UTC-12 to UTC+14 (Line Islands); no broker server is outside that.
MAX_TZ_OFFSET_HOURS = 14
_HOUR_MS = 3_600_000

_MT5_TICK_COLUMNS = ("<DATE>", "<TIME>", "<BID>", "<ASK>")
_MT5_BAR_COLUMNS = ("<DATE>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>")
_CSV_COLUMNS = ("date", "open", "high", "low", "close")
_CSV_DATE_NAMES = ("date", "datetime", "time", "timestamp", "ts")
_EXPECTED_HEADERS = (
    "an MT5 tick export header (<DATE> <TIME> <BID> <ASK> <LAST> <VOLUME> <FLAGS>), "
    "an MT5 bar export header (<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> <TICKVOL> <VOL> "
    "<SPREAD>) or a CSV header with Date, Open, High, Low, Close[, Volume]"
)
_EPOCH_SECONDS_BELOW = 10**11


@dataclass(slots=True)
class ParsedChunk:
    """Up to ``chunk_rows`` parsed rows, with counters for the file so far."""

    rows: list[Tick] | list[AggregatedBar]
    lines_read: int
    bytes_read: int
    rows_without_quote: int = 0


@dataclass(slots=True)
class _Reader:
    path: Path
    text: TextIO
    raw: BinaryIO
    header: str
    line_number: int = 1
    day_ms: dict[str, int] = field(default_factory=dict)

    def fail(self, expected: str, received: object) -> InvalidInput:
        return InvalidInput(
            f"{self.path}: line {self.line_number}: expected {expected}; received {received!r}",
            details={"file": str(self.path), "line": self.line_number},
        )

    def lines(self) -> Iterator[list[str]]:
        delimiter = _delimiter(self.header)
        for line in self.text:
            self.line_number += 1
            line = line.rstrip("\r\n")
            if line.strip():
                yield line.split(delimiter)

    @property
    def bytes_read(self) -> int:
        return self.raw.tell()


def _sniff_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] != 0:
        return "utf-16-le"
    return "utf-8"


@contextmanager
def _open(path: Path) -> Iterator[_Reader]:
    try:
        raw = path.open("rb")
    except OSError as e:
        raise InvalidInput(f"{path}: cannot be read ({e.strerror or e})") from e
    with raw:
        encoding = _sniff_encoding(raw.read(4))
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=encoding, newline=None)
        reader = _Reader(path, text, raw, header="")
        try:
            reader.header = text.readline().strip().lstrip("\ufeff")
            yield reader
        except UnicodeDecodeError as e:
            raise reader.fail(f"text in {encoding}", f"undecodable bytes ({e.reason})") from e


def _delimiter(header: str) -> str:
    if header.startswith("<") or "\t" in header:
        return "\t"
    return ";" if header.count(";") > header.count(",") else ","


def _format_of(header: str) -> ImportFormat | None:
    names = [name.strip() for name in header.split(_delimiter(header))]
    upper = [name.upper() for name in names]
    if all(column in upper for column in _MT5_TICK_COLUMNS):
        return "mt5-ticks"
    if all(column in upper for column in _MT5_BAR_COLUMNS):
        return "mt5-bars"
    lower = [name.lower() for name in names]
    if any(n in lower for n in _CSV_DATE_NAMES) and all(c in lower for c in _CSV_COLUMNS[1:]):
        return "csv"
    return None


def detect_format(path: Path) -> ImportFormat:
    """Return the format of ``path`` from its header line; raise ``InvalidInput`` if unknown."""
    with _open(path) as reader:
        detected = _format_of(reader.header)
        if detected is None:
            raise reader.fail(_EXPECTED_HEADERS, reader.header[:200])
        return detected


def utc_offset_ms(hours: float) -> int:
    """Return ``hours`` of UTC offset in ms; raise ``InvalidInput`` unless finite, in ±14."""
    if not math.isfinite(hours) or abs(hours) > MAX_TZ_OFFSET_HOURS:
        raise InvalidInput(
            f"expected a UTC offset between -{MAX_TZ_OFFSET_HOURS} and +{MAX_TZ_OFFSET_HOURS} "
            f"hours; received {hours!r}"
        )
    return round(hours * _HOUR_MS)


def iter_chunks(
    path: Path,
    fmt: ImportFormat,
    symbol: str,
    *,
    timeframe: Timeframe = Timeframe.M1,
    tz_offset_ms: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[ParsedChunk]:
    """Yield the rows of ``path`` (``Tick`` or ``AggregatedBar``) in chunks of ``chunk_rows``.

    The file is read as it goes, so memory stays bounded by one chunk. Raise ``InvalidInput``
    for a header that is not ``fmt`` or a malformed row, naming the file and line.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1; received {chunk_rows}")
    utc_offset_ms(tz_offset_ms / _HOUR_MS)
    with _open(path) as reader:
        if _format_of(reader.header) != fmt:
            expected = f"a header of the {fmt} format ({_EXPECTED_HEADERS})"
            raise reader.fail(expected, reader.header[:200])
        if fmt == "mt5-ticks":
            yield from _tick_chunks(reader, symbol, tz_offset_ms, chunk_rows)
        else:
            parse = _mt5_bar_parser if fmt == "mt5-bars" else _csv_bar_parser
            row_to_bar = parse(reader, symbol, timeframe, tz_offset_ms)
            yield from _bar_chunks(reader, row_to_bar, chunk_rows)


def _columns(reader: _Reader, names: tuple[str, ...], *, upper: bool) -> dict[str, int]:
    header = [n.strip() for n in reader.header.split(_delimiter(reader.header))]
    folded = [n.upper() if upper else n.lower() for n in header]
    return {name: folded.index(name) for name in names if name in folded} | {
        "__count__": len(header)
    }


def _fields(reader: _Reader, fields: list[str], count: int) -> list[str]:
    if len(fields) != count:
        raise reader.fail(f"{count} fields like the header", f"{len(fields)} fields")
    return fields


def _price(reader: _Reader, text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise reader.fail(f"{column} as a positive number", text)
    return value


def _number(reader: _Reader, text: str, column: str) -> float:
    if not text.strip():
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise reader.fail(f"{column} as a non-negative number or empty", text)
    return value


def _mt5_ts(reader: _Reader, date: str, clock: str, tz_offset_ms: int) -> int:
    day = reader.day_ms.get(date)
    if day is None:
        try:
            if len(date) != 10 or date[4] not in ".-" or date[7] != date[4]:
                raise ValueError(date)
            moment = datetime(int(date[:4]), int(date[5:7]), int(date[8:]), tzinfo=UTC)
        except ValueError as e:
            raise reader.fail("<DATE> as YYYY.MM.DD", date) from e
        day = reader.day_ms[date] = int(moment.timestamp()) * 1000
    return day + _clock_ms(reader, clock) - tz_offset_ms


def _clock_ms(reader: _Reader, clock: str) -> int:
    if not clock:
        return 0
    try:
        hms, _, fraction = clock.partition(".")
        parts = [int(p) for p in hms.split(":")]
        if len(parts) == 2:
            parts.append(0)
        hours, minutes, seconds = parts
        millis = int((fraction + "000")[:3]) if fraction else 0
        if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 61):
            raise ValueError(clock)
    except ValueError as e:
        raise reader.fail("<TIME> as HH:MM[:SS[.mmm]]", clock) from e
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis


def _tick_chunks(
    reader: _Reader, symbol: str, tz_offset_ms: int, chunk_rows: int
) -> Iterator[ParsedChunk]:
    col = _columns(reader, ("<DATE>", "<TIME>", "<BID>", "<ASK>", "<VOLUME>"), upper=True)
    count, i_date, i_time, i_bid, i_ask = (col[k] for k in ("__count__", *_MT5_TICK_COLUMNS))
    i_volume = col.get("<VOLUME>")
    bid = ask = math.nan
    ticks: list[Tick] = []
    lines = without_quote = 0
    for fields in reader.lines():
        lines += 1
        row = _fields(reader, fields, count)
        ts = _mt5_ts(reader, row[i_date], row[i_time], tz_offset_ms)
        if row[i_bid]:
            bid = _price(reader, row[i_bid], "<BID>")
        if row[i_ask]:
            ask = _price(reader, row[i_ask], "<ASK>")
        if (not row[i_bid] and not row[i_ask]) or math.isnan(bid) or math.isnan(ask):
            without_quote += 1
            continue
        if ask < bid:
            raise reader.fail("<ASK> >= <BID>", f"bid {bid}, ask {ask}")
        volume = _number(reader, row[i_volume], "<VOLUME>") if i_volume is not None else 0.0
        ticks.append(Tick(symbol, ts, bid, ask, volume))
        if len(ticks) >= chunk_rows:
            yield ParsedChunk(ticks, lines, reader.bytes_read, without_quote)
            ticks = []
    yield ParsedChunk(ticks, lines, reader.bytes_read, without_quote)


RowToBar = Callable[[list[str]], AggregatedBar]


def _bar_chunks(reader: _Reader, row_to_bar: RowToBar, chunk_rows: int) -> Iterator[ParsedChunk]:
    bars: list[AggregatedBar] = []
    lines = 0
    for fields in reader.lines():
        lines += 1
        bars.append(row_to_bar(fields))
        if len(bars) >= chunk_rows:
            yield ParsedChunk(bars, lines, reader.bytes_read)
            bars = []
    yield ParsedChunk(bars, lines, reader.bytes_read)


def _checked_bar(
    reader: _Reader, timeframe: Timeframe, ts: int, ohlc: tuple[float, ...]
) -> tuple[float, float, float, float]:
    open_, high, low, close = ohlc
    if not low <= min(open_, close) <= max(open_, close) <= high:
        raise reader.fail("LOW <= OPEN, CLOSE <= HIGH", f"{open_} {high} {low} {close}")
    if ts % timeframe.milliseconds:
        moment = datetime.fromtimestamp(ts / 1000, UTC).isoformat()
        raise reader.fail(f"a bar open time aligned to {timeframe.value} in UTC", moment)
    return open_, high, low, close


def _decimals(text: str) -> int:
    _, dot, fraction = text.strip().partition(".")
    return len(fraction) if dot else 0


def _mt5_bar_parser(
    reader: _Reader, symbol: str, timeframe: Timeframe, tz_offset_ms: int
) -> RowToBar:
    names = ("<DATE>", "<TIME>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>")
    col = _columns(reader, (*names, "<TICKVOL>", "<VOL>", "<SPREAD>"), upper=True)
    count = col["__count__"]
    i_time, i_tickvol, i_vol, i_spread = (
        col.get(k) for k in ("<TIME>", "<TICKVOL>", "<VOL>", "<SPREAD>")
    )
    digits = 0

    def row_to_bar(fields: list[str]) -> AggregatedBar:
        nonlocal digits
        row = _fields(reader, fields, count)
        clock = row[i_time] if i_time is not None else ""
        ts = _mt5_ts(reader, row[col["<DATE>"]], clock, tz_offset_ms)
        texts = [row[col[name]] for name in names[2:]]
        prices = tuple(_price(reader, t, n) for t, n in zip(texts, names[2:], strict=True))
        o, h, low, c = _checked_bar(reader, timeframe, ts, prices)
        digits = max(digits, *(_decimals(t) for t in texts))
        ticks = _number(reader, row[i_tickvol], "<TICKVOL>") if i_tickvol is not None else 0.0
        volume = _number(reader, row[i_vol], "<VOL>") if i_vol is not None else 0.0
        points = _number(reader, row[i_spread], "<SPREAD>") if i_spread is not None else 0.0
        spread = round(points * 10.0**-digits, digits)
        tick_count = int(ticks)
        return AggregatedBar(
            symbol, timeframe, ts, o, h, low, c, volume, tick_count,
            spread, spread, spread * tick_count, ts, ts,
        )  # fmt: skip

    return row_to_bar


def _csv_bar_parser(
    reader: _Reader, symbol: str, timeframe: Timeframe, tz_offset_ms: int
) -> RowToBar:
    col = _columns(reader, (*_CSV_DATE_NAMES, *_CSV_COLUMNS[1:], "volume"), upper=False)
    count = col["__count__"]
    i_date = next(col[n] for n in _CSV_DATE_NAMES if n in col)
    i_volume = col.get("volume")
    names = ("Open", "High", "Low", "Close")

    def row_to_bar(fields: list[str]) -> AggregatedBar:
        row = _fields(reader, fields, count)
        ts = _csv_ts(reader, row[i_date].strip(), tz_offset_ms)
        texts = [row[col[name.lower()]] for name in names]
        prices = tuple(_price(reader, t, n) for t, n in zip(texts, names, strict=True))
        o, h, low, c = _checked_bar(reader, timeframe, ts, prices)
        volume = _number(reader, row[i_volume], "Volume") if i_volume is not None else 0.0
        return AggregatedBar(symbol, timeframe, ts, o, h, low, c, volume, 0, 0.0, 0.0, 0.0, ts, ts)

    return row_to_bar


def _csv_ts(reader: _Reader, text: str, tz_offset_ms: int) -> int:
    if text.isdigit():
        value = int(text)
        return value * 1000 if value < _EPOCH_SECONDS_BELOW else value
    iso = text
    if len(text) >= 10 and text[4] == "." and text[7] == ".":
        iso = f"{text[:4]}-{text[5:7]}-{text[8:]}"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError as e:
        raise reader.fail("Date as an ISO date or date-time, or epoch milliseconds", text) from e
    if moment.tzinfo is not None:
        return round(moment.timestamp() * 1000)
    return round(moment.replace(tzinfo=UTC).timestamp() * 1000) - tz_offset_ms
