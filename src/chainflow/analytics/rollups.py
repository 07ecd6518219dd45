"""Rollups of closed trades: per UTC day and per breakdown key, updated one trade at a time.

``TenantRollup.apply`` adds trades whose ``seq`` is at or past the cursor (an older one was
applied before and is skipped), so the incremental path and ``rollup_of`` (a rebuild from
every raw trade, in seq order) add the same numbers in the same order: equal to the bit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chainflow.analytics.api import ClosedTrade
from chainflow.analytics.sessions import DAY_MS, session_of

UNKNOWN = "unknown"
BreakdownKey = tuple[str, str]  # dimension, key


@dataclass(slots=True)
class Figures:
    """Realized P&L and hit counts of a group of closed trades."""

    pnl: float = 0.0
    gross_profit: float = 0.0
    gross_loss: float = 0.0  # positive: the sum of the losing trades' losses
    trades: int = 0
    wins: int = 0

    def add(self, pnl: float) -> None:
        """Count one closed trade of ``pnl``."""
        self.pnl += pnl
        self.trades += 1
        if pnl > 0:
            self.gross_profit += pnl
            self.wins += 1
        elif pnl < 0:
            self.gross_loss -= pnl

    @property
    def hit_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None

    @property
    def profit_factor(self) -> float | None:
        return self.gross_profit / self.gross_loss if self.gross_loss > 0 else None


@dataclass(slots=True)
class Changed:
    """What one ``apply`` touched: the rows to write back."""

    days: set[int] = field(default_factory=set)
    keys: set[BreakdownKey] = field(default_factory=set)
    trades: list[ClosedTrade] = field(default_factory=list)


def day_of(ts_ms: int) -> int:
    """Return the start (epoch ms) of the UTC day of ``ts_ms``."""
    return ts_ms - ts_ms % DAY_MS


def breakdown_keys(trade: ClosedTrade) -> list[BreakdownKey]:
    """Return the groups a trade counts in: one per dimension, one per reason template."""
    keys = [
        ("symbol", trade.symbol),
        ("model", trade.model or UNKNOWN),
        ("regime", trade.regime or UNKNOWN),
        ("session", session_of(trade.entry_ts)),
    ]
    reasons = sorted(set(trade.reasons)) or [UNKNOWN]
    keys.extend(("reason", reason) for reason in reasons)
    return keys


@dataclass(slots=True)
class TenantRollup:
    """A tenant's rollups in memory, mirroring its rows in the store."""

    next_seq: int = 0
    daily: dict[int, Figures] = field(default_factory=dict)
    breakdown: dict[BreakdownKey, Figures] = field(default_factory=dict)

    def apply(self, trades: Iterable[ClosedTrade]) -> Changed:
        """Add the trades at or past the cursor, in seq order; return what changed."""
        changed = Changed()
        for trade in sorted(trades, key=lambda t: t.seq):
            if trade.seq < self.next_seq:
                continue
            day = day_of(trade.exit_ts)
            self.daily.setdefault(day, Figures()).add(trade.pnl)
            changed.days.add(day)
            for key in breakdown_keys(trade):
                self.breakdown.setdefault(key, Figures()).add(trade.pnl)
                changed.keys.add(key)
            changed.trades.append(trade)
            self.next_seq = trade.seq + 1
        return changed


def rollup_of(trades: Iterable[ClosedTrade]) -> TenantRollup:
    """Return the rollups of ``trades`` computed from scratch (the rebuild)."""
    rollup = TenantRollup()
    rollup.apply(trades)
    return rollup
