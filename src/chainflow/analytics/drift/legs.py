"""One side of a drift comparison: its closed trades and what they add up to.

Both sides are measured the same way, independent of position sizing (the backtest sizes
by its own rule, the paper desk by the tenant's risk settings): each trade's *price
return* ``(exit / entry - 1)`` signed by its side, in percent. The curve is the running
sum of those returns at each exit: what one unit traded on every signal would have made.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LegTrade:
    symbol: str
    side: str  # buy | sell
    entry_ts: int
    exit_ts: int
    entry_price: float
    exit_price: float
    pnl: float

    @property
    def return_pct(self) -> float:
        """Return the trade's price return in percent, signed by its side."""
        if self.entry_price <= 0:
            return 0.0
        move = (self.exit_price / self.entry_price - 1.0) * 100.0
        return move if self.side == "buy" else -move


@dataclass(frozen=True, slots=True)
class LegSummary:
    trades: int
    wins: int
    hit_rate: float | None
    total_return_pct: float
    mean_return_pct: float | None
    std_return_pct: float | None
    pnl: float
    curve: tuple[tuple[int, float], ...]


def summarize(trades: Sequence[LegTrade], start_ms: int) -> LegSummary:
    """Return the figures of ``trades`` (in exit order) and their curve from ``start_ms``."""
    ordered = sorted(trades, key=lambda t: (t.exit_ts, t.entry_ts, t.symbol))
    returns = [t.return_pct for t in ordered]
    wins = sum(1 for t in ordered if t.return_pct > 0)
    curve = [(start_ms, 0.0)]
    running = 0.0
    for trade, value in zip(ordered, returns, strict=True):
        running += value
        curve.append((trade.exit_ts, round(running, 6)))
    count = len(ordered)
    return LegSummary(
        trades=count,
        wins=wins,
        hit_rate=wins / count if count else None,
        total_return_pct=round(running, 6),
        mean_return_pct=statistics.fmean(returns) if returns else None,
        std_return_pct=statistics.stdev(returns) if count > 1 else None,
        pnl=round(math.fsum(t.pnl for t in ordered), 2),
        curve=tuple(curve),
    )
