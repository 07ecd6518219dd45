"""GARCH(1,1) forecasts of forward realized volatility, and their out-of-sample evaluation.

Definitions (per bar, in log-return units, not annualised):

- ``realized_volatility(r) = sqrt(mean(r**2))`` over a window of log returns ``r``. Returns are
  not demeaned: over short windows the mean is noise, and the zero-mean GARCH below forecasts
  exactly ``E[r**2]``.
- The **forward realized volatility** at origin ``t`` (the bar whose close is the last known
  price) is the realized volatility of the next ``horizon`` returns ``r[t+1 .. t+horizon]``.
- The **GARCH forecast** at ``t`` is ``sqrt(mean(sigma2[t+1 .. t+horizon]))``, the analytic
  multi-step variance forecast of a zero-mean GARCH(1,1) with normal innovations fitted on
  returns up to and including ``t``.
- The **naive forecast** at ``t`` is the past realized volatility over the same horizon,
  ``realized_volatility(r[t-horizon+1 .. t])``.

Scaling: ``arch`` optimises poorly on raw log returns (variances of 1e-4 to 1e-8), so returns
are multiplied by 100 (percent), as the ``arch`` documentation does for daily data, and
``arch``'s own ``rescale=True`` then applies a further power of ten when the percent variance
is still outside [0.1, 10000) (typical for minute bars). Both factors are divided back out,
so every value this module returns is in log-return units.

Evaluation refits the parameters every ``refit_every`` bars on the data up to the first origin
of each block and, within the block, filters the variance recursion forward with those fixed
parameters, so each forecast uses only returns up to its origin.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from arch import arch_model
from arch.univariate.base import ARCHModel, ARCHModelResult
from numpy.typing import ArrayLike, NDArray

from chainflow.core.errors import InvalidInput

PERCENT = 100.0
MIN_FIT_RETURNS = 100


@dataclass(frozen=True, slots=True)
class VolatilityForecastEvaluation:
    """Out-of-sample errors of GARCH and naive forecasts of forward realized volatility."""

    horizon: int
    n_forecasts: int
    garch_mae: float
    garch_rmse: float
    naive_mae: float
    naive_rmse: float


def realized_volatility(returns: ArrayLike) -> float:
    """Return ``sqrt(mean(r**2))`` of a window of log returns (per-bar volatility)."""
    window = np.asarray(returns, dtype=np.float64)
    if window.size == 0:
        raise InvalidInput("expected at least one return; received an empty window")
    return math.sqrt(float(np.mean(window**2)))


def log_returns(close: ArrayLike) -> NDArray[np.float64]:
    """Return ``diff(log(close))`` after checking the prices are finite and positive."""
    prices = np.asarray(close, dtype=np.float64)
    if prices.ndim != 1 or prices.size < 2:
        raise InvalidInput(f"expected a 1-D close series of >= 2 prices; received {prices.shape}")
    if not np.all(np.isfinite(prices)) or np.any(prices <= 0):
        raise InvalidInput("expected finite, positive close prices; received NaN, inf or <= 0")
    return np.diff(np.log(prices))


def garch_forecast(returns: ArrayLike, horizon: int) -> float:
    """Forecast forward realized volatility over ``horizon`` bars from past log returns.

    Fits a zero-mean GARCH(1,1) on all of ``returns`` (the caller passes only the past) and
    returns ``sqrt(mean of the 1..horizon step variance forecasts)`` in log-return units.
    """
    past = _validate_returns(returns, horizon)
    model = _garch_model(past)
    result = _fit(model, last_obs=None)
    variance = result.forecast(horizon=horizon, reindex=False).variance.to_numpy()[-1]
    return _to_volatility(variance, result.scale)


def evaluate_volatility_forecast(
    close: ArrayLike,
    horizon: int,
    *,
    train_fraction: float = 0.5,
    refit_every: int = 50,
) -> VolatilityForecastEvaluation:
    """Compare GARCH(1,1) with the naive forecast of forward realized vol out of sample.

    Origins run from the end of the first ``train_fraction`` of the returns to the last bar
    that still has ``horizon`` future returns. Parameters are refit every ``refit_every``
    origins on the returns up to that origin only.
    """
    returns = _validate_returns(log_returns(close), horizon)
    if not 0.0 < train_fraction < 1.0:
        raise InvalidInput(f"expected 0 < train_fraction < 1; received {train_fraction}")
    if refit_every < 1:
        raise InvalidInput(f"expected refit_every >= 1; received {refit_every}")
    first_origin = max(int(len(returns) * train_fraction), MIN_FIT_RETURNS, horizon) - 1
    last_origin = len(returns) - horizon - 1
    if last_origin < first_origin:
        raise InvalidInput(
            f"expected enough returns for a training part and {horizon}-bar targets; "
            f"received {len(returns)} returns"
        )
    origins = np.arange(first_origin, last_origin + 1)
    garch = rolling_garch_forecast(returns, origins, horizon, refit_every=refit_every)
    squared = returns**2
    cumulative = np.concatenate([[0.0], np.cumsum(squared)])
    # Window sums via cumulative sums: forward r[t+1..t+h], past r[t-h+1..t].
    forward = np.sqrt((cumulative[origins + 1 + horizon] - cumulative[origins + 1]) / horizon)
    naive = np.sqrt((cumulative[origins + 1] - cumulative[origins + 1 - horizon]) / horizon)
    garch_error = garch - forward
    naive_error = naive - forward
    return VolatilityForecastEvaluation(
        horizon=horizon,
        n_forecasts=len(origins),
        garch_mae=float(np.mean(np.abs(garch_error))),
        garch_rmse=float(np.sqrt(np.mean(garch_error**2))),
        naive_mae=float(np.mean(np.abs(naive_error))),
        naive_rmse=float(np.sqrt(np.mean(naive_error**2))),
    )


def rolling_garch_forecast(
    returns: ArrayLike, origins: ArrayLike, horizon: int, *, refit_every: int
) -> NDArray[np.float64]:
    """Forecast forward realized vol at each origin (ascending indices into ``returns``).

    Origins are split into blocks of ``refit_every``; the parameters are refit once per block
    on ``returns[: first_origin_of_block + 1]``, and each forecast uses only
    ``returns[: origin + 1]``.
    """
    returns = _validate_returns(returns, horizon)
    origins = np.asarray(origins, dtype=np.int64)
    if origins.ndim != 1 or origins.size == 0 or np.any(np.diff(origins) <= 0):
        raise InvalidInput("expected a non-empty, strictly ascending 1-D array of origins")
    if origins[0] < MIN_FIT_RETURNS - 1 or origins[-1] >= len(returns):
        raise InvalidInput(
            f"expected origins in [{MIN_FIT_RETURNS - 1}, {len(returns) - 1}]; "
            f"received [{origins[0]}, {origins[-1]}]"
        )
    forecasts = np.empty(len(origins), dtype=np.float64)
    for block_start in range(0, len(origins), refit_every):
        block = origins[block_start : block_start + refit_every]
        first, last = int(block[0]), int(block[-1])
        # The model sees returns up to the block's last origin; the fit uses those up to the
        # first origin only, and forecasting from each origin filters the recursion causally.
        model = _garch_model(returns[: last + 1])
        result = _fit(model, last_obs=first + 1)
        variance = result.forecast(horizon=horizon, start=first, reindex=False).variance
        rows = variance.to_numpy()[block - first]  # row i forecasts from origin first + i
        forecasts[block_start : block_start + len(block)] = [
            _to_volatility(row, result.scale) for row in rows
        ]
    return forecasts


def _garch_model(returns: NDArray[np.float64]) -> ARCHModel:
    return arch_model(
        returns * PERCENT, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=True
    )


def _fit(model: ARCHModel, *, last_obs: int | None) -> ARCHModelResult:
    with warnings.catch_warnings():
        # Convergence warnings on short or flat windows still yield usable parameters.
        warnings.simplefilter("ignore")
        return model.fit(disp="off", last_obs=last_obs, show_warning=False)


def _to_volatility(step_variances: NDArray[np.float64], scale: float) -> float:
    return math.sqrt(float(np.mean(step_variances))) / (PERCENT * scale)


def _validate_returns(returns: ArrayLike, horizon: int) -> NDArray[np.float64]:
    if horizon < 1:
        raise InvalidInput(f"expected horizon >= 1; received {horizon}")
    series = np.asarray(returns, dtype=np.float64)
    if series.ndim != 1 or series.size < MIN_FIT_RETURNS:
        raise InvalidInput(
            f"expected a 1-D series of >= {MIN_FIT_RETURNS} log returns; received {series.shape}"
        )
    if not np.all(np.isfinite(series)):
        raise InvalidInput("expected finite log returns; received NaN or infinity")
    return series
