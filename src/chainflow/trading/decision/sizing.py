"""Size a stable decision into a signal: lots at a fixed fraction of equity, ATR stops.

Pure and clock-free, so the backtest can size exactly as live does. ``hold`` is size 0 with
no stops. For ``buy``/``sell`` the stops are ``risk.atr_stops`` from the entry (the close of
the predicted bar) and the lots are ``risk.fixed_fractional`` of the notional equity at
``risk_per_trade``, rounded to the instrument's lot step within its lot bounds.

The ATR: ml predictions carry no ATR yet, so ``expected_volatility * entry`` stands in for
it (the model's per-bar RMS log return over the label horizon, as a price distance). When
the prediction carries an ATR this module takes it instead. A size that cannot be taken
(no price, no volatility, below the minimum lot) is size 0 with the reason, not an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chainflow.risk.api import Instrument, atr_stops, fixed_fractional
from chainflow.trading.decision.synthesis import Decision


@dataclass(frozen=True, slots=True)
class SizingPolicy:
    """How signals are sized until the tenant's paper account and risk settings are wired."""

    equity: float = 10_000.0
    risk_per_trade: float = 0.01
    stop_atr: float = 1.5
    take_profit_atr: float = 3.0

    def capped(self, max_risk_per_trade_pct: float) -> SizingPolicy:
        """Return this policy with its risk per trade at most the tenant's limit (percent)."""
        cap = max_risk_per_trade_pct / 100.0
        if cap >= self.risk_per_trade:
            return self
        return SizingPolicy(self.equity, cap, self.stop_atr, self.take_profit_atr)


@dataclass(frozen=True, slots=True)
class SizedSignal:
    size: float
    stop_loss: float | None
    take_profit: float | None
    reasons: tuple[str, ...]


def size_decision(
    decision: Decision,
    *,
    entry: float | None,
    expected_volatility: float,
    policy: SizingPolicy,
    instrument: Instrument,
    atr: float | None = None,
) -> SizedSignal:
    """Return the size and stops of ``decision`` (size 0 and no stops for ``hold``)."""
    if decision.action == "hold":
        return SizedSignal(0.0, None, None, ())
    if entry is None or not (math.isfinite(entry) and entry > 0):
        return SizedSignal(0.0, None, None, ("no stored price for the bar: size 0",))
    if atr is None:
        atr = expected_volatility * entry
        atr_reason = f"ATR stand-in: expected volatility {expected_volatility:.3g} × {entry:g}"
    else:
        atr_reason = f"ATR {atr:.{instrument.price_digits}f}"
    if not (math.isfinite(atr) and atr > 0):
        return SizedSignal(0.0, None, None, ("no volatility estimate: size 0",))
    try:
        stop, take_profit = atr_stops(
            decision.action,
            entry,
            atr,
            stop_atr=policy.stop_atr,
            take_profit_atr=policy.take_profit_atr,
            price_digits=instrument.price_digits,
        )
    except ValueError as exc:  # an ATR too large for the price
        return SizedSignal(0.0, None, None, (f"no valid stop: {exc}: size 0",))
    sizing = fixed_fractional(policy.equity, policy.risk_per_trade, entry, stop, instrument)
    reasons = (
        f"{atr_reason}; stop {policy.stop_atr:g} ATR at {stop:g}, "
        f"take profit {policy.take_profit_atr:g} ATR",
        f"risk {policy.risk_per_trade:.2%} of {policy.equity:g}: {sizing.lots:g} lots",
        *sizing.reasons,
    )
    return SizedSignal(sizing.lots, stop, take_profit, reasons)
