"""Risk-check a sized signal against the tenant's limits and its paper account.

Pure: the caller passes the account's open positions and equity. A ``buy``/``sell`` of
``size`` lots is checked with ``risk.check_order`` as an order opening ``size`` lots at the
entry (the symbol's own position is left out of the view: the signal replaces it). The
limits are the tenant's (max risk per trade, daily loss and drawdown — the breaker —,
leverage) with its tier's caps (open positions, lots per symbol), as ``risk.limits_for``
makes them for ``POST /api/v1/risk/check``. A resize keeps the action with the new size;
a refusal turns the signal into ``hold`` (which flattens the position); either way the
reasons say why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from chainflow.risk.api import (
    CircuitBreaker,
    Instrument,
    OrderRequest,
    PortfolioSnapshot,
    PortfolioView,
    Position,
    RiskLimits,
    TenantRiskSettings,
    check_order,
    limits_for,
)
from chainflow.trading.decision.sizing import SizedSignal, SizingPolicy, size_decision
from chainflow.trading.decision.synthesis import Decision, TradingPreferences
from chainflow.trading.paper.instruments import risk_instrument


@dataclass(frozen=True, slots=True)
class CheckedSignal:
    symbol: str
    action: str
    size: float
    stop_loss: float | None
    take_profit: float | None
    reasons: tuple[str, ...]


def limits_of(preferences: TradingPreferences, equity: float) -> RiskLimits:
    """Return the tenant's risk limits: ``risk.limits_for`` (the same as ``/risk/check``)."""
    settings = TenantRiskSettings(
        max_risk_per_trade_pct=preferences.max_risk_per_trade_pct,
        max_daily_loss_pct=preferences.max_daily_loss_pct,
        max_drawdown_pct=preferences.max_drawdown_pct,
        leverage=preferences.leverage,
    )
    return limits_for(settings, preferences.tier, equity)


def risk_check(
    *,
    action: str,
    size: float,
    entry: float | None,
    stop_loss: float | None,
    take_profit: float | None,
    instrument: Instrument,
    equity: float,
    positions: Sequence[Position],
    prices: Mapping[str, float],
    preferences: TradingPreferences,
    breaker: CircuitBreaker | None,
) -> CheckedSignal:
    """Return the signal as risk allows it (see the module doc)."""
    if action == "hold" or size <= 0 or entry is None or not math.isfinite(entry):
        return CheckedSignal(instrument.symbol, action, size, stop_loss, take_profit, ())
    others = [p for p in positions if p.symbol != instrument.symbol]
    check = check_order(
        OrderRequest(action, size, entry, instrument, stop_loss),  # type: ignore[arg-type]
        PortfolioView(equity, others, prices, breaker),
        limits_of(preferences, equity),
    )
    if not check.allowed:
        reasons = tuple(f"risk refused the {action}: {r}: hold" for r in check.reasons)
        return CheckedSignal(instrument.symbol, "hold", 0.0, None, None, reasons)
    reasons = tuple(f"risk: {r}" for r in check.reasons)
    return CheckedSignal(instrument.symbol, action, check.lots, stop_loss, take_profit, reasons)


def size_and_check(
    decision: Decision,
    *,
    entry: float,
    atr: float | None,
    policy: SizingPolicy,
    preferences: TradingPreferences,
    account: PortfolioSnapshot,
    breaker: CircuitBreaker | None,
) -> CheckedSignal:
    """Size ``decision`` on the account's equity (capped by the tenant), then check it."""
    policy = replace(policy.capped(preferences.max_risk_per_trade_pct), equity=account.equity)
    instrument = risk_instrument(decision.symbol, entry)
    sized = size_decision(
        decision,
        entry=entry,
        expected_volatility=0.0,
        policy=policy,
        instrument=instrument,
        atr=atr,
    )
    checked = check_sized(
        decision,
        sized,
        entry=entry,
        instrument=instrument,
        account=account,
        preferences=preferences,
        breaker=breaker,
    )
    return replace(checked, reasons=(*sized.reasons, *checked.reasons))


def check_sized(
    decision: Decision,
    sized: SizedSignal,
    *,
    entry: float | None,
    instrument: Instrument,
    account: PortfolioSnapshot,
    preferences: TradingPreferences,
    breaker: CircuitBreaker | None,
) -> CheckedSignal:
    """Risk-check the sized ``decision`` against the account's positions (``risk_check``)."""
    return risk_check(
        action=decision.action,
        size=sized.size,
        entry=entry,
        stop_loss=sized.stop_loss,
        take_profit=sized.take_profit,
        instrument=instrument,
        equity=account.equity,
        positions=account.positions,
        prices=account.prices,
        preferences=preferences,
        breaker=breaker,
    )
