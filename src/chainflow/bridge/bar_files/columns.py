"""Which format a header line is, and which field of a row holds which value.

CSV column names are matched without case, spaces, ``_``, ``.`` or ``-`` (``Adj Close``,
``adj_close`` and ``ADJCLOSE`` are one name). The time column is the first of
``Datetime``, ``Date``, ``Timestamp``, ``ts``, ``Time``, ``Gmt time``; with both a ``Date``
and a ``Time`` column (and no ``Datetime``) a row's time is the two joined; a first column
without a name (pandas ``to_csv`` of a ``DatetimeIndex``) holds the time when no column is
named so. Every column left unused is listed in ``BarColumns.ignored``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from chainflow.core.errors import InvalidInput

ImportFormat = Literal["mt5-ticks", "mt5-bars", "csv"]
IMPORT_FORMATS: tuple[ImportFormat, ...] = ("mt5-ticks", "mt5-bars", "csv")
SpreadUnit = Literal["points", "price"]
SPREAD_UNITS: tuple[SpreadUnit, ...] = ("points", "price")

EXPECTED_HEADERS = (
    "an MT5 tick export header (<DATE> <TIME> <BID> <ASK> <LAST> <VOLUME> <FLAGS>), "
    "an MT5 bar export header (<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> <TICKVOL> <VOL> "
    "<SPREAD>) or a CSV header with a time column (Date, Datetime, Time, Timestamp, ts or "
    "an unnamed first column), Open, High, Low, Close[, Volume]"
)
_MT5_TICK_COLUMNS = ("<DATE>", "<TIME>", "<BID>", "<ASK>")
_MT5_TICK_IGNORED = ("<LAST>", "<FLAGS>")
_MT5_BAR_COLUMNS = ("<DATE>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>")
_PRICES = ("open", "high", "low", "close")
_TIME_KEYS = ("datetime", "date", "timestamp", "ts", "time", "gmttime")
_VOLUME_KEYS = ("volume", "realvolume", "vol")
_TICK_COUNT_KEYS = ("tickvolume", "tickvol", "tickcount", "ticks")
_ADJ_CLOSE_KEYS = ("adjclose", "adjustedclose")
_SPREAD_KEYS: dict[str, SpreadUnit | None] = {
    "spread": None,
    **dict.fromkeys(("spread(points)", "spreadpoints", "spread(pts)", "spreadpts"), "points"),
    **dict.fromkeys(("spread(price)", "spreadprice"), "price"),
}


@dataclass(frozen=True, slots=True)
class ColumnChoices:
    """What the caller asks of the columns: the adjusted close instead of the close, the
    unit of a ``Spread`` column whose header does not say it, the price digits of a point."""

    use_adj_close: bool = False
    spread_unit: SpreadUnit | None = None
    point_digits: int | None = None


@dataclass(frozen=True, slots=True)
class BarColumns:
    """Field positions of a bar row; ``names`` are the header's own, for error messages."""

    count: int
    time: int
    clock: int | None
    prices: tuple[int, int, int, int]
    names: tuple[str, ...]
    volume: int | None = None
    tick_count: int | None = None
    adj_close: int | None = None
    spread: int | None = None
    spread_unit: SpreadUnit = "points"
    ignored: tuple[str, ...] = ()

    def name(self, index: int) -> str:
        """Return the header name of field ``index``."""
        return self.names[index]


@dataclass(frozen=True, slots=True)
class TickColumns:
    """Field positions of an MT5 tick row."""

    count: int
    date: int
    clock: int
    bid: int
    ask: int
    volume: int | None
    ignored: tuple[str, ...]


def parse_spread_unit(value: object) -> SpreadUnit | None:
    """Return the spread unit ``value`` names (``points`` or ``price``, any case), or None."""
    if value is None:
        return None
    folded = str(value).strip().lower()
    for unit in SPREAD_UNITS:
        if folded == unit:
            return unit
    raise InvalidInput(f"expected --spread-unit points or price; received {value!r}")


def column_key(name: str) -> str:
    """Return ``name`` folded for matching: lower case without spaces, ``_``, ``.``, ``-``."""
    folded = name.strip().strip('"').lower()
    return "".join(ch for ch in folded if ch not in " _.-")


def format_of(header: Sequence[str]) -> ImportFormat | None:
    """Return the format a header line is, or None."""
    upper = [name.strip().upper() for name in header]
    if all(column in upper for column in _MT5_TICK_COLUMNS):
        return "mt5-ticks"
    if all(column in upper for column in _MT5_BAR_COLUMNS):
        return "mt5-bars"
    keys = [column_key(name) for name in header]
    if all(price in keys for price in _PRICES) and _csv_time(keys)[0] is not None:
        return "csv"
    return None


