"""Times in history files, to epoch milliseconds in UTC.

- MT5 ``<DATE>`` ``YYYY.MM.DD`` (or ``YYYY-MM-DD``) and ``<TIME>`` ``HH:MM[:SS[.mmm]]``.
- A CSV time column: an ISO 8601 date or date-time, with ``T`` or a space, with or without
  an offset (``Z``, ``+02:00``) and fractional seconds; ``YYYY.MM.DD[ HH:MM[:SS]]``; or an
  epoch number told apart by magnitude (``EPOCH_UNITS``): below 10**11 seconds (up to the
  year 5138), below 10**14 milliseconds (from 1973-03-03), below 10**17 microseconds,
  else nanoseconds. A fraction is allowed (``1704067200.5`` seconds). An epoch is UTC.
  Eight digits starting 19 or 20 are a compact date (``20260105``), not an epoch in 1970.

A time with an offset is converted to UTC. A time without one is the file's local time:
UTC shifted back by ``tz_offset_ms`` (MT5 exports are in the broker's server time, often
UTC+2/UTC+3: pass the server's offset to store UTC).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from chainflow.core.errors import InvalidInput

# Civil time runs from UTC-12 to UTC+14 (Line Islands); no broker server is outside that.
MAX_TZ_OFFSET_HOURS = 14
HOUR_MS = 3_600_000
EPOCH_UNITS: tuple[tuple[float, int, str], ...] = (
    (1e11, 1000, "seconds"),
    (1e14, 1, "milliseconds"),
    (1e17, -1000, "microseconds"),
    (math.inf, -1_000_000, "nanoseconds"),
)
"""``(below, scale, unit)``: an epoch number below ``below`` is in ``unit``; a positive
``scale`` multiplies it to milliseconds, a negative one divides it."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
CSV_TIME_EXPECTED = (
    "an ISO 8601 date or date-time (2026-01-05, 2026-01-05 10:00:00+02:00), "
    "YYYY.MM.DD[ HH:MM[:SS]] or epoch seconds/milliseconds"
)

Fail = Callable[[str, object], InvalidInput]


def utc_offset_ms(hours: float) -> int:
    """Return ``hours`` of UTC offset in ms; raise ``InvalidInput`` unless finite, in ±14."""
    if not math.isfinite(hours) or abs(hours) > MAX_TZ_OFFSET_HOURS:
        raise InvalidInput(
            f"expected a UTC offset between -{MAX_TZ_OFFSET_HOURS} and +{MAX_TZ_OFFSET_HOURS} "
            f"hours; received {hours!r}"
        )
    return round(hours * HOUR_MS)


def epoch_to_ms(value: float) -> int:
    """Return epoch ``value`` (seconds, ms, µs or ns by magnitude) as epoch milliseconds."""
    for below, scale, _unit in EPOCH_UNITS:
        if abs(value) < below:
            return round(value * scale) if scale > 0 else round(value / -scale)
    raise AssertionError("unreachable: the last unit has no upper bound")


def _moment_ms(moment: datetime, tz_offset_ms: int) -> int:
    if moment.tzinfo is not None:
        return round((moment - _EPOCH) / _ONE_MS)
    return round((moment.replace(tzinfo=UTC) - _EPOCH) / _ONE_MS) - tz_offset_ms


def csv_time_ms(text: str, tz_offset_ms: int, fail: Fail, column: str) -> int:
    """Return the epoch ms of a CSV time ``text``; ``fail`` builds the error naming ``column``."""
    text = text.strip()
    compact_date = len(text) == 8 and text.startswith(("19", "20"))
    if not compact_date and text[:1].isdigit() and text.replace(".", "", 1).isdigit():
        value = float(text)
        if math.isfinite(value):
            return epoch_to_ms(int(text) if text.isdigit() else value)
    iso = text
    if len(text) >= 10 and text[4] == "." and text[7] == ".":
        iso = f"{text[:4]}-{text[5:7]}-{text[8:]}"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError as e:
        raise fail(f"{column} as {CSV_TIME_EXPECTED}", text) from e
    return _moment_ms(moment, tz_offset_ms)


class Mt5Times:
    """MT5 ``<DATE>`` + ``<TIME>`` to epoch ms, caching each day's midnight."""

    __slots__ = ("_day_ms", "_fail", "_tz_offset_ms")

    def __init__(self, fail: Fail, tz_offset_ms: int) -> None:
        self._fail = fail
        self._tz_offset_ms = tz_offset_ms
        self._day_ms: dict[str, int] = {}

    def ms(self, date: str, clock: str) -> int:
        """Return the epoch ms of ``date`` at ``clock`` (midnight when ``clock`` is empty)."""
        day = self._day_ms.get(date)
        if day is None:
            try:
                if len(date) != 10 or date[4] not in ".-" or date[7] != date[4]:
                    raise ValueError(date)
                moment = datetime(int(date[:4]), int(date[5:7]), int(date[8:]), tzinfo=UTC)
            except ValueError as e:
                raise self._fail("<DATE> as YYYY.MM.DD", date) from e
            day = self._day_ms[date] = int(moment.timestamp()) * 1000
        return day + self._clock_ms(clock) - self._tz_offset_ms

    def _clock_ms(self, clock: str) -> int:
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
            raise self._fail("<TIME> as HH:MM[:SS[.mmm]]", clock) from e
        return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis
