"""The ``dashboard`` frame of ``WS /ws/stream``: what a tenant's live dashboard shows.

``risk`` says how much of the tenant's loss limits is used: ``daily_loss_used`` is the loss
since the day's start as a share of ``max_daily_loss_pct`` (1.0 = the limit, where the
circuit breaker halts new signals), ``drawdown_used`` the drawdown from the equity peak as
a share of ``max_drawdown_pct``. ``models`` is the rolling live hit rate of each model
serving the tenant, per symbol and timeframe. Money is rounded to cents, shares to 1e-4,
so that a frame changes only when something visible changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OpenPosition:
    symbol: str
    side: str
    lots: float
    entry_price: float
    mark: float
    pnl: float


@dataclass(frozen=True, slots=True)
class ModelAccuracy:
    model: str
    symbol: str
    timeframe: str
    scored: int
    hit_rate: float | None
    baseline_accuracy: float
    below_baseline: bool


@dataclass(frozen=True, slots=True)
class DashboardView:
    """A tenant's live state as its sources give it (the runtime fills it)."""

    currency: str
    balance: float
    equity: float
    day_start_equity: float
    peak_equity: float
    margin_used: float
    halted: str | None
    max_daily_loss_pct: float
    max_drawdown_pct: float
    positions: Sequence[OpenPosition]
    models: Sequence[ModelAccuracy]


def loss_share(reference: float, equity: float, limit_pct: float) -> float:
    """Return the loss from ``reference`` to ``equity`` as a share of ``limit_pct``."""
    if reference <= 0 or limit_pct <= 0:
        return 0.0
    loss_pct = max(0.0, (reference - equity) / reference * 100)
    return round(loss_pct / limit_pct, 4)


def dashboard_body(view: DashboardView) -> dict[str, Any]:
    """Return the frame's content without ``type`` and ``ts`` (what "changed" compares)."""
    return {
        "currency": view.currency,
        "equity": round(view.equity, 2),
        "balance": round(view.balance, 2),
        "day_pnl": round(view.equity - view.day_start_equity, 2),
        "positions": [
            {
                "symbol": p.symbol,
                "side": p.side,
                "lots": p.lots,
                "entry_price": p.entry_price,
                "mark": p.mark,
                "pnl": round(p.pnl, 2),
            }
            for p in sorted(view.positions, key=lambda p: p.symbol)
        ],
        "risk": {
            "daily_loss_used": loss_share(
                view.day_start_equity, view.equity, view.max_daily_loss_pct
            ),
            "drawdown_used": loss_share(view.peak_equity, view.equity, view.max_drawdown_pct),
            "max_daily_loss_pct": view.max_daily_loss_pct,
            "max_drawdown_pct": view.max_drawdown_pct,
            "margin_used": round(view.margin_used, 2),
            "halted": view.halted,
        },
        "models": [
            {
                "model": m.model,
                "symbol": m.symbol,
                "timeframe": m.timeframe,
                "scored": m.scored,
                "hit_rate": None if m.hit_rate is None else round(m.hit_rate, 4),
                "baseline_accuracy": round(m.baseline_accuracy, 4),
                "below_baseline": m.below_baseline,
            }
            for m in sorted(view.models, key=lambda m: (m.model, m.symbol, m.timeframe))
        ],
    }
