"""Directional movement on NumPy arrays: ADX, +DI, -DI (Wilder, TA-Lib's exact recursion).

TA-Lib (``ADX``/``PLUS_DI``/``MINUS_DI``, period ``n >= 2``, no unstable period):

- ``+DM = up`` if ``up > 0`` and ``up > down`` else 0, ``-DM = down`` if ``down > 0`` and
  ``down > up`` else 0, where ``up = high - prev_high``, ``down = prev_low - low``; TR is
  the true range.
- The sums of +DM, -DM and TR over bars ``1..n-1`` seed Wilder smoothing
  ``s = s - s / n + x``, applied from bar ``n`` on; ``±DI = 100 * s(±DM) / s(TR)``
  (0 when ``s(TR)`` is ~0), first value at index ``n``.
- ``DX = 100 * |+DI - -DI| / (+DI + -DI)``; the first ADX, at index ``2n - 1``, is the
  mean of DX over ``n..2n-1``; then ``adx = (adx * (n - 1) + dx) / n``. Where ``s(TR)``
  is 0, ±DI are 0; where ``s(TR)`` or ``+DI + -DI`` is 0, the bar adds nothing to the DX
  seed sum and leaves ADX unchanged. TA-Lib 0.8's zero test is exact in practice (checked
  against ``ta-lib`` 0.8.2: a smoothed TR decaying to 1e-100 on flat bars is not zero).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.features.errors import InvalidFeatureInputError

__all__ = ["adx", "minus_di", "plus_di"]

Array = NDArray[np.float64]


def directional(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int, with_adx: bool = True
) -> tuple[Array, Array, Array]:
    """Return ``(adx, plus_di, minus_di)`` by TA-Lib's recursion (one compiled pass); the
    ADX is all NaN, and not computed, without ``with_adx``."""
    from chainflow.features.batch.kernels_directional import directional_kernel  # lazily

    if n < 2:
        raise InvalidFeatureInputError(f"expected a period >= 2; received {n}")
    h = np.ascontiguousarray(high, dtype=np.float64)
    lo = np.ascontiguousarray(low, dtype=np.float64)
    c = np.ascontiguousarray(close, dtype=np.float64)
    return directional_kernel(h, lo, c, n, with_adx)


def adx(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> Array:
    """Average directional index (TA-Lib ``ADX``); first value at index ``2n - 1``."""
    return directional(high, low, close, n)[0]


def plus_di(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> Array:
    """Plus directional indicator (TA-Lib ``PLUS_DI``); first value at index ``n``."""
    return directional(high, low, close, n, with_adx=False)[1]


def minus_di(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> Array:
    """Minus directional indicator (TA-Lib ``MINUS_DI``); first value at index ``n``."""
    return directional(high, low, close, n, with_adx=False)[2]
