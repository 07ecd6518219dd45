"""Report periods in the user's time zone, and the reference that names one report.

A daily period runs from one local midnight to the next; a weekly one from Monday 00:00
local to the next Monday. Bounds are built from the local calendar date (``combine`` with
the zone), so a day across a DST change is 23 or 25 hours long, as the user lived it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, TypeGuard, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chainflow.analytics.reports.errors import ReportReferenceInvalidError

ReportKind = Literal["daily", "weekly"]
ReportSetting = Literal["off", "daily", "weekly"]
REPORT_KINDS: tuple[str, ...] = get_args(ReportKind)
REFERENCE_PARTS = 5


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """``[start, end)`` of one report, as aware local datetimes."""

    kind: ReportKind
    start: datetime
    end: datetime

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    @property
    def label(self) -> str:
        """``2024-01-01`` for a day, ``2024-01-01 to 2024-01-07`` for a week (local dates)."""
        first = self.start.date()
        last = (self.end - timedelta(hours=12)).date()  # the last local day, DST or not
        return first.isoformat() if first == last else f"{first} to {last}"

    @property
    def title(self) -> str:
        return "Daily" if self.kind == "daily" else "Weekly"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def period_containing(kind: ReportKind, moment: datetime, zone: ZoneInfo) -> ReportPeriod:
    """Return the ``kind`` period of ``zone`` that holds ``moment``."""
    local_day = moment.astimezone(zone).date()
    if kind == "daily":
        first, days = local_day, 1
    else:
        first, days = local_day - timedelta(days=local_day.weekday()), 7
    return ReportPeriod(kind, _midnight(first, zone), _midnight(first + timedelta(days), zone))


def last_complete(kind: ReportKind, now: datetime, zone: ZoneInfo) -> ReportPeriod:
    """Return the newest ``kind`` period of ``zone`` that ended at or before ``now``."""
    current = period_containing(kind, now, zone)
    step = timedelta(days=1 if kind == "daily" else 7)
    first = current.start.date() - step
    return ReportPeriod(kind, _midnight(first, zone), current.start)


def reference_of(tenant_id: str, user_id: str, period: ReportPeriod) -> str:
    """Return ``<tenant>/<user>/<kind>/<start>/<end>`` (ISO-8601 with the local offset)."""
    start = period.start.isoformat(timespec="minutes")
    end = period.end.isoformat(timespec="minutes")
    return f"{tenant_id}/{user_id}/{period.kind}/{start}/{end}"


def is_report_kind(value: str) -> TypeGuard[ReportKind]:
    """Return whether ``value`` names a report kind (``daily`` or ``weekly``)."""
    return value in REPORT_KINDS


def parse_reference(reference: str) -> tuple[str, str, ReportPeriod]:
    """Return the tenant, user and period that ``reference_of`` wrote."""
    parts = reference.split("/")
    if len(parts) != REFERENCE_PARTS or parts[2] not in REPORT_KINDS or not all(parts[:2]):
        raise ReportReferenceInvalidError(
            f"expected <tenant>/<user>/<daily|weekly>/<start>/<end>; received {reference[:200]!r}"
        )
    tenant_id, user_id, kind, start_text, end_text = parts
    try:
        start, end = datetime.fromisoformat(start_text), datetime.fromisoformat(end_text)
    except ValueError as e:
        raise ReportReferenceInvalidError(f"report bounds are not ISO-8601: {e}") from e
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise ReportReferenceInvalidError(
            f"expected aware report bounds with start < end; received {reference[:200]!r}"
        )
    period = ReportPeriod("daily" if kind == "daily" else "weekly", start, end)
    return tenant_id, user_id, period


def zone_named(name: str | None) -> ZoneInfo:
    """Return the IANA zone ``name``, or UTC when it is empty or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
