"""Cross-asset correlation and lead-lag over log returns of a tenant's symbols.

Alignment rule (shared by ``RollingCorrelation`` and ``aligned_log_returns``):

1. Per symbol, closes are keyed by bar open time ``ts``. A close whose ``ts`` is not strictly
   greater than every earlier ``ts`` of that symbol (out of order or duplicate) is ignored.
2. A row at ``ts`` is complete when every symbol has a close at ``ts`` (inner join on ``ts``).
   Only complete rows count; a timestamp missing for any symbol is skipped for all symbols.
3. The return of a symbol at a complete row is ``log(close / close at the previous complete
   row)``. The first complete row has no return and only sets the base, so ``n`` complete rows
   give ``n - 1`` return rows, every symbol's return spanning the same interval.

Correlation is Pearson over the last ``window`` return rows. A symbol whose returns in the
window have (relative) zero variance gives ``nan`` off the diagonal; the diagonal is 1.0 once
``window`` rows are in.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.features.batch.averages import as_series, check_period
from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# A variance at most this fraction of the mean square counts as zero (a constant series).
ZERO_VARIANCE_RATIO = 1e-12
BATCH_CHUNK_ROWS = 2048


def check_symbols(symbols: Sequence[str]) -> list[str]:
    """Return ``symbols`` as a list; raise ``ValueError`` unless >= 2 distinct strings."""
    names = list(symbols)
    if len(names) < 2 or len(set(names)) != len(names):
        raise InvalidFeatureInputError(f"expected at least 2 distinct symbols; received {names!r}")
    if not all(isinstance(name, str) and name for name in names):
        raise InvalidFeatureInputError(f"expected non-empty symbol strings; received {names!r}")
    return names


def correlation_from_moments(
    row_count: int, sums: FloatArray, cross_sums: FloatArray
) -> FloatArray:
    """Return the k×k Pearson matrix from ``sum x`` (k) and ``sum x·xᵀ`` (k×k) over n rows."""
    means = sums / row_count
    covariance = cross_sums / row_count - np.outer(means, means)
    variance = np.diag(covariance).copy()
    mean_square = np.diag(cross_sums) / row_count
    variance[variance <= ZERO_VARIANCE_RATIO * mean_square] = np.nan
    matrix = covariance / np.sqrt(np.outer(variance, variance))
    np.clip(matrix, -1.0, 1.0, out=matrix)
    np.fill_diagonal(matrix, 1.0)
    return matrix


class RollingCorrelation:
    """Incremental rolling Pearson correlation of log returns across ``symbols``.

    ``update(symbol, ts, close)`` follows the module's alignment rule. Each completed row costs
    O(k²): running ``sum x`` and ``sum x·xᵀ`` over a deque of the last ``window`` return rows,
    recomputed exactly from the deque every ``window`` rows so rounding cannot drift.

    Incomplete rows wait in a pending table. Once a row completes, pending rows with an older
    ``ts`` can never complete and are dropped. At most ``max_pending`` rows wait; beyond that
    the oldest is dropped (a symbol lagging more than ``max_pending`` timestamps, or silent,
    cannot grow memory). Dropped rows are counted in ``dropped``, ignored closes in
    ``ignored``. ``count`` is the number of return rows seen (the first complete row is none).
    """

    def __init__(self, symbols: Sequence[str], window: int, max_pending: int = 256) -> None:
        check_period(window, 2, "window")
        check_period(max_pending, 1, "max_pending")
        self.symbols: tuple[str, ...] = tuple(check_symbols(symbols))
        self.window = window
        self.max_pending = max_pending
        self._index = {symbol: i for i, symbol in enumerate(self.symbols)}
        self.reset()

    def reset(self) -> None:
        """Forget everything, as if newly made with the same parameters."""
        k = len(self.symbols)
        self.count = 0
        self.ignored = 0
        self.dropped = 0
        self.last_complete_ts: int | None = None
        self._last_ts: list[int | None] = [None] * k
        self._base_closes: list[float] | None = None
        self._pending: dict[int, dict[int, float]] = {}
        self._rows: deque[FloatArray] = deque()
        self._sums = np.zeros(k)
        self._cross_sums = np.zeros((k, k))
        self._rows_since_recompute = 0

    @property
    def is_ready(self) -> bool:
        return len(self._rows) == self.window

    def update(self, symbol: str, ts: int, close: float) -> None:
        """Add the close of ``symbol``'s bar opened at ``ts`` (epoch ms)."""
        column = self._index.get(symbol)
        if column is None:
            raise InvalidFeatureInputError(
                f"expected one of {list(self.symbols)!r}; received {symbol!r}"
            )
        value = float(close)
        if not (math.isfinite(value) and value > 0.0):
            raise InvalidFeatureInputError(f"expected a positive finite close; received {close!r}")
        last = self._last_ts[column]
        if last is not None and ts <= last:
            self.ignored += 1
            return
        self._last_ts[column] = ts
        row = self._pending.setdefault(ts, {})
        row[column] = value
        if len(row) == len(self.symbols):
            del self._pending[ts]
            self._complete(ts, [row[i] for i in range(len(self.symbols))])
        elif len(self._pending) > self.max_pending:
            del self._pending[min(self._pending)]
            self.dropped += 1

    def matrix(self) -> FloatArray:
        """Return the k×k correlation matrix (all ``nan`` until ``window`` return rows)."""
        k = len(self.symbols)
        if not self.is_ready:
            return np.full((k, k), np.nan)
        return correlation_from_moments(self.window, self._sums, self._cross_sums)

    def window_return_sums(self) -> FloatArray:
        """Return each symbol's log return summed over the window (all ``nan`` until ready)."""
        if not self.is_ready:
            return np.full(len(self.symbols), np.nan)
        return np.asarray(self._sums, dtype=np.float64).copy()

    def _complete(self, ts: int, closes: list[float]) -> None:
        self.last_complete_ts = ts
        stale = [pending_ts for pending_ts in self._pending if pending_ts < ts]
        for pending_ts in stale:
            del self._pending[pending_ts]
        self.dropped += len(stale)
        base = self._base_closes
        self._base_closes = closes
        if base is None:
            return
        returns = np.array([math.log(c / b) for c, b in zip(closes, base, strict=True)])
        self.count += 1
        self._rows.append(returns)
        self._sums += returns
        self._cross_sums += np.outer(returns, returns)
        if len(self._rows) > self.window:
            oldest = self._rows.popleft()
            self._sums -= oldest
            self._cross_sums -= np.outer(oldest, oldest)
        self._rows_since_recompute += 1
        if self._rows_since_recompute >= self.window:
            self._recompute()

    def _recompute(self) -> None:
        rows = np.array(self._rows)
        self._sums = rows.sum(axis=0)
        self._cross_sums = rows.T @ rows
        self._rows_since_recompute = 0

    def snapshot(self) -> dict[str, Any]:
        """Return the whole state as strict JSON data (no ``nan``)."""
        return {
            "kind": "RollingCorrelation",
            "symbols": list(self.symbols),
            "window": self.window,
            "max_pending": self.max_pending,
            "count": self.count,
            "ignored": self.ignored,
            "dropped": self.dropped,
            "last_complete_ts": self.last_complete_ts,
            "last_ts": list(self._last_ts),
            "base_closes": self._base_closes,
            "pending": [
                [ts, [[column, close] for column, close in row.items()]]
                for ts, row in self._pending.items()
            ],
            "rows": [row.tolist() for row in self._rows],
            "sums": self._sums.tolist(),
            "cross_sums": self._cross_sums.tolist(),
            "rows_since_recompute": self._rows_since_recompute,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Continue from a ``snapshot()`` of an instance with the same parameters."""
        params = {"symbols": list(self.symbols), "window": self.window}
        if snapshot.get("kind") != "RollingCorrelation" or any(
            snapshot.get(name) != value for name, value in params.items()
        ):
            raise FeatureStateMismatchError(
                f"expected a RollingCorrelation snapshot with {params!r}; "
                f"received kind={snapshot.get('kind')!r}, symbols={snapshot.get('symbols')!r}, "
                f"window={snapshot.get('window')!r}"
            )
        self.count = snapshot["count"]
        self.ignored = snapshot["ignored"]
        self.dropped = snapshot["dropped"]
        self.last_complete_ts = snapshot["last_complete_ts"]
        self._last_ts = list(snapshot["last_ts"])
        base = snapshot["base_closes"]
        self._base_closes = None if base is None else [float(c) for c in base]
        self._pending = {
            int(ts): {int(column): float(close) for column, close in row}
            for ts, row in snapshot["pending"]
        }
        self._rows = deque(np.array(row, dtype=np.float64) for row in snapshot["rows"])
        self._sums = np.array(snapshot["sums"], dtype=np.float64)
        self._cross_sums = np.array(snapshot["cross_sums"], dtype=np.float64)
        self._rows_since_recompute = snapshot["rows_since_recompute"]


def increasing_mask(ts: IntArray) -> NDArray[np.bool_]:
    """Return which entries have a ``ts`` strictly greater than every earlier one."""
    mask = np.ones(ts.shape, dtype=bool)
    if ts.size > 1:
        mask[1:] = ts[1:] > np.maximum.accumulate(ts)[:-1]
    return mask


def aligned_log_returns(
    closes_by_symbol: Mapping[str, tuple[ArrayLike, ArrayLike]],
) -> tuple[IntArray, FloatArray]:
    """Return ``(ts, returns)`` under the module's alignment rule.

    ``closes_by_symbol`` maps each symbol to ``(ts, close)`` arrays in arrival order. ``ts``
    (n) holds the timestamps of the return rows (complete rows after the first) and
    ``returns`` (n×k) their log returns, columns in the mapping's order.
    """
    check_symbols(list(closes_by_symbol))
    joined: Any = None
    for raw_ts, raw_close in closes_by_symbol.values():
        ts = np.asarray(raw_ts, dtype=np.int64)
        close = as_series(raw_close, "close")
        if ts.ndim != 1 or ts.shape != close.shape:
            raise InvalidFeatureInputError(
                f"expected ts and close of the same 1-D shape; "
                f"received {ts.shape} and {close.shape}"
            )
        if not (np.isfinite(close).all() and (close > 0.0).all()):
            raise InvalidFeatureInputError(
                "expected positive finite closes; received a non-positive or nan"
            )
        keep = increasing_mask(ts)
        ts, close = ts[keep], close[keep]
        if joined is None:
            joined = (ts, close[:, None])
            continue
        common, left, right = np.intersect1d(joined[0], ts, assume_unique=True, return_indices=True)
        joined = (common, np.column_stack([joined[1][left], close[right]]))
    ts_joined, closes = joined
    if len(ts_joined) < 2:
        return np.empty(0, dtype=np.int64), np.empty((0, closes.shape[1]))
    return ts_joined[1:], np.log(closes[1:] / closes[:-1])


def check_returns(returns: ArrayLike) -> FloatArray:
    """Return ``returns`` as an n×k float64 array with k >= 2 and no ``nan``."""
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise InvalidFeatureInputError(
            f"expected returns of shape (n, k >= 2); received shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise InvalidFeatureInputError("expected finite returns; received nan or inf")
    return arr


def correlation_of_windows(windows: FloatArray) -> FloatArray:
    """Return the Pearson matrices (m×k×k) of ``windows`` shaped (m, k, w), centered first."""
    centered = windows - windows.mean(axis=2, keepdims=True)
    covariance = np.einsum("mkw,mjw->mkj", centered, centered)
    variance = np.einsum("mkk->mk", covariance).copy()
    mean_square = np.einsum("mkw,mkw->mk", windows, windows)
    variance[variance <= ZERO_VARIANCE_RATIO * mean_square] = np.nan
    matrices = covariance / np.sqrt(variance[:, :, None] * variance[:, None, :])
    np.clip(matrices, -1.0, 1.0, out=matrices)
    diagonal = np.arange(windows.shape[1])
    matrices[:, diagonal, diagonal] = 1.0
    return matrices


def correlation_matrix(returns: ArrayLike, window: int | None = None) -> FloatArray:
    """Return the k×k Pearson matrix of the last ``window`` rows (all rows if ``None``)."""
    arr = check_returns(returns)
    size = arr.shape[0] if window is None else window
    check_period(size, 2, "window")
    if arr.shape[0] < size:
        return np.full((arr.shape[1], arr.shape[1]), np.nan)
    return correlation_of_windows(arr[-size:].T[None, :, :])[0]


def rolling_correlation(returns: ArrayLike, window: int) -> FloatArray:
    """Return the n×k×k rolling Pearson matrices; row ``t`` uses rows ``t-window+1 .. t``."""
    arr = check_returns(returns)
    check_period(window, 2, "window")
    n, k = arr.shape
    out = np.full((n, k, k), np.nan)
    if n < window:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(arr, window, axis=0)  # (m, k, w)
    for start in range(0, windows.shape[0], BATCH_CHUNK_ROWS):
        chunk = windows[start : start + BATCH_CHUNK_ROWS]
        out[window - 1 + start : window - 1 + start + len(chunk)] = correlation_of_windows(chunk)
    return out


@dataclass(frozen=True, slots=True)
class LeadLag:
    """Cross-correlation ``corr(x_t, y_{t+lag})`` per lag; positive ``best_lag``: x leads y."""

    lags: IntArray
    correlations: FloatArray
    best_lag: int
    best_correlation: float


def lead_lag(x: ArrayLike, y: ArrayLike, max_lag: int) -> LeadLag:
    """Return the Pearson correlation of ``x_t`` with ``y_{t+lag}`` for lag in ±``max_lag``.

    Each lag uses the overlapping ``n - |lag|`` pairs. A positive lag pairs ``x`` with later
    ``y``, so a positive ``best_lag`` means ``x`` leads ``y`` by that many bars. The best lag
    maximises ``|correlation|``; ties go to the lag nearest zero (then the negative one).
    Lags whose overlap has zero variance get ``nan`` and never win over a number.
    """
    xs, ys = as_series(x, "x"), as_series(y, "y")
    if xs.shape != ys.shape:
        raise InvalidFeatureInputError(
            f"expected x and y of equal length; received {xs.size} and {ys.size}"
        )
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise InvalidFeatureInputError("expected finite x and y; received nan or inf")
    n = xs.size
    if isinstance(max_lag, bool) or not isinstance(max_lag, int | np.integer):
        raise InvalidFeatureInputError(f"expected an integer max_lag; received {max_lag!r}")
    if not 0 <= max_lag < n - 1:
        raise InvalidFeatureInputError(
            f"expected 0 <= max_lag < len(x) - 1 = {n - 1}; received max_lag={max_lag}"
        )
    lags = np.arange(-max_lag, max_lag + 1, dtype=np.int64)
    correlations = np.empty(lags.size)
    for i, lag in enumerate(lags):
        if lag >= 0:
            left, right = xs[: n - lag], ys[lag:]
        else:
            left, right = xs[-lag:], ys[: n + lag]
        pair = np.vstack([left, right])  # (2, overlap)
        correlations[i] = correlation_of_windows(pair[None, :, :])[0, 0, 1]
    strength = np.where(np.isnan(correlations), -1.0, np.abs(correlations))
    order = np.argsort(np.abs(lags), kind="stable")
    best = int(order[np.argmax(strength[order])])
    return LeadLag(
        lags=lags,
        correlations=correlations,
        best_lag=int(lags[best]),
        best_correlation=float(correlations[best]),
    )
