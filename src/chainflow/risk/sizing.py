"""Position sizing: fixed fractional, fractional Kelly, volatility target, risk parity.

Sizes are positive lots; the direction comes from the order's side. A size that cannot be
taken (no equity, zero stop distance, below the minimum lot) is a ``SizingResult`` with
0 lots and the reason, not an exception. Exceptions are kept for bad input: NaN, negative
prices, fractions outside their range, malformed matrices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.risk.errors import InvalidRiskInputError
from chainflow.risk.instruments import Instrument, round_lots, value_per_price_unit


@dataclass(frozen=True, slots=True)
class SizingResult:
    """A size in lots, the account-currency amount at risk with it, and why it is so.

    ``risk_amount`` is the loss at the stop (fixed fractional) or on a one-ATR move
    (volatility target) for the final ``lots``. ``unrounded_lots`` is the exact size before
    lot-step rounding and the lot bounds.
    """

    lots: float
    risk_amount: float
    reasons: tuple[str, ...]
    unrounded_lots: float


def fixed_fractional(
    equity: float, risk_fraction: float, entry: float, stop: float, instrument: Instrument
) -> SizingResult:
    """Size so that the loss at ``stop`` is at most ``equity * risk_fraction``."""
    _require_finite_positive("entry", entry)
    _require_finite_positive("stop", stop)
    _require_fraction("risk_fraction", risk_fraction)
    _require_finite("equity", equity)
    if equity <= 0:
        return SizingResult(0.0, 0.0, (f"equity {equity:g} is not positive; no position",), 0.0)
    distance = abs(entry - stop)
    if distance == 0:
        return SizingResult(0.0, 0.0, ("stop equals entry; cannot size",), 0.0)
    loss_per_lot = distance * value_per_price_unit(instrument, 1.0)
    unrounded = equity * risk_fraction / loss_per_lot
    return _finish(unrounded, loss_per_lot, instrument)


def volatility_target(
    equity: float,
    target_vol_fraction: float,
    atr: float,
    price: float,
    instrument: Instrument,
) -> SizingResult:
    """Size so that a one-ATR move changes equity by about ``target_vol_fraction``.

    The relative volatility ``atr / price`` times the notional of one lot at ``price`` is
    the account-currency move of one lot on one ATR.
    """
    _require_finite_positive("price", price)
    _require_fraction("target_vol_fraction", target_vol_fraction)
    _require_finite("equity", equity)
    _require_finite("atr", atr)
    if atr < 0:
        raise InvalidRiskInputError(f"expected atr >= 0; received {atr:g}")
    if equity <= 0:
        return SizingResult(0.0, 0.0, (f"equity {equity:g} is not positive; no position",), 0.0)
    if atr == 0:
        return SizingResult(0.0, 0.0, ("ATR is zero; cannot size by volatility",), 0.0)
    notional_per_lot = price * value_per_price_unit(instrument, 1.0)
    move_per_lot = notional_per_lot * (atr / price)
    unrounded = equity * target_vol_fraction / move_per_lot
    return _finish(unrounded, move_per_lot, instrument)


def kelly_fraction(
    p_win: float, payoff_ratio: float, *, cap: float = 0.25, fraction: float = 0.5
) -> float:
    """Return the fractional Kelly bet ``fraction * (p - (1 - p) / b)``, capped at ``cap``.

    Return 0 when the edge is not positive. ``payoff_ratio`` is average win / average loss.
    """
    _require_fraction("p_win", p_win)
    _require_finite_positive("payoff_ratio", payoff_ratio)
    _require_fraction("cap", cap)
    _require_fraction("fraction", fraction)
    full_kelly = p_win - (1.0 - p_win) / payoff_ratio
    if full_kelly <= 0:
        return 0.0
    return min(cap, fraction * full_kelly)


def inverse_volatility_weights(volatilities: ArrayLike) -> NDArray[np.float64]:
    """Return weights proportional to ``1 / volatility``, summing to 1."""
    vols = np.asarray(volatilities, dtype=np.float64)
    if vols.ndim != 1 or vols.size == 0:
        raise InvalidRiskInputError(
            f"expected a non-empty 1-D array of volatilities; received {vols.shape}"
        )
    if not np.all(np.isfinite(vols)) or np.any(vols <= 0):
        raise InvalidRiskInputError(
            f"expected finite positive volatilities; received {vols.tolist()}"
        )
    inverse = 1.0 / vols
    return inverse / float(inverse.sum())


def equal_risk_contribution_weights(
    covariance: ArrayLike, *, max_iterations: int = 200, tolerance: float = 1e-10
) -> NDArray[np.float64]:
    """Return long-only weights whose risk contributions ``w_i (Σw)_i`` are equal.

    Cyclical coordinate descent on ``½ wᵀΣw − Σ ln(w_i) / n`` (Griveau-Billion, Richard and
    Roncalli 2013), then normalized to sum to 1. With a diagonal covariance this equals
    inverse-volatility weighting.
    """
    cov = _require_covariance(covariance)
    n = cov.shape[0]
    budget = 1.0 / n
    diagonal = np.diag(cov)
    weights = 1.0 / np.sqrt(diagonal)
    weights /= weights.sum()
    for _ in range(max_iterations):
        previous = weights.copy()
        for i in range(n):
            cross = float(cov[i] @ weights - diagonal[i] * weights[i])
            weights[i] = (-cross + math.sqrt(cross * cross + 4.0 * diagonal[i] * budget)) / (
                2.0 * diagonal[i]
            )
        if np.max(np.abs(weights - previous)) <= tolerance * np.max(np.abs(weights)):
            break
    return weights / float(weights.sum())


def risk_parity_weights(volatilities_or_covariance: ArrayLike) -> NDArray[np.float64]:
    """Return risk-parity weights: inverse-vol for a 1-D array, equal risk for a matrix."""
    values = np.asarray(volatilities_or_covariance, dtype=np.float64)
    if values.ndim == 1:
        return inverse_volatility_weights(values)
    if values.ndim == 2:
        return equal_risk_contribution_weights(values)
    raise InvalidRiskInputError(
        f"expected volatilities (1-D) or a covariance matrix (2-D); received {values.ndim}-D"
    )


def risk_contributions(weights: ArrayLike, covariance: ArrayLike) -> NDArray[np.float64]:
    """Return each asset's share of portfolio variance, ``w_i (Σw)_i / wᵀΣw`` (sums to 1)."""
    cov = _require_covariance(covariance)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (cov.shape[0],):
        raise InvalidRiskInputError(
            f"expected weights of shape {(cov.shape[0],)}; received {w.shape}"
        )
    marginal = cov @ w
    return w * marginal / float(w @ marginal)


