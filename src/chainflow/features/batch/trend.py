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

__all__ = ["adx", "minus_di", "plus_di"]

Array = NDArray[np.float64]


def _is_zero(v: float) -> bool:
    return v == 0.0


def directional(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int
) -> tuple[Array, Array, Array]:
    """Return ``(adx, plus_di, minus_di)`` by TA-Lib's recursion."""
    if n < 2:
        raise ValueError(f"expected a period >= 2; received {n}")
    h = np.asarray(high, dtype=np.float64).tolist()
    lo = np.asarray(low, dtype=np.float64).tolist()
    c = np.asarray(close, dtype=np.float64).tolist()
    size = len(h)
    adx_out = np.full(size, np.nan)
    pdi_out = np.full(size, np.nan)
    mdi_out = np.full(size, np.nan)
    if size <= n:
        return adx_out, pdi_out, mdi_out
    s_p = s_m = s_tr = 0.0
    sum_dx = 0.0
    prev_adx = 0.0
    for i in range(1, size):
        up = h[i] - h[i - 1]
        down = lo[i - 1] - lo[i]
        pdm = up if (up > 0 and up > down) else 0.0
        mdm = down if (down > 0 and up < down) else 0.0
        tr = max(h[i], c[i - 1]) - min(lo[i], c[i - 1])
        if i < n:
            s_p += pdm
            s_m += mdm
            s_tr += tr
            continue
        s_p = s_p - s_p / n + pdm
        s_m = s_m - s_m / n + mdm
        s_tr = s_tr - s_tr / n + tr
        if _is_zero(s_tr):
            pdi_out[i] = mdi_out[i] = 0.0
            dx = None
        else:
            pdi = 100.0 * (s_p / s_tr)
            mdi = 100.0 * (s_m / s_tr)
            pdi_out[i] = pdi
            mdi_out[i] = mdi
            total = mdi + pdi
            dx = None if _is_zero(total) else 100.0 * (abs(mdi - pdi) / total)
        if i < 2 * n - 1:
            if dx is not None:
                sum_dx += dx
        elif i == 2 * n - 1:
            if dx is not None:
                sum_dx += dx
            prev_adx = sum_dx / n
            adx_out[i] = prev_adx
        else:
            if dx is not None:
                prev_adx = (prev_adx * (n - 1) + dx) / n
            adx_out[i] = prev_adx
    return adx_out, pdi_out, mdi_out


def adx(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> Array:
    """Average directional index (TA-Lib ``ADX``); first value at index ``2n - 1``."""
    return directional(high, low, close, n)[0]


def plus_di(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> Array:
    """Plus directional indicator (TA-Lib ``PLUS_DI``); first value at index ``n``."""
    return directional(high, low, close, n)[1]


def minus_di(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> Array:
    """Minus directional indicator (TA-Lib ``MINUS_DI``); first value at index ``n``."""
    return directional(high, low, close, n)[2]