def _csv_time(keys: list[str]) -> tuple[int | None, int | None]:
    """Return the (time, clock) field positions of a CSV header's keys."""
    if "date" in keys and "time" in keys and "datetime" not in keys:
        return keys.index("date"), keys.index("time")
    found = next((keys.index(k) for k in _TIME_KEYS if k in keys), None)
    if found is None and keys and keys[0] in ("", "unnamed:0"):
        found = 0
    return found, None


def _ignored(
    header: Sequence[str],
    used: set[int],
    silent: Sequence[str] = (),
    notes: Mapping[int, str] | None = None,
) -> tuple[str, ...]:
    """Return the names of the columns not ``used`` (``silent`` ones aside), with ``notes``."""
    names = []
    for i, name in enumerate(header):
        label = name.strip() or f"(unnamed column {i + 1})"
        if i in used or label.upper() in silent:
            continue
        note = (notes or {}).get(i)
        names.append(f"{label} {note}" if note else label)
    return tuple(names)


def tick_columns(header: Sequence[str]) -> TickColumns:
    """Return the field positions of an MT5 tick export header (checked by ``format_of``)."""
    upper = [name.strip().upper() for name in header]
    date, clock, bid, ask = (upper.index(name) for name in _MT5_TICK_COLUMNS)
    volume = upper.index("<VOLUME>") if "<VOLUME>" in upper else None
    used = {date, clock, bid, ask} | ({volume} if volume is not None else set())
    ignored = _ignored(header, used, _MT5_TICK_IGNORED)
    return TickColumns(len(header), date, clock, bid, ask, volume, ignored)


Fail = Callable[[str, object], InvalidInput]


def bar_columns(
    header: Sequence[str], fmt: ImportFormat, choices: ColumnChoices, fail: Fail
) -> BarColumns:
    """Return the field positions of a bar header; ``fail`` builds a header error."""
    names = tuple(name.strip() for name in header)
    if fmt == "mt5-bars":
        return _mt5_bar_columns(names, choices, fail)
    keys = [column_key(name) for name in names]
    time, clock = _csv_time(keys)
    if time is None:
        raise fail(EXPECTED_HEADERS, ",".join(names)[:200])
    prices = (keys.index("open"), keys.index("high"), keys.index("low"), keys.index("close"))
    volume = _first(keys, _VOLUME_KEYS)
    tick_count = _first(keys, _TICK_COUNT_KEYS)
    adj_close = _first(keys, _ADJ_CLOSE_KEYS)
    if choices.use_adj_close and adj_close is None:
        raise fail("an Adj Close column (asked to use the adjusted close)", ",".join(names))
    spread, unit = _spread(names, keys, choices, fail)
    adj_used = adj_close if choices.use_adj_close else None
    optional = (clock, volume, tick_count, spread, adj_used)
    used = {time, *prices} | {i for i in optional if i is not None}
    notes = {} if adj_close is None else {adj_close: "(used only when asked: --use-adj-close)"}
    return BarColumns(
        len(names),
        time,
        clock,
        prices,
        names,
        volume=volume,
        tick_count=tick_count,
        adj_close=adj_used,
        spread=spread,
        spread_unit=unit,
        ignored=_ignored(names, used, notes=notes),
    )


def _first(keys: list[str], wanted: tuple[str, ...]) -> int | None:
    return next((keys.index(k) for k in wanted if k in keys), None)


def _spread(
    names: tuple[str, ...], keys: list[str], choices: ColumnChoices, fail: Fail
) -> tuple[int | None, SpreadUnit]:
    index = next((i for i, k in enumerate(keys) if k in _SPREAD_KEYS), None)
    if index is None:
        return None, "points"
    stated = _SPREAD_KEYS[keys[index]]
    if stated is not None and choices.spread_unit not in (None, stated):
        raise fail(
            f"a spread column in {choices.spread_unit} (as --spread-unit says)",
            f"{names[index]} (in {stated})",
        )
    return index, stated or choices.spread_unit or "points"


def _mt5_bar_columns(names: tuple[str, ...], choices: ColumnChoices, fail: Fail) -> BarColumns:
    upper = [name.upper() for name in names]

    def find(name: str) -> int | None:
        return upper.index(name) if name in upper else None

    prices = (
        upper.index("<OPEN>"),
        upper.index("<HIGH>"),
        upper.index("<LOW>"),
        upper.index("<CLOSE>"),
    )
    clock, tickvol, vol, spread = (find(n) for n in ("<TIME>", "<TICKVOL>", "<VOL>", "<SPREAD>"))
    if spread is not None and choices.spread_unit == "price":
        raise fail("a spread column in price (as --spread-unit says)", "<SPREAD> (in points)")
    time = upper.index("<DATE>")
    used = {time, *prices} | {i for i in (clock, tickvol, vol, spread) if i is not None}
    return BarColumns(
        len(names),
        time,
        clock,
        prices,
        names,
        volume=vol,
        tick_count=tickvol,
        spread=spread,
        spread_unit="points",
        ignored=_ignored(names, used),
    )
