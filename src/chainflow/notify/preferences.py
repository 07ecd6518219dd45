"""A user's notification preferences and the rules that apply them (no I/O).

For each event kind, the channels to use (``default_channels`` for a kind not listed); a
minimum severity; symbols to hear about (empty: all); quiet hours in the user's time zone,
during which everything but ``critical`` waits until they end; a digest mode (hourly or
daily) under which events that are not ``critical`` are gathered and sent as one summary at
the next boundary in the user's time zone (``digest_due``).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chainflow.notify.channels.base import CHANNELS, SEVERITIES

__all__ = ["DigestMode", "Preferences", "QuietHours", "digest_boundary", "severity_rank", "zone_of"]

DigestMode = Literal["off", "hourly", "daily"]


def severity_rank(severity: str) -> int:
    """Return 0 for info, 1 for warning, 2 for critical."""
    return SEVERITIES.index(severity)


def zone_of(name: str | None) -> ZoneInfo:
    """Return the IANA zone ``name``, or UTC when it is empty or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class QuietHours(BaseModel):
    """``[start, end)`` in the user's local time; wraps past midnight when end < start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = Field(description="local time the quiet hours begin, as HH:MM")
    end: time = Field(description="local time they end, as HH:MM")

    def ends_after(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """Return when the quiet hours around ``moment`` end (UTC), or None outside them."""
        local = moment.astimezone(zone)
        at = local.timetz().replace(tzinfo=None)
        if self.start == self.end:
            return None
        inside = (
            self.start <= at < self.end
            if self.start < self.end
            else at >= self.start or at < self.end
        )
        if not inside:
            return None
        end_day = local.date() if at < self.end else local.date() + timedelta(days=1)
        end = datetime.combine(end_day, self.end, tzinfo=zone)
        return end.astimezone(moment.tzinfo)


class Preferences(BaseModel):
    """One user's preferences; the stored document and the API body."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_channels: tuple[str, ...] = Field(
        default=("email", "telegram"),
        description="channels of an event kind not listed in events (SMS is opt-in: it costs)",
    )
    events: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="event kind -> channels ([] mutes the kind)"
    )
    min_severity: str = Field(default="info", description="info, warning or critical")
    symbols: tuple[str, ...] = Field(default=(), description="symbols to hear about; [] = all")
    quiet_hours: QuietHours | None = None
    digest: DigestMode = Field(
        default="off",
        description="off: each event at once; hourly or daily: one summary per channel at the "
        "next boundary in your time zone (critical events are never held)",
    )
    digest_hour: int = Field(
        default=8, ge=0, le=23, description="local hour the daily digest is sent at"
    )
    terminal_offline_min: int | None = Field(
        default=None,
        ge=1,
        le=1440,
        description="minutes an MT5 terminal may stay disconnected before you are told "
        "(null: the server's CHAINFLOW_NOTIFY_TERMINAL_OFFLINE_MIN)",
    )

    @field_validator("default_channels")
    @classmethod
    def _known_channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _checked_channels(value)

    @field_validator("events")
    @classmethod
    def _known_event_channels(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return {kind: _checked_channels(channels) for kind, channels in value.items()}

    @field_validator("min_severity")
    @classmethod
    def _known_severity(cls, value: str) -> str:
        if value not in SEVERITIES:
            raise ValueError(f"expected one of {', '.join(SEVERITIES)}; received {value!r}")
        return value

    @field_validator("symbols")
    @classmethod
    def _upper_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({s.strip().upper() for s in value if s.strip()}))

    def channels_for(self, kind: str, severity: str, symbol: str | None) -> tuple[str, ...]:
        """Return the channels an event of ``kind`` goes to (empty: not wanted)."""
        if severity_rank(severity) < severity_rank(self.min_severity):
            return ()
        if symbol and self.symbols and symbol.upper() not in self.symbols:
            return ()
        return self.events.get(kind, self.default_channels)

    def channels_used(self) -> frozenset[str]:
        """Return every channel these preferences may send to (defaults and per kind)."""
        used = set(self.default_channels)
        for channels in self.events.values():
            used.update(channels)
        return frozenset(used)

    def digest_due(self, severity: str, now: datetime, zone: ZoneInfo) -> datetime | None:
        """Return the digest boundary an event waits for, or None to send it on its own.

        Critical events are never digested; a boundary inside the quiet hours moves to
        their end.
        """
        if self.digest == "off" or severity == "critical":
            return None
        boundary = digest_boundary(self.digest, now, zone, self.digest_hour)
        return self.deliver_at("info", boundary, zone)

    def deliver_at(self, severity: str, now: datetime, zone: ZoneInfo) -> datetime:
        """Return when to deliver: now, or the end of the quiet hours (critical passes)."""
        if self.quiet_hours is None or severity == "critical":
            return now
        return self.quiet_hours.ends_after(now, zone) or now


def _checked_channels(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(value) - set(CHANNELS))
    if unknown:
        raise ValueError(f"expected channels from {', '.join(CHANNELS)}; received {unknown}")
    return tuple(dict.fromkeys(value))


def digest_boundary(mode: DigestMode, now: datetime, zone: ZoneInfo, daily_hour: int) -> datetime:
    """Return the first digest boundary after ``now`` (in ``now``'s time zone).

    Hourly: the next full local hour (zones a half hour off UTC get their own hour);
    daily: the next local ``daily_hour:00``.
    """
    local = now.astimezone(zone)
    if mode == "hourly":
        hour_start = local.replace(minute=0, second=0, microsecond=0)
        return (hour_start.astimezone(now.tzinfo) + timedelta(hours=1)).astimezone(now.tzinfo)
    if mode != "daily":
        raise ValueError(f"expected digest mode hourly or daily; received {mode!r}")
    at = time(daily_hour)
    boundary = datetime.combine(local.date(), at, tzinfo=zone)
    if boundary <= local:
        boundary = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return boundary.astimezone(now.tzinfo)
