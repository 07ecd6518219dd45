"""The tick wire item: its schema check and the rejection codes of tick validation.

``parse_tick_message`` checks the schema and types of one item of a ``tick``/``ticks``
message (DESIGN.md section 4) and never raises on bad input: it returns a ``ParsedTick``
(symbol not yet normalized, values not yet checked; ``bridge.validation`` does both) or a
``Rejection`` carrying a ``RejectCode``. Unknown keys such as ``"type"`` are ignored.

Whatever the item holds, the parse is bounded: a ``seq`` beyond ``MAX_SEQ`` (it would not
fit the answer's 64-bit integer) and a ``symbol`` longer than ``MAX_SYMBOL_CHARS`` (it would
be cached by the normalizer) are refused, and a received value is described by a bounded
``reprlib`` view, whatever its size or depth.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from chainflow.core.market import Tick

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

MAX_SEQ = 2**63 - 1
"""The largest ``seq`` (and ``ts``) accepted: a signed 64-bit integer, as stored and sent."""
MAX_SYMBOL_CHARS = 64
"""The longest raw symbol read; a normalized one has at most 32 characters (``SYMBOL_PATTERN``)."""


class RejectCode(StrEnum):
    """Why a tick was refused; the value is the wire ``code`` of the ``error`` frame."""

    INVALID_SCHEMA = "invalid_schema"
    INVALID_SYMBOL = "invalid_symbol"
    NON_FINITE_PRICE = "non_finite_price"
    NON_POSITIVE_PRICE = "non_positive_price"
    CROSSED_QUOTE = "crossed_quote"
    SPREAD_OUTLIER = "spread_outlier"
    PRICE_SPIKE = "price_spike"
    FUTURE_TIMESTAMP = "future_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    DUPLICATE = "duplicate"
    INVALID_VOLUME = "invalid_volume"
    PRICE_OUT_OF_RANGE = "price_out_of_range"
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused tick: machine ``code``, human ``message`` and the client's ``seq`` if known."""

    code: RejectCode
    message: str
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedTick:
    """One wire item that passed the schema check; its values are not validated yet."""

    tick: Tick
    seq: int | None = None


def parse_tick_message(raw: Mapping[str, Any]) -> ParsedTick | Rejection:
    """Check one wire tick's schema and types; never raise on bad input.

    ``symbol`` is a string; ``ts`` is an int of epoch milliseconds or an ISO-8601 string
    with a timezone (converted to epoch milliseconds UTC, sub-millisecond digits floored);
    ``bid``/``ask`` are numbers (a bool is not); ``volume`` is an optional finite number
    >= 0 (default 0); ``seq`` is an optional int >= 0. A JSON ``null`` counts as absent for
    the optional fields. Prices are only type-checked here: NaN, infinite (or an int too
    large for a float) and non-positive prices are ``TickValidator``'s to reject. ``seq`` and
    an integer ``ts`` must fit a signed 64-bit integer; a symbol longer than
    ``MAX_SYMBOL_CHARS`` is an ``invalid_symbol``.
    """
    if not isinstance(raw, Mapping):
        return Rejection(
            RejectCode.INVALID_SCHEMA, f"expected a tick object; received {describe_value(raw)}"
        )
    seq = raw.get("seq")
    if seq is not None and (type(seq) is not int or not 0 <= seq <= MAX_SEQ):
        return Rejection(
            RejectCode.INVALID_SCHEMA,
            f"expected 'seq' to be an integer from 0 to {MAX_SEQ}; received {describe_value(seq)}",
        )
    symbol = raw.get("symbol", _ABSENT)
    if not isinstance(symbol, str):
        return Rejection(
            RejectCode.INVALID_SCHEMA,
            f"expected 'symbol' to be a string; received {describe_value(symbol)}",
            seq,
        )
    if len(symbol) > MAX_SYMBOL_CHARS:
        return Rejection(
            RejectCode.INVALID_SYMBOL,
            f"expected a symbol of at most {MAX_SYMBOL_CHARS} characters; "
            f"received {len(symbol)} characters",
            seq,
        )
    raw_ts = raw.get("ts", _ABSENT)
    ts = parse_timestamp(raw_ts)
    if ts is None:
        return Rejection(
            RejectCode.INVALID_SCHEMA,
            "expected 'ts' to be integer epoch milliseconds or an ISO-8601 string with a "
            f"timezone; received {describe_value(raw_ts)}",
            seq,
        )
    prices: list[float] = []
    for name in ("bid", "ask"):
        value = raw.get(name, _ABSENT)
        if not _is_number(value):
            return Rejection(
                RejectCode.INVALID_SCHEMA,
                f"expected {name!r} to be a number; received {describe_value(value)}",
                seq,
            )
        prices.append(_to_float(value))
    raw_volume = raw.get("volume")
    if raw_volume is None:
        volume = 0.0
    elif not _is_number(raw_volume):
        return Rejection(
            RejectCode.INVALID_SCHEMA,
            f"expected 'volume' to be a number; received {describe_value(raw_volume)}",
            seq,
        )
    else:
        volume = _to_float(raw_volume)
        if not (volume >= 0.0 and math.isfinite(volume)):
            return Rejection(
                RejectCode.INVALID_VOLUME,
                "expected 'volume' to be a finite number >= 0; "
                f"received {describe_value(raw_volume)}",
                seq,
            )
    return ParsedTick(Tick(symbol, ts, prices[0], prices[1], volume), seq)


class _Absent:
    def __repr__(self) -> str:
        return "nothing (the field is missing)"


_ABSENT = _Absent()


def _bounded_repr() -> reprlib.Repr:
    view = reprlib.Repr()
    view.maxlevel = 2
    view.maxstring = view.maxother = view.maxlong = 60
    view.maxlist = view.maxtuple = view.maxdict = 4
    return view


_BOUNDED_REPR = _bounded_repr()


def describe_value(value: object) -> str:
    """Describe a received value for an error message: its type and a short, bounded repr."""
    if isinstance(value, _Absent):
        return repr(value)
    text = _BOUNDED_REPR.repr(value)
    if len(text) > 60:
        text = f"{text[:57]}..."
    return f"{type(value).__name__} {text}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _to_float(value: float) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def parse_timestamp(raw: Any) -> int | None:
    """Return epoch ms of an integer or an ISO-8601 string with a timezone, else None.

    An integer outside the signed 64-bit range is refused (None) like any other bad value.
    """
    if type(raw) is int:
        return raw if -MAX_SEQ <= raw <= MAX_SEQ else None
    if isinstance(raw, str):
        return _parse_iso_ms(raw)
    return None


def _parse_iso_ms(text: str) -> int | None:
    if len(text) > 64:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.utcoffset() is None:
            return None
        return (moment - _EPOCH) // _ONE_MS
    except (ValueError, OverflowError):
        return None
