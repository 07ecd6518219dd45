"""Circular block bootstrap of a statistic of per-row series (Politis and Romano, 1992).

Out-of-sample rows of a model overlap: a label looks ``horizon`` bars ahead, so the losses
of neighbouring rows share most of their future and are correlated. Resampling single rows
(the iid bootstrap) then understates the spread of a mean. The block bootstrap resamples
runs of ``block`` consecutive rows instead, keeping the correlation inside a run; it needs
``block`` at least as long as the correlation reaches (here: the label horizon).

``circular_block_means(series, block, resamples, seed)`` draws ``resamples`` series of the
original length ``n`` from ``ceil(n / block)`` blocks whose starts are uniform on the
circle of the ``n`` rows (a block running off the end continues at the start; the last
block is cut to make ``n`` rows), and returns the mean of each input series in each
resample. On the circle every row has the same chance to be drawn, so the resampled means
average exactly the sample mean, which the p-value below relies on. The work is vectorized:
a block's sum is a difference of cumulative sums of the series written twice, so a resample
costs ``ceil(n / block)`` look-ups per series, not ``n``.

``bootstrap_statistic`` turns the resampled values ``t*`` of a statistic ``t`` into a 95%
interval and a one-sided p-value for "the statistic is > 0" (the null: it is <= 0). Both
read the bootstrap distribution of ``t* - t`` as that of ``t - true value``: the interval
is the *basic* one, ``[2t - q97.5(t*), 2t - q2.5(t*)]``, and ``p = (1 + #{t* - t >= t}) /
(1 + resamples)``, the share of resamples whose deviation from ``t`` reaches ``t`` itself.
So they agree: the interval lies above 0 exactly when ``p`` is below about 0.025 (a
percentile interval would not, for a skewed statistic such as a ratio of mean squares).
A statistic of exactly 0 everywhere (identical predictions) gets ``p = 1``; a statistic
with no real edge gets ``p`` around 0.5 on average. Seeded: the same inputs and seed give
the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.ml.errors import InsufficientDataError, InvalidMlInputError

__all__ = [
    "DEFAULT_RESAMPLES",
    "BootstrapResult",
    "block_length",
    "bootstrap_statistic",
    "circular_block_means",
]

DEFAULT_RESAMPLES = 2000
CONFIDENCE = 0.95

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """A statistic, its 95% (basic bootstrap) interval and its one-sided p-value (``> 0``)."""

    value: float
    low: float
    high: float
    p_value: float
    block: int
    resamples: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "block": self.block,
            "resamples": self.resamples,
        }


def block_length(rows: int, horizon: int) -> int:
    """The block length for ``rows`` out-of-sample rows of a label ``horizon`` bars ahead:
    at least the horizon (rows overlap that far), at least ``rows ** (1/3)`` (the usual rate
    for a mean's variance), and at most ``rows``."""
    if rows < 1:
        raise InsufficientDataError(f"expected at least one row; received {rows}")
    if horizon < 1:
        raise InvalidMlInputError(f"expected a horizon >= 1; received {horizon}")
    return int(min(rows, max(horizon, math.ceil(rows ** (1.0 / 3.0)))))


def circular_block_means(
    series: ArrayLike, block: int, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> FloatArray:
    """Means of each row of ``series`` (shape ``(k, n)`` or ``(n,)``) in ``resamples``
    circular block resamples: shape ``(resamples, k)`` (rule in the module docstring)."""
    values = np.asarray(series, dtype=np.float64)
    if values.ndim == 1:
        values = values[np.newaxis, :]
    if values.ndim != 2 or values.shape[1] == 0:
        raise InvalidMlInputError(
            f"expected series of shape (k, n) with n >= 1; received {values.shape}"
        )
    if not np.isfinite(values).all():
        raise InvalidMlInputError("expected finite series; received a NaN or infinite value")
    n = values.shape[1]
    if isinstance(block, bool) or not 1 <= block <= n:
        raise InvalidMlInputError(f"expected 1 <= block <= {n} (the rows); received {block!r}")
    if isinstance(resamples, bool) or resamples < 1:
        raise InvalidMlInputError(f"expected resamples >= 1; received {resamples!r}")
    blocks = math.ceil(n / block)
    last = n - (blocks - 1) * block  # rows taken from the last block
    starts = np.random.default_rng(seed).integers(0, n, size=(resamples, blocks))
    twice = np.concatenate([values, values], axis=1)
    cumulative = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(twice, axis=1)], axis=1)
    lengths = np.full(blocks, block)
    lengths[-1] = last
    sums = cumulative[:, starts + lengths] - cumulative[:, starts]  # (k, resamples, blocks)
    return np.asarray(sums.sum(axis=2).T / n, dtype=np.float64)


def bootstrap_statistic(observed: float, resampled: ArrayLike, block: int) -> BootstrapResult:
    """The 95% basic bootstrap interval of ``observed`` from its ``resampled`` values and
    the one-sided p-value of ``observed > 0`` (rule in the module docstring)."""
    values = np.asarray(resampled, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise InvalidMlInputError(
            f"expected resampled values of shape (resamples,); received {values.shape}"
        )
    if not math.isfinite(observed):
        raise InvalidMlInputError(f"expected a finite observed statistic; received {observed!r}")
    tail = (1.0 - CONFIDENCE) / 2.0
    q_low, q_high = np.quantile(values, [tail, 1.0 - tail])
    low, high = 2.0 * observed - q_high, 2.0 * observed - q_low
    reaching = int(np.count_nonzero(values - observed >= observed))
    return BootstrapResult(
        value=float(observed),
        low=float(low),
        high=float(high),
        p_value=(1.0 + reaching) / (1.0 + values.size),
        block=int(block),
        resamples=int(values.size),
    )