def _finish(unrounded: float, risk_per_lot: float, instrument: Instrument) -> SizingResult:
    lots = round_lots(unrounded, instrument)
    reasons = _rounding_reasons(unrounded, lots, instrument)
    return SizingResult(lots, lots * risk_per_lot, reasons, unrounded)


def _rounding_reasons(unrounded: float, lots: float, instrument: Instrument) -> tuple[str, ...]:
    if unrounded > instrument.max_lot:
        return (
            f"capped at max lot {instrument.max_lot:g} (wanted {_format_lots(unrounded)} lots)",
        )
    if lots == 0 and unrounded > 0:
        return (
            f"below min lot {instrument.min_lot:g} "
            f"(wanted {_format_lots(unrounded)} lots); no position",
        )
    if unrounded - lots > instrument.lot_step * 1e-9:
        return (f"rounded down to {lots:g} lots (lot step {instrument.lot_step:g})",)
    return ()


def _format_lots(lots: float) -> str:
    if lots < 0.0001:
        return f"{lots:.2e}"
    return f"{lots:.4f}".rstrip("0").rstrip(".")


def _require_covariance(covariance: ArrayLike) -> NDArray[np.float64]:
    cov = np.asarray(covariance, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] == 0:
        raise InvalidRiskInputError(
            f"expected a non-empty square covariance matrix; received {cov.shape}"
        )
    if not np.all(np.isfinite(cov)):
        raise InvalidRiskInputError("expected a finite covariance matrix; received NaN or infinity")
    if not np.allclose(cov, cov.T, rtol=1e-9, atol=1e-12):
        raise InvalidRiskInputError(
            "expected a symmetric covariance matrix; received an asymmetric one"
        )
    if np.any(np.diag(cov) <= 0):
        raise InvalidRiskInputError(
            f"expected positive variances; received {np.diag(cov).tolist()}"
        )
    return cov


def _require_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise InvalidRiskInputError(f"expected a finite {name}; received {value}")


def _require_finite_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidRiskInputError(f"expected {name} > 0; received {value}")


def _require_fraction(name: str, value: float) -> None:
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise InvalidRiskInputError(f"expected {name} in [0, 1]; received {value}")
