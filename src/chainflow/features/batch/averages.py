"""Moving averages on NumPy arrays, with TA-Lib's conventions and warm-up.

Every function takes a 1-D float64 array without NaN and returns an array of the same
length whose first ``lookback`` entries are NaN, exactly where TA-Lib puts them:

- ``sma``/``wma``: lookback ``n - 1``;
- ``ema``: lookback ``n - 1``; seeded with the SMA of the first ``n`` values, then
  ``ema += (x - ema) * 2 / (n + 1)`` (TA-Lib's default, not Metastock, seeding);
- ``dema``: ``2 * e1 - e2`` where ``e2`` is the EMA of ``e1`` from its first value on,
  lookback ``2 * (n - 1)``;
- ``tema``: ``3 * e1 - 3 * e2 + e3``, lookback ``3 * (n - 1)``.

Each is one compiled pass (``kernels_averages``), imported on first use so that importing
this module does not import numba.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.features.errors import InvalidFeatureInputError

FloatArray = NDArray[np.float64]


def check_period(n: int, minimum: int, name: str = "n") -> None:
    """Raise ``ValueError`` unless ``n`` is an integer of at least ``minimum``."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise InvalidFeatureInputError(
            f"expected {name} to be an integer >= {minimum}; received {n!r}"
        )


def as_series(x: ArrayLike, name: str = "x") -> FloatArray:
    """Return ``x`` as a contiguous 1-D float64 array (a copy only when one is needed)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidFeatureInputError(
            f"expected {name} to be one-dimensional; received shape {arr.shape}"
        )
    return np.ascontiguousarray(arr)


def nan_like(x: FloatArray) -> FloatArray:
    """Return an all-NaN float64 array shaped like ``x``."""
    return np.full(x.shape, np.nan, dtype=np.float64)


def ema_core(x: FloatArray, n: int, k: float) -> FloatArray:
    """EMA of ``x`` (no NaN) seeded with the mean of the first ``n`` values; NaN before."""
    from chainflow.features.batch.kernels_averages import ema_kernel

    return ema_kernel(np.ascontiguousarray(x, dtype=np.float64), n, k)


def sma(x: ArrayLike, n: int) -> FloatArray:
    """Simple moving average over ``n`` values (TA-Lib ``SMA``)."""
    from chainflow.features.batch.kernels_averages import sma_kernel

    check_period(n, 2)
    return sma_kernel(as_series(x), n)


def ema(x: ArrayLike, n: int) -> FloatArray:
    """Exponential moving average, alpha ``2 / (n + 1)``, SMA-seeded (TA-Lib ``EMA``)."""
    check_period(n, 2)
    return ema_core(as_series(x), n, 2.0 / (n + 1))


def wma(x: ArrayLike, n: int) -> FloatArray:
    """Linearly weighted moving average, newest weight ``n`` (TA-Lib ``WMA``)."""
    from chainflow.features.batch.kernels_averages import wma_kernel

    check_period(n, 2)
    return wma_kernel(as_series(x), n)


def dema(x: ArrayLike, n: int) -> FloatArray:
    """Double EMA ``2 * e1 - e2`` (TA-Lib ``DEMA``)."""
    from chainflow.features.batch.kernels_averages import ema_chain_kernel

    check_period(n, 2)
    return ema_chain_kernel(as_series(x), n, 2)


def tema(x: ArrayLike, n: int) -> FloatArray:
    """Triple EMA ``3 * e1 - 3 * e2 + e3`` (TA-Lib ``TEMA``)."""
    from chainflow.features.batch.kernels_averages import ema_chain_kernel

    check_period(n, 2)
    return ema_chain_kernel(as_series(x), n, 3)
