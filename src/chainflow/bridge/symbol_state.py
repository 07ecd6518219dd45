"""One symbol's validation state: rolling windows, duplicate memory, band, hold, level.

``bridge.validation.TickValidator`` keeps one ``SymbolState`` per symbol of a feed and
reads and writes its fields directly on the hot path; the methods here are the rarer steps
(a new symbol, a new level, the release of a new symbol's held ticks).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from chainflow.bridge.price_bands import price_band_of
from chainflow.bridge.price_sanity import LevelCandidate, NewSymbolHold
from chainflow.bridge.rolling import push_sorted
from chainflow.bridge.validation_config import ValidationConfig
from chainflow.core.market import Tick


@dataclass(frozen=True, slots=True)
class SymbolSnapshot:
    """A copy of one symbol's rolling state (windows in arrival order), for inspection."""

    symbol: str
    last_ts: int | None
    last_mid: float | None
    recent_returns: tuple[float, ...]
    recent_spreads: tuple[float, ...]
    remembered_ticks: int
    spike_candidates: int
    held_ticks: int = 0


class SymbolState:
    """Rolling state of one symbol; see ``bridge.validation`` for how each field is used."""

    __slots__ = (
        "last_ts",
        "last_mid",
        "returns",
        "sorted_returns",
        "spreads",
        "sorted_spreads",
        "seen_order",
        "seen",
        "band_low",
        "band_high",
        "new_hold",
        "candidate",
    )

    def __init__(self, band_low: float, band_high: float, new_hold: NewSymbolHold | None) -> None:
        self.last_ts: int | None = None
        self.last_mid: float | None = None
        self.returns: deque[float] = deque()
        self.sorted_returns: list[float] = []
        self.spreads: deque[float] = deque()
        self.sorted_spreads: list[float] = []
        self.seen_order: deque[tuple[int, float, float]] = deque()
        self.seen: set[tuple[int, float, float]] = set()
        self.band_low = band_low
        self.band_high = band_high
        self.new_hold = new_hold
        self.candidate: LevelCandidate | None = None

    @classmethod
    def for_symbol(cls, symbol: str, config: ValidationConfig) -> SymbolState:
        """Return the state of a symbol first seen: its band if known, else a new-symbol hold."""
        band = price_band_of(symbol, config.price_bands)
        if band is not None:
            return cls(band.low, band.high, None)
        hold = None
        if config.new_symbol_ticks > 1:
            hold = NewSymbolHold(config.new_symbol_ticks, config.new_symbol_agreement)
        return cls(0.0, math.inf, hold)

    def confirms_level(
        self, mid: float, ts: int, change: float, limit: float, config: ValidationConfig
    ) -> bool:
        """Count a spike to ``mid`` towards its level; return whether the level is confirmed."""
        candidate = self.candidate
        if candidate is not None and candidate.extends(mid, change, limit):
            candidate.extend(mid)
        else:
            candidate = self.candidate = LevelCandidate(mid, ts, change)
        return candidate.is_confirmed(
            ts, config.spike_confirmation_ticks, config.spike_confirmation_ms
        )

    def admit_window(self, window: list[Tick], config: ValidationConfig) -> None:
        """Record a new symbol's agreeing ticks (oldest first) as its first accepted ones."""
        self.new_hold = None
        for tick in window:
            key = (tick.ts, tick.bid, tick.ask)
            self.seen_order.append(key)
            self.seen.add(key)
            if len(self.seen_order) > config.duplicate_memory_ticks:
                self.seen.discard(self.seen_order.popleft())
            mid = (tick.bid + tick.ask) * 0.5
            last_ts = self.last_ts
            last_mid = self.last_mid
            if last_ts is not None and last_mid is not None:
                if tick.ts - last_ts <= config.spike_gap_ms:
                    change = mid / last_mid - 1.0
                    push_sorted(
                        self.returns, self.sorted_returns, change, config.spike_window_ticks
                    )
            spread = tick.ask - tick.bid
            push_sorted(self.spreads, self.sorted_spreads, spread, config.spread_window_ticks)
            self.last_ts = tick.ts
            self.last_mid = mid

    def snapshot(self, symbol: str) -> SymbolSnapshot:
        """Return a copy of this state as ``symbol``'s snapshot."""
        return SymbolSnapshot(
            symbol=symbol,
            last_ts=self.last_ts,
            last_mid=self.last_mid,
            recent_returns=tuple(self.returns),
            recent_spreads=tuple(self.spreads),
            remembered_ticks=len(self.seen),
            spike_candidates=self.candidate.count if self.candidate is not None else 0,
            held_ticks=len(self.new_hold.ticks) if self.new_hold is not None else 0,
        )
