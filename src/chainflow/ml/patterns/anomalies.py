"""Anomaly flags for predictions: robust z-scores, an isolation forest on feature vectors,
and soft tick flags. Past-only: a flag at ``t`` uses values ``<= t`` and statistics of
values ``< t``.

- ``robust_zscore``: ``z[t] = (x[t] - median) / scale`` over the ``window`` values before
  ``t`` (``x[t]`` excluded), ``scale = 1.4826 * MAD`` (consistent with the standard
  deviation for normal data); where the MAD is 0 (more than half the window equal, common
  for tick returns) ``1.2533 * mean absolute deviation`` from the median instead; never
  below ``min_scale``. ``nan`` for the first ``window`` values (and where the window holds a
  ``nan``). ``robust_zscore_flags`` is ``|z| > threshold`` (``nan`` is not flagged).
- ``IsolationForestDetector``: scikit-learn ``IsolationForest`` fitted on past feature
  vectors only; ``score`` is higher for more anomalous rows (``-score_samples``) and
  ``is_anomaly`` marks rows beyond the training quantile set by ``contamination``. The
  seed makes fit and scores reproducible.
- ``tick_anomalies``: the bridge already rejects invalid ticks (crossed or non-positive
  quotes, stale or out-of-order timestamps), so these are *soft* flags that lower the
  confidence of a prediction, never reasons to drop a tick. ``spread_blowout``: spread
  ``> spread_factor`` (5) times the median of the previous ``window`` (100) spreads;
  ``price_jump``: robust z of the mid log return above ``jump_threshold`` (8);
  ``time_gap``: time since the previous tick above ``max_gap`` when given, else above
  ``gap_factor`` (20) times the median of the previous ``window`` gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray
from sklearn.ensemble import IsolationForest

from chainflow.ml.errors import InsufficientDataError, InvalidMlInputError

__all__ = [
    "IsolationForestDetector",
    "TickAnomalies",
    "robust_zscore",
    "robust_zscore_flags",
    "tick_anomalies",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

MAD_TO_STD = 1.4826
MEAN_AD_TO_STD = 1.2533  # sqrt(pi / 2)
_CHUNK = 65_536  # rows of sliding windows reduced at a time (bounds temporary memory)


def _one_dimensional(x: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidMlInputError(
            f"expected {name} to be one-dimensional; received shape {arr.shape}"
        )
    return arr


def _check_window(window: int) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise InvalidMlInputError(f"expected window to be an integer >= 2; received {window!r}")


def _past_median(x: FloatArray, window: int) -> FloatArray:
    """``out[t] = median(x[t - window : t])``; ``nan`` for ``t < window``."""
    out = np.full(x.shape, np.nan)
    if x.size > window:
        windows = sliding_window_view(x[:-1], window)
        for start in range(0, windows.shape[0], _CHUNK):
            block = windows[start : start + _CHUNK]
            out[window + start : window + start + block.shape[0]] = np.median(block, axis=1)
    return out


def robust_zscore(x: ArrayLike, window: int, min_scale: float = 1e-12) -> FloatArray:
    """Robust z of each value against the ``window`` values before it (see module docs)."""
    values = _one_dimensional(x, "x")
    _check_window(window)
    if not min_scale > 0:
        raise InvalidMlInputError(f"expected min_scale > 0; received {min_scale!r}")
    z = np.full(values.shape, np.nan)
    if values.size <= window:
        return z
    windows = sliding_window_view(values[:-1], window)
    for start in range(0, windows.shape[0], _CHUNK):
        block = windows[start : start + _CHUNK]
        median = np.median(block, axis=1)
        deviation = np.abs(block - median[:, None])
        scale = MAD_TO_STD * np.median(deviation, axis=1)
        fallback = MEAN_AD_TO_STD * deviation.mean(axis=1)
        scale = np.where(scale > 0, scale, fallback)
        scale = np.maximum(scale, min_scale)  # nan stays nan
        rows = slice(window + start, window + start + block.shape[0])
        z[rows] = (values[rows] - median) / scale
    return z


def robust_zscore_flags(
    x: ArrayLike, window: int, threshold: float = 3.5, min_scale: float = 1e-12
) -> BoolArray:
    """``|robust_zscore(x, window, min_scale)| > threshold``; warm-up and ``nan`` unflagged."""
    if not threshold > 0:
        raise InvalidMlInputError(f"expected threshold > 0; received {threshold!r}")
    with np.errstate(invalid="ignore"):
        return np.abs(robust_zscore(x, window, min_scale)) > threshold


class IsolationForestDetector:
    """Isolation forest on feature rows; fit it on past rows only (e.g. a training window
    that ends before the rows it scores)."""

    def __init__(self, contamination: float = 0.01, n_estimators: int = 200, seed: int = 0) -> None:
        if not 0 < contamination <= 0.5:
            raise InvalidMlInputError(
                f"expected 0 < contamination <= 0.5; received {contamination!r}"
            )
        if n_estimators < 1:
            raise InvalidMlInputError(f"expected n_estimators >= 1; received {n_estimators!r}")
        self.contamination = contamination
        self.n_estimators = n_estimators
        self.seed = seed
        self._model: IsolationForest | None = None
        self._n_features = 0

    def fit(self, X_past: ArrayLike) -> Self:
        rows = self._rows(X_past, fitting=True)
        if rows.shape[0] < 2:
            raise InsufficientDataError(
                f"expected at least 2 rows to fit; received {rows.shape[0]}"
            )
        model = IsolationForest(
            n_estimators=self.n_estimators,
            contamination=self.contamination,
            random_state=self.seed,
        )
        self._model = model.fit(rows)
        self._n_features = rows.shape[1]
        return self

    @property
    def threshold(self) -> float:
        """Scores above this are anomalies (the training ``1 - contamination`` quantile)."""
        return -float(self._fitted().offset_)

    def score(self, X: ArrayLike) -> FloatArray:
        """Anomaly score per row, higher = more anomalous (``-score_samples``)."""
        return -self._fitted().score_samples(self._rows(X))

    def is_anomaly(self, X: ArrayLike) -> BoolArray:
        return self.score(X) > self.threshold

    def _fitted(self) -> IsolationForest:
        if self._model is None:
            raise RuntimeError("expected a fitted detector (call fit first); received none")
        return self._model

    def _rows(self, X: ArrayLike, fitting: bool = False) -> FloatArray:
        rows = np.asarray(X, dtype=np.float64)
        if rows.ndim == 1:
            rows = rows[None, :]
        if rows.ndim != 2 or not np.isfinite(rows).all():
            raise InvalidMlInputError(
                f"expected a finite 2-d feature matrix; received shape {rows.shape}"
            )
        if not fitting and rows.shape[1] != self._n_features:
            raise InvalidMlInputError(
                f"expected {self._n_features} features per row; received {rows.shape[1]}"
            )
        return rows


@dataclass(frozen=True, slots=True)
class TickAnomalies:
    """Soft per-tick flags, each a ``bool`` array aligned with the ticks."""

    spread_blowout: BoolArray
    price_jump: BoolArray
    time_gap: BoolArray

    @property
    def any(self) -> BoolArray:
        return self.spread_blowout | self.price_jump | self.time_gap


def tick_anomalies(
    bid: ArrayLike,
    ask: ArrayLike,
    ts: ArrayLike,
    window: int = 100,
    spread_factor: float = 5.0,
    jump_threshold: float = 8.0,
    gap_factor: float = 20.0,
    max_gap: float | None = None,
) -> TickAnomalies:
    """Soft flags for spread blow-outs, price jumps and time gaps (``ts`` in any unit,
    increasing; ``max_gap`` in the same unit). Flags measured against rolling medians start
    once ``window`` earlier values exist."""
    b, a = _one_dimensional(bid, "bid"), _one_dimensional(ask, "ask")
    times = _one_dimensional(ts, "ts")
    if not b.shape == a.shape == times.shape:
        raise InvalidMlInputError(
            f"expected bid, ask, ts of equal length; received {b.size}, {a.size}, {times.size}"
        )
    _check_window(window)
    if spread_factor <= 1 or gap_factor <= 1:
        raise InvalidMlInputError(
            f"expected spread_factor and gap_factor > 1; received {spread_factor}, {gap_factor}"
        )
    spread = a - b
    with np.errstate(invalid="ignore"):
        spread_blowout = spread > spread_factor * _past_median(spread, window)
    log_mid = np.log((a + b) / 2.0)
    returns = np.concatenate([[np.nan], np.diff(log_mid)])
    price_jump = np.zeros(b.shape, dtype=bool)
    price_jump[1:] = robust_zscore_flags(returns[1:], window, jump_threshold)
    gaps = np.concatenate([[np.nan], np.diff(times)])
    with np.errstate(invalid="ignore"):
        if max_gap is not None:
            gap_flag = gaps > max_gap
        else:
            gap_flag = np.zeros(b.shape, dtype=bool)
            gap_flag[1:] = gaps[1:] > gap_factor * _past_median(gaps[1:], window)
    return TickAnomalies(spread_blowout, price_jump, gap_flag)
