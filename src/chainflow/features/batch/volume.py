"""Volume indicators on NumPy arrays: OBV (TA-Lib) and session-anchored VWAP.

- ``obv``: TA-Lib ``OBV``: the first value is ``volume[0]``; then the volume is added
  when the close rises, subtracted when it falls, and nothing is done when it is unchanged.
- ``vwap``: typical price ``(high + low + close) / 3`` weighted by volume, accumulated from
  the first bar of each session. A session starts every day at ``session_start_hour_utc``
  (UTC); bar ``i`` belongs to the session containing ``ts_ms[i]`` (its open time, epoch ms).
  ``nan`` until the session has traded a positive volume.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.features.errors import InvalidFeatureInputError

__all__ = ["obv", "session_id", "vwap"]

Array = NDArray[np.float64]

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


def obv(close: ArrayLike, volume: ArrayLike) -> Array:
    """On-balance volume (TA-Lib ``OBV``); one compiled pass, a sequential running sum."""
    from chainflow.features.batch.kernels_volatility import obv_kernel  # numba: lazily

    c = np.ascontiguousarray(close, dtype=np.float64)
    v = np.ascontiguousarray(volume, dtype=np.float64)
    return obv_kernel(c, v)


def session_id(ts_ms: int, session_start_hour_utc: int = 0) -> int:
    """Return the index of the daily session holding the epoch-ms time ``ts_ms``."""
    return (int(ts_ms) - session_start_hour_utc * _HOUR_MS) // _DAY_MS


def vwap(
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    volume: ArrayLike,
    ts_ms: ArrayLike,
    session_start_hour_utc: int = 0,
) -> Array:
    """Session-anchored VWAP of the typical price; resets at each session boundary."""
    if not 0 <= session_start_hour_utc < 24:
        raise InvalidFeatureInputError("session_start_hour_utc must be in 0..23")
    h = np.asarray(high, dtype=np.float64)
    tp = (h + np.asarray(low, dtype=np.float64) + np.asarray(close, dtype=np.float64)) / 3.0
    v = np.asarray(volume, dtype=np.float64)
    ts = np.asarray(ts_ms, dtype=np.int64)
    out = np.full(h.shape, np.nan)
    if h.size == 0:
        return out
    sessions = (ts - session_start_hour_utc * _HOUR_MS) // _DAY_MS
    bounds = np.flatnonzero(sessions[1:] != sessions[:-1]) + 1
    starts = [0, *bounds.tolist()]
    ends = [*bounds.tolist(), h.size]
    pv = tp * v
    for a, b in zip(starts, ends, strict=True):
        cum_pv = np.cumsum(pv[a:b])
        cum_v = np.cumsum(v[a:b])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[a:b] = np.where(cum_v > 0.0, cum_pv / cum_v, np.nan)
    return out
