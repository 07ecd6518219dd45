"""Plausibility of a price given what a symbol is and what it did: the quarantine rules.

``TickValidator`` refuses an implausible tick *into quarantine* (``RejectCode.QUARANTINED``):
the tick is settled for the client, kept in the tenant's quarantine table
(``bridge.quarantine``) and listed and released by the tenant over REST. Three rules hold
a tick, each a ``HoldReason``:

- ``price_band``: a known symbol's mid lies outside its band (``bridge.price_bands``);
- ``new_symbol``: a symbol with no band is new; its first ``new_symbol_ticks`` ticks are held
  until their mids agree (``NewSymbolHold``), then released together into the books;
- ``price_spike``: a jump to a new level that has not yet held for ``spike_confirmation_ms``
  of tick time and ``spike_confirmation_ticks`` ticks (``LevelCandidate``); once it has, the
  level is accepted, and the tenant may release the held ticks that led to it.

The quarantine is bounded per tenant feed: past ``quarantine_ticks_per_day`` held ticks in a
UTC day a tick is refused with its reason's own code (``HoldReason.refusal_code``) and not
kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from chainflow.bridge.tick_message import RejectCode
from chainflow.core.market import Tick

_DAY_MS = 86_400_000


class HoldReason(StrEnum):
    """Why a tick was quarantined; stored with it and shown to the tenant."""

    PRICE_BAND = "price_band"
    NEW_SYMBOL = "new_symbol"
    PRICE_SPIKE = "price_spike"

    @property
    def refusal_code(self) -> RejectCode:
        """Return the code of a refusal for this reason when the quarantine is full."""
        if self is HoldReason.PRICE_BAND:
            return RejectCode.PRICE_OUT_OF_RANGE
        return RejectCode.PRICE_SPIKE


@dataclass(frozen=True, slots=True)
class HeldTick:
    """A quarantined tick (symbol normalized), why it was held and the client's ``seq``."""

    tick: Tick
    reason: HoldReason
    seq: int | None = None


@dataclass(slots=True)
class QuarantineChanges:
    """What validation did to the quarantine since the last ``take_quarantine_changes``.

    ``held`` ticks must be written to the quarantine table; ``released`` ones (held before,
    now accepted: a new symbol's agreeing first ticks) must be stored as ticks, in this
    order, and then marked released in the quarantine.
    """

    held: list[HeldTick] = field(default_factory=list)
    released: list[Tick] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.held or self.released)


class QuarantineLedger:
    """A feed's quarantine bookkeeping: the day's budget and the changes not yet taken."""

    __slots__ = ("ticks_per_day", "changes", "_day", "_held_today")

    def __init__(self, ticks_per_day: int) -> None:
        self.ticks_per_day = ticks_per_day
        self.changes = QuarantineChanges()
        self._day = -1
        self._held_today = 0

    def has_room(self, now_ms: int) -> bool:
        """Return whether one more tick may be held in the UTC day of ``now_ms``."""
        day = now_ms // _DAY_MS
        if day != self._day:
            self._day = day
            self._held_today = 0
        return self._held_today < self.ticks_per_day

    def hold(self, tick: Tick, reason: HoldReason, seq: int | None) -> None:
        """Record ``tick`` as held (call ``has_room`` first)."""
        self._held_today += 1
        self.changes.held.append(HeldTick(tick, reason, seq))

    def release(self, ticks: list[Tick]) -> None:
        """Record held ``ticks`` as accepted now."""
        self.changes.released.extend(ticks)

    def take(self) -> QuarantineChanges:
        """Return the changes since the last call, and start afresh."""
        changes = self.changes
        if changes:
            self.changes = QuarantineChanges()
        return changes


class NewSymbolHold:
    """The first ticks of a symbol without a price band, held until ``size`` of them agree.

    The last ``size`` ticks agree when their highest mid is within ``agreement`` (relative)
    of their lowest. A tick pushed out of the window by a newer one stays in quarantine.
    """

    __slots__ = ("size", "agreement", "ticks")

    def __init__(self, size: int, agreement: float) -> None:
        self.size = size
        self.agreement = agreement
        self.ticks: list[Tick] = []

    def holds(self, ts: int, bid: float, ask: float) -> bool:
        """Return whether a tick with this (ts, bid, ask) is already held."""
        return any(t.ts == ts and t.bid == bid and t.ask == ask for t in self.ticks)

    def add(self, tick: Tick) -> list[Tick] | None:
        """Hold ``tick``; return the agreeing window (oldest ts first) once there is one."""
        window = self.ticks
        window.append(tick)
        if len(window) > self.size:
            del window[0]
        if len(window) < self.size:
            return None
        mids = [t.bid + t.ask for t in window]  # twice the mid: only the ratio matters
        if max(mids) > min(mids) * (1.0 + self.agreement):
            return None
        return sorted(window, key=lambda t: t.ts)


class LevelCandidate:
    """A new price level the symbol may have jumped to; confirmed by tick time and count.

    The level starts at the first spike. A later spike on the same side of the accepted
    price and within ``tolerance`` of the level's latest mid extends it; any other spike
    starts a new candidate. ``tolerance`` is the larger of the spike limit and half the
    level's distance from the accepted price, so a volatile new level is still one level.
    """

    __slots__ = ("mid", "count", "start_ts", "change")

    def __init__(self, mid: float, ts: int, change: float) -> None:
        self.mid = mid
        self.count = 1
        self.start_ts = ts
        self.change = change

    def extends(self, mid: float, change: float, limit: float) -> bool:
        """Return whether a spike to ``mid`` (``change`` from the accepted mid) is this level."""
        if (change > 0.0) != (self.change > 0.0):
            return False
        tolerance = max(limit, abs(self.change) * 0.5)
        return abs(mid / self.mid - 1.0) <= tolerance

    def extend(self, mid: float) -> None:
        """Count one more tick at this level, which has moved to ``mid``."""
        self.mid = mid
        self.count += 1

    def is_confirmed(self, ts: int, min_ticks: int, min_ms: int) -> bool:
        """Return whether the level has held ``min_ticks`` ticks over ``min_ms`` of tick time."""
        return self.count >= min_ticks and ts - self.start_ts >= min_ms
