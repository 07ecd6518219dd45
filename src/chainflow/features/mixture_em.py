"""A three-component Gaussian mixture of 1-D values, fitted by EM in compiled code.

The volatility regimes refit one mixture per (tenant, symbol, timeframe) at the same
wall-clock boundaries, so every key refits in the same second. scikit-learn's
``GaussianMixture`` spent 25-250 ms of Python per fit (k-means init, validation, generic
n-D code) holding the GIL; this kernel does the same maths for one dimension in well under
a millisecond, with numba's ``nogil`` so that a refit in a worker thread leaves the event
loop free.

The fit, deterministic (no random seed):

1. **Init** by 1-D k-means (Lloyd's algorithm on the values), centres started at the
   1/6, 1/2 and 5/6 quantiles (the smallest, middle and largest distinct values when ties
   make those equal), until no value changes cluster (at most 300 rounds); the
   clusters give the initial weights, means and variances, as scikit-learn's k-means init.
2. **EM** as scikit-learn: an E-step (log responsibilities by log-sum-exp), an M-step
   (variances plus ``reg_covar`` = 1e-6), stopping when the mean log-likelihood changes by
   less than ``tol`` = 1e-3 or after 100 rounds.

Components come back sorted by mean. Checked against scikit-learn in the tests: the same
parameters on separated data, a log-likelihood at least as high on random data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

F = TypeVar("F", bound=Callable[..., Any])

try:  # numba is a dependency; the fallback keeps the maths runnable without it
    from numba import njit as _njit

    def _compiled(function: F) -> F:
        return cast(F, _njit(cache=True, nogil=True)(function))

except ImportError:  # pragma: no cover

    def _compiled(function: F) -> F:
        return function


FloatArray = NDArray[np.float64]

REG_COVAR = 1e-6
TOL = 1e-3
MAX_ITER = 100
KMEANS_MAX_ITER = 300
_LOG_2PI = math.log(2.0 * math.pi)


@_compiled
def _kmeans_labels(values: FloatArray, max_iter: int) -> NDArray[np.int64]:
    """Lloyd's k-means (k = 3) on 1-D values from the 1/6, 1/2, 5/6 quantile centres."""
    n = values.size
    ordered = np.sort(values)
    centres = np.empty(3)
    for k in range(3):
        centres[k] = ordered[min(n - 1, int((2 * k + 1) * n / 6))]
    if not (centres[0] < centres[1] < centres[2]):  # heavy ties: spread over distinct values
        distinct = np.unique(ordered)
        centres[0], centres[1], centres[2] = distinct[0], distinct[distinct.size // 2], distinct[-1]
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(max_iter):
        changed = False
        sums = np.zeros(3)
        counts = np.zeros(3)
        for i in range(n):
            x = values[i]
            best, best_d = 0, abs(x - centres[0])
            for k in range(1, 3):
                d = abs(x - centres[k])
                if d < best_d:
                    best, best_d = k, d
            if labels[i] != best:
                labels[i] = best
                changed = True
            sums[best] += x
            counts[best] += 1.0
        for k in range(3):
            if counts[k] > 0:
                centres[k] = sums[k] / counts[k]
        if not changed:
            break
    return labels


@_compiled
def _m_step(
    values: FloatArray, resp: FloatArray, reg_covar: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n = values.size
    weights = np.zeros(3)
    means = np.zeros(3)
    variances = np.zeros(3)
    for k in range(3):
        nk = 10.0 * np.finfo(np.float64).eps
        total = 0.0
        for i in range(n):
            nk += resp[i, k]
            total += resp[i, k] * values[i]
        mean = total / nk
        spread = 0.0
        for i in range(n):
            d = values[i] - mean
            spread += resp[i, k] * d * d
        weights[k] = nk / n
        means[k] = mean
        variances[k] = spread / nk + reg_covar
    return weights, means, variances


@_compiled
def _e_step(
    values: FloatArray,
    weights: FloatArray,
    means: FloatArray,
    variances: FloatArray,
    resp: FloatArray,
) -> float:
    """Fill ``resp`` with the responsibilities; return the mean log-likelihood."""
    n = values.size
    log_weights = np.log(weights)
    log_norm = np.empty(3)
    for k in range(3):
        log_norm[k] = -0.5 * (_LOG_2PI + math.log(variances[k]))
    total = 0.0
    row = np.empty(3)
    for i in range(n):
        top = -np.inf
        for k in range(3):
            d = values[i] - means[k]
            row[k] = log_weights[k] + log_norm[k] - 0.5 * d * d / variances[k]
            if row[k] > top:
                top = row[k]
        acc = 0.0
        for k in range(3):
            acc += math.exp(row[k] - top)
        log_sum = top + math.log(acc)
        total += log_sum
        for k in range(3):
            resp[i, k] = math.exp(row[k] - log_sum)
    return total / n


@_compiled
def _fit(
    values: FloatArray, reg_covar: float, tol: float, max_iter: int, kmeans_max_iter: int
) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    n = values.size
    labels = _kmeans_labels(values, kmeans_max_iter)
    resp = np.zeros((n, 3))
    for i in range(n):
        resp[i, labels[i]] = 1.0
    weights, means, variances = _m_step(values, resp, reg_covar)
    lower_bound = -np.inf
    for _ in range(max_iter):
        previous = lower_bound
        lower_bound = _e_step(values, weights, means, variances, resp)
        weights, means, variances = _m_step(values, resp, reg_covar)
        if abs(lower_bound - previous) < tol:
            break
    return weights, means, variances, lower_bound


def fit_three_components(
    values: FloatArray,
) -> tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]:
    """Return (weights, means, variances) of a 3-component mixture, sorted by mean.

    ``values`` must hold at least three distinct finite values (the caller checks).
    """
    data = np.ascontiguousarray(values, dtype=np.float64).ravel()
    weights, means, variances, _ = _fit(data, REG_COVAR, TOL, MAX_ITER, KMEANS_MAX_ITER)
    order = np.argsort(means, kind="stable")
    w, m, v = weights[order], means[order], variances[order]
    return (
        (float(w[0]), float(w[1]), float(w[2])),
        (float(m[0]), float(m[1]), float(m[2])),
        (float(v[0]), float(v[1]), float(v[2])),
    )


def mean_log_likelihood(
    values: FloatArray,
    weights: tuple[float, float, float],
    means: tuple[float, float, float],
    variances: tuple[float, float, float],
) -> float:
    """Return the mean log-likelihood of ``values`` under a mixture (for comparisons)."""
    data = np.ascontiguousarray(values, dtype=np.float64).ravel()
    resp = np.empty((data.size, 3))
    return float(_e_step(data, np.array(weights), np.array(means), np.array(variances), resp))


def compile_kernels() -> None:
    """Compile the kernels now (or load them from numba's on-disk cache).

    The first fit in a process otherwise pays it: seconds of compilation on a fresh install,
    most of a second to import numba and load the cache after that, all of it holding the
    GIL. A service that refits while it serves ticks calls this before it starts serving.
    """
    fit_three_components(np.array([0.1, 0.2, 0.3, 1.0, 1.1, 5.0, 5.2, 0.15]))
