"""Calendar months (UTC) as integers: ``year * 12 + month - 1``, so that month arithmetic is
plain addition and a range of months is a ``range``."""

from __future__ import annotations

from datetime import UTC, datetime


def month_of(moment: datetime) -> int:
    """Return the month index of a tz-aware ``moment``."""
    utc = moment.astimezone(UTC)
    return utc.year * 12 + utc.month - 1


def month_of_ms(ts_ms: int) -> int:
    """Return the month index of epoch milliseconds ``ts_ms``."""
    return month_of(datetime.fromtimestamp(ts_ms / 1000, UTC))


def month_start(month: int) -> datetime:
    """Return the first instant of ``month`` (UTC)."""
    return datetime(month // 12, month % 12 + 1, 1, tzinfo=UTC)


def month_start_ms(month: int) -> int:
    """Return the first instant of ``month`` in epoch milliseconds."""
    return int(month_start(month).timestamp() * 1000)


def month_label(month: int) -> str:
    """Return ``YYYY-MM`` of ``month``."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def parse_month(label: str) -> int | None:
    """Return the month of ``YYYY-MM``, or None when ``label`` is not one."""
    year, _, number = label.strip().partition("-")
    if not (year.isdigit() and number.isdigit() and len(year) == 4 and 1 <= int(number) <= 12):
        return None
    return int(year) * 12 + int(number) - 1
