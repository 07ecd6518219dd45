"""A user's notification preferences and the rules that apply them (no I/O).

For each event kind, the channels to use (``default_channels`` for a kind not listed); a
minimum severity; symbols to hear about (empty: all); quiet hours in the user's time zone,
during which everything but ``critical`` waits until they end.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chainflow.notify.channels.base import CHANNELS, SEVERITIES

__all__ = ["Preferences", "QuietHours", "severity_rank", "zone_of"]


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
