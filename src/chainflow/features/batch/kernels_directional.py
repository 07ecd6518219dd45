"""Compiled directional movement: ADX, +DI and -DI in one pass (TA-Lib's recursion).

The kernel repeats ``trend.directional``'s former Python loop operation for operation, so
its outputs are bit-for-bit the same; see ``chainflow.features.batch.trend`` for the rules.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@njit(cache=True, nogil=True)
def directional_kernel(
    h: FloatArray, lo: FloatArray, c: FloatArray, n: int, with_adx: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return ``(adx, plus_di, minus_di)``; NaN before index ``2n - 1`` / ``n``. Without
    ``with_adx`` the ADX stays NaN and its recursion (a division per bar) is skipped."""
    size = h.size
    adx_out = np.full(size, np.nan)
    pdi_out = np.full(size, np.nan)
    mdi_out = np.full(size, np.nan)
    if size <= n:
        return adx_out, pdi_out, mdi_out
    s_p = 0.0
    s_m = 0.0
    s_tr = 0.0
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
        has_dx = False
        dx = 0.0
        if s_tr == 0.0:
            pdi_out[i] = 0.0
            mdi_out[i] = 0.0
        else:
            pdi = 100.0 * (s_p / s_tr)
            mdi = 100.0 * (s_m / s_tr)
            pdi_out[i] = pdi
            mdi_out[i] = mdi
            if not with_adx:
                continue
            total = mdi + pdi
            if total != 0.0:
                has_dx = True
                dx = 100.0 * (abs(mdi - pdi) / total)
        if not with_adx:
            continue
        if i < 2 * n - 1:
            if has_dx:
                sum_dx += dx
        elif i == 2 * n - 1:
            if has_dx:
                sum_dx += dx
            prev_adx = sum_dx / n
            adx_out[i] = prev_adx
        else:
            if has_dx:
                prev_adx = (prev_adx * (n - 1) + dx) / n
            adx_out[i] = prev_adx
    return adx_out, pdi_out, mdi_out
