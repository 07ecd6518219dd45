"""Attribution: the paper account's P&L and hit rate by model, symbol, regime and reason.

Every fill carries the id of the signal that caused it, and the desk keeps a ``SignalTag``
per signal (model, symbol, regime of the last closed bar, the decision's reasons). A closed
trade counts for the signal that *opened* it; an open position counts with its unrealized
P&L at the current marks. Swaps are reported on their own line (they accrue to positions,
not to signals), so that ``realized + unrealized + swaps`` is the account's P&L: equity
minus the starting balance.

Reasons are grouped by template: numbers become ``#`` ("p(up) # vs p(down) #: edge # ≥ #
(moderate)"), so the same rule firing at different values is one group. The hit rate of a
group is the share of its closed trades with a positive P&L.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chainflow.trading.paper.positions import OrderSide, price_pnl

if TYPE_CHECKING:
    from chainflow.trading.paper.account import PaperAccount

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?")
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SignalTag:
    signal_id: str
    symbol: str
    ts: int
    action: str
    model: str
    regime: str | None
    reasons: tuple[str, ...]


@dataclass(slots=True)
class Bucket:
    """One group's figures; ``pnl = realized + unrealized`` (swaps excluded)."""

    realized: float = 0.0
    unrealized: float = 0.0
    closed_trades: int = 0
    winning_trades: int = 0
    open_positions: int = 0

    @property
    def pnl(self) -> float:
        return self.realized + self.unrealized

    @property
    def hit_rate(self) -> float | None:
        return self.winning_trades / self.closed_trades if self.closed_trades else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pnl": round(self.pnl, 2),
            "realized": round(self.realized, 2),
            "unrealized": round(self.unrealized, 2),
            "closed_trades": self.closed_trades,
            "winning_trades": self.winning_trades,
            "hit_rate": self.hit_rate,
            "open_positions": self.open_positions,
        }


@dataclass(slots=True)
class Attribution:
    total: Bucket = field(default_factory=Bucket)
    swaps: float = 0.0
    account_pnl: float = 0.0
    by_model: dict[str, Bucket] = field(default_factory=lambda: defaultdict(Bucket))
    by_symbol: dict[str, Bucket] = field(default_factory=lambda: defaultdict(Bucket))
    by_regime: dict[str, Bucket] = field(default_factory=lambda: defaultdict(Bucket))
    by_reason: dict[str, Bucket] = field(default_factory=lambda: defaultdict(Bucket))

    def to_dict(self) -> dict[str, Any]:
        def table(groups: dict[str, Bucket]) -> list[dict[str, Any]]:
            ordered = sorted(groups.items(), key=lambda item: item[1].pnl, reverse=True)
            return [{"key": key, **bucket.to_dict()} for key, bucket in ordered]

        return {
            "total": self.total.to_dict(),
            "swaps": round(self.swaps, 2),
            "account_pnl": round(self.account_pnl, 2),
            "by_model": table(self.by_model),
            "by_symbol": table(self.by_symbol),
            "by_regime": table(self.by_regime),
            "by_reason": table(self.by_reason),
        }


def reason_template(reason: str) -> str:
    """Return ``reason`` with its numbers replaced by ``#``."""
    return _NUMBER.sub("#", reason)


def attribute(account: PaperAccount, tags: dict[str, SignalTag]) -> Attribution:
    """Return the attribution of ``account``'s trades and open positions to their signals."""
    result = Attribution(swaps=account.swaps)
    for trade in account.trades:
        win = trade.pnl > 0
        for bucket in _buckets(result, tags.get(trade.signal_id), trade.symbol):
            bucket.realized += trade.pnl
            bucket.closed_trades += 1
            bucket.winning_trades += int(win)
    for symbol, position in account.positions.items():
        instrument = account.instruments[symbol]
        bid, ask = account.quotes.get(symbol, (position.entry_price, position.entry_price))
        mark = bid if position.side == OrderSide.BUY else ask
        rate = account.quote_rates.get(symbol, instrument.quote_to_account)
        pnl = price_pnl(instrument, position.side, position.lots, position.entry_price, mark, rate)
        for bucket in _buckets(result, tags.get(position.signal_id), symbol):
            bucket.unrealized += pnl
            bucket.open_positions += 1
    result.account_pnl = account.equity - account.starting_balance
    return result


def _buckets(result: Attribution, tag: SignalTag | None, symbol: str) -> list[Bucket]:
    buckets = [
        result.total,
        result.by_model[tag.model if tag is not None and tag.model else UNKNOWN],
        result.by_symbol[symbol],
        result.by_regime[tag.regime if tag is not None and tag.regime else UNKNOWN],
    ]
    templates = {reason_template(r) for r in tag.reasons} if tag is not None else {UNKNOWN}
    buckets.extend(result.by_reason[t] for t in sorted(templates or {UNKNOWN}))
    return buckets


def is_consistent(attribution: Attribution, tolerance: float = 0.015) -> bool:
    """Return whether realized + unrealized + swaps equals the account's P&L (to a cent)."""
    total = attribution.total.pnl + attribution.swaps
    return math.isclose(total, attribution.account_pnl, abs_tol=tolerance)
