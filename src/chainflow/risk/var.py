"""Value at risk and conditional value at risk: historical, parametric and Monte Carlo.

Sign convention: a P&L (or return) series is positive for gains. VaR and CVaR are reported
as losses, positive numbers for a loss, in the units of the input (account currency for
P&L and position values, a fraction for returns). They are not clipped: a negative VaR
means even the tail quantile is a gain. ``CVaR >= VaR`` always.

``confidence`` is the quantile level in (0, 1), e.g. 0.99 for a 99 % VaR. The horizon is
that of the input: daily returns or a daily covariance give a one-day VaR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from chainflow.risk.errors import InvalidRiskInputError

VarMethod: TypeAlias = Literal["historical", "parametric", "monte_carlo"]


@dataclass(frozen=True, slots=True)
class VarResult:
    """VaR and CVaR (expected shortfall) at ``confidence``, as positive loss numbers."""

    var: float
    cvar: float
    confidence: float
    method: VarMethod


def compute_historical_var(pnl: ArrayLike, confidence: float) -> VarResult:
    """Return the empirical VaR and CVaR of a P&L or return series.

    VaR is the ``confidence`` quantile of the losses (``-pnl``, linear interpolation);
    CVaR is the mean of the losses at or beyond it.
    """
    _require_confidence(confidence)
    losses = -_require_series(pnl)
    var, cvar = _tail_of_losses(losses, confidence)
    return VarResult(var, cvar, confidence, "historical")


def compute_parametric_var(
    position_values: ArrayLike,
    covariance: ArrayLike,
    confidence: float,
    *,
    mean_returns: ArrayLike | None = None,
) -> VarResult:
    """Return the variance-covariance (normal) VaR and CVaR of a portfolio.

    ``position_values`` are signed exposures in the account currency (negative for
    shorts); ``covariance`` is of the assets' returns over the horizon. With
    ``σ = sqrt(vᵀΣv)``, ``μ = vᵀm`` and ``z = Φ⁻¹(c)``: ``VaR = zσ − μ`` and
    ``CVaR = σ φ(z) / (1 − c) − μ``.
    """
    _require_confidence(confidence)
    values, cov, means = _require_portfolio(position_values, covariance, mean_returns)
    variance = float(values @ cov @ values)
    scale = float(np.abs(values) @ np.abs(values)) * float(np.max(np.abs(cov)))
    if variance < -1e-12 * max(scale, 1.0):
        raise InvalidRiskInputError(
            f"expected a positive semi-definite covariance; received portfolio variance "
            f"{variance:g}"
        )
    sigma = math.sqrt(max(variance, 0.0))
    mean = float(values @ means)
    z = float(norm.ppf(confidence))
    var = z * sigma - mean
    cvar = sigma * float(norm.pdf(z)) / (1.0 - confidence) - mean
    return VarResult(var, cvar, confidence, "parametric")


def compute_monte_carlo_var(
    position_values: ArrayLike,
    covariance: ArrayLike,
    confidence: float,
    *,
    paths: int = 10_000,
    seed: int = 0,
    mean_returns: ArrayLike | None = None,
) -> VarResult:
    """Return VaR and CVaR from ``paths`` multivariate-normal return draws.

    The generator is ``numpy.random.default_rng(seed)``, so the same seed gives the same
    paths and VaR is then monotone in ``confidence``.
    """
    _require_confidence(confidence)
    if paths < 1:
        raise InvalidRiskInputError(f"expected paths >= 1; received {paths}")
    values, cov, means = _require_portfolio(position_values, covariance, mean_returns)
    generator = np.random.default_rng(seed)
    returns = generator.multivariate_normal(means, cov, size=paths, method="eigh")
    losses = -(returns @ values)
    var, cvar = _tail_of_losses(losses, confidence)
    return VarResult(var, cvar, confidence, "monte_carlo")


def _tail_of_losses(losses: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    var = float(np.quantile(losses, confidence, method="linear"))
    tail = losses[losses >= var]
    # The maximum is always >= an interpolated quantile, so the tail is never empty.
    cvar = float(tail.mean())
    return var, max(cvar, var)


def _require_confidence(confidence: float) -> None:
    if not (math.isfinite(confidence) and 0.0 < confidence < 1.0):
        raise InvalidRiskInputError(f"expected confidence in (0, 1); received {confidence}")


def _require_series(pnl: ArrayLike) -> NDArray[np.float64]:
    series = np.asarray(pnl, dtype=np.float64)
    if series.ndim != 1:
        raise InvalidRiskInputError(f"expected a 1-D P&L series; received shape {series.shape}")
    if series.size == 0:
        raise InvalidRiskInputError("expected at least one P&L value; received none")
    if not np.all(np.isfinite(series)):
        raise InvalidRiskInputError("expected finite P&L values; received NaN or infinity")
    return series


def _require_portfolio(
    position_values: ArrayLike, covariance: ArrayLike, mean_returns: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    values = np.asarray(position_values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise InvalidRiskInputError(
            f"expected a non-empty 1-D array of position values; received shape {values.shape}"
        )
    cov = np.asarray(covariance, dtype=np.float64)
    if cov.shape != (values.size, values.size):
        raise InvalidRiskInputError(
            f"expected a covariance of shape {(values.size, values.size)}; received {cov.shape}"
        )
    if not (np.all(np.isfinite(values)) and np.all(np.isfinite(cov))):
        raise InvalidRiskInputError(
            "expected finite position values and covariance; received NaN or inf"
        )
    if not np.allclose(cov, cov.T, rtol=1e-9, atol=1e-15):
        raise InvalidRiskInputError(
            "expected a symmetric covariance matrix; received an asymmetric one"
        )
    if mean_returns is None:
        means = np.zeros(values.size)
    else:
        means = np.asarray(mean_returns, dtype=np.float64)
        if means.shape != values.shape:
            raise InvalidRiskInputError(
                f"expected mean returns of shape {values.shape}; received {means.shape}"
            )
    return values, cov, means
