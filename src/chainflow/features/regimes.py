"""Market regime detection per symbol and timeframe, with probabilities and no lookahead.

Each bar gets a *trend* regime (bull, bear, sideways) and a *volatility* regime (low,
normal, high), each with probabilities that sum to 1; the label is the most probable one
(ties go to the first in that order). ``RegimeDetector`` is the streaming form (O(1) per
bar except at refit boundaries) and ``detect_regimes`` its batch twin (same values to
relative 1e-9, same ``None``/NaN positions).

Trend is a rule on ADX and the slope of an EMA of close. The strength
``s = sigmoid((ADX - adx_threshold) / adx_width)`` is the probability that the market trends
at all; the direction ``d = tanh(slope_scale * slope)`` uses the EMA slope in ATRs per bar,
``slope = (EMA_t - EMA_{t-L}) / (L * ATR_t)``. Then ``p_bull = s (1 + d) / 2``,
``p_bear = s (1 - d) / 2`` and ``p_sideways = 1 - s``. Defaults: ADX 14, ATR 14, EMA 50,
``L = 10``, threshold 20, width 5, scale 5. Where ATR is 0 (flat bars) ``d`` is the sign of
the EMA change. The trend is ``None`` with NaN probabilities until ADX, ATR and the EMA
``L`` bars back all exist (``ema_period + slope_lookback`` bars with the defaults).

Volatility is the close-to-close realized volatility (RMS of the last 20 log returns, per
bar), classified by a three-component 1-D Gaussian mixture on its logarithm, fitted with
scikit-learn on past values only. Refits follow a schedule aligned to wall time, not to the
number of updates: a bar whose boundary index ``ts // (refit_every_bars * timeframe_ms)``
exceeds the previous bar's triggers a refit on the last ``fit_window`` log volatilities of
the bars *strictly before* it, once at least ``min_fit_values`` exist; the bar itself is
then classified under the new fit. The components, sorted by mean, are low, normal and
high; the probabilities of a bar are the posterior under the current fit, computed in plain
Python from the fitted weights, means and variances, with the value clamped to the range of
the component means so that an extreme value never falls to a wider middle component. The
volatility regime is ``None`` with NaN probabilities before the first fit. Because fits
depend only on time and on past bars, a detector rebuilt after a restart by replaying the
last ``replay_bars_needed`` stored bars reaches the same fits, and hence the same states,
as one that saw the whole history (bars are assumed one per timeframe, gaps allowed).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.features.batch.averages import ema
from chainflow.features.batch.trend import adx
from chainflow.features.batch.volatility import atr
from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError
from chainflow.features.marked_fifo import FifoWindow
from chainflow.features.regime_models import (
    TREND_COLUMNS,
    VOLATILITY_COLUMNS,
    FloatArray,
    LogRealizedVolatility,
    MixtureParams,
    RegimeConfig,
    TrendRegime,
    VolatilityRegime,
    check_bar,
    fit_mixture,
    most_probable,
    nan_to_none,
    none_to_nan,
    replay_bars_needed,
    trend_probabilities,
    trend_probability_matrix,
)
from chainflow.features.stream.averages import EMA
from chainflow.features.stream.trend import ADX
from chainflow.features.stream.volatility import ATR

__all__ = [
    "TREND_COLUMNS",
    "VOLATILITY_COLUMNS",
    "MixtureParams",
    "RegimeChange",
    "RegimeConfig",
    "RegimeDetector",
    "RegimeFrame",
    "RegimeState",
    "TrendRegime",
    "VolatilityRegime",
    "detect_regimes",
    "regime_changes",
]

_NAN3 = (math.nan, math.nan, math.nan)


@dataclass(frozen=True, slots=True)
class RegimeState:
    """The regimes of one bar; probabilities are keyed by the regime names."""

    ts: int
    trend: TrendRegime | None
    trend_probabilities: dict[str, float]
    volatility: VolatilityRegime | None
    volatility_probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (enums as strings, NaN as ``None``)."""
        return {
            "ts": self.ts,
            "trend": None if self.trend is None else self.trend.value,
            "trend_probabilities": nan_to_none(self.trend_probabilities),
            "volatility": None if self.volatility is None else self.volatility.value,
            "volatility_probabilities": nan_to_none(self.volatility_probabilities),
        }


class RegimeChange(NamedTuple):
    """One regime dimension (``"trend"`` or ``"volatility"``) that changed label."""

    dimension: str
    previous: str | None
    current: str


def regime_changes(previous: RegimeState | None, current: RegimeState) -> list[RegimeChange]:
    """Return the dimensions whose label differs between ``previous`` and ``current``.

    A dimension whose current label is ``None`` (warm-up) is never reported; with no
    previous state every known current label counts as a change from ``None``.
    """
    changes = []
    pairs = (
        ("trend", None if previous is None else previous.trend, current.trend),
        ("volatility", None if previous is None else previous.volatility, current.volatility),
    )
    for dimension, before, after in pairs:
        if after is not None and before != after:
            changes.append(
                RegimeChange(dimension, None if before is None else before.value, after.value)
            )
    return changes


class RegimeDetector:
    """Streaming regime detection for one symbol and timeframe.

    ``update`` returns a ``RegimeState`` for every bar; during warm-up its trend and/or
    volatility are ``None`` with NaN probabilities (see the module docstring).
    """

    def __init__(self, config: RegimeConfig, timeframe_ms: int) -> None:
        if isinstance(timeframe_ms, bool) or not isinstance(timeframe_ms, int) or timeframe_ms < 1:
            raise ValueError(
                f"expected timeframe_ms to be an integer >= 1; received {timeframe_ms!r}"
            )
        self.config = config
        self.timeframe_ms = timeframe_ms
        self.refit_period_ms = config.refit_every_bars * timeframe_ms
        self.reset()

    def reset(self) -> None:
        """Forget everything, as if newly made with the same parameters."""
        c = self.config
        self.count = 0
        self.last_ts: int | None = None
        self._refit_period_index: int | None = None
        self._ema = EMA(c.ema_period)
        self._adx = ADX(c.adx_period)
        self._atr = ATR(c.atr_period)
        self._ema_history: deque[float] = deque(maxlen=c.slope_lookback + 1)
        self._log_volatility = LogRealizedVolatility(c.volatility_period, c.min_volatility)
        self._fit_values = FifoWindow(c.fit_window)  # marked by a pipeline's checkpoint
        self._mixture: MixtureParams | None = None

    @property
    def replay_bars_needed(self) -> int:
        """Bars a fresh detector must replay to reach this one's state (to ~1e-12).

        The volatility part needs the returns of a full fit window before the latest refit
        boundary, which lies at most ``refit_every_bars`` back; the trend part needs its
        EMA and Wilder smoothers to forget their seeds.
        """
        return replay_bars_needed(self.config)

    def windows(self) -> tuple[FifoWindow, ...]:
        """The windows a checkpoint marks instead of copying (``SymbolPipeline``)."""
        return (self._fit_values,)

    @property
    def mixture(self) -> MixtureParams | None:
        """The current volatility mixture fit, ``None`` before the first one."""
        return self._mixture

    def update(self, ts: int, high: float, low: float, close: float) -> RegimeState:
        """Add a closed bar (``ts`` in epoch ms, strictly increasing); return its regimes."""
        ts, high, low, close = int(ts), float(high), float(low), float(close)
        if self.last_ts is not None and ts <= self.last_ts:
            raise InvalidFeatureInputError(
                f"expected ts greater than the previous bar's {self.last_ts}; received {ts}"
            )
        check_bar(ts, high, low, close)
        self.count += 1
        self.last_ts = ts
        adx_value = self._adx.update_bar(high, low, close)
        atr_value = self._atr.update_bar(high, low, close)
        self._ema.update(close)
        if self._ema.is_ready:
            self._ema_history.append(self._ema.value)
        trend: TrendRegime | None = None
        trend_p = _NAN3
        if (
            self._adx.is_ready
            and self._atr.is_ready
            and len(self._ema_history) == self.config.slope_lookback + 1
        ):
            change = self._ema_history[-1] - self._ema_history[0]
            trend_p = trend_probabilities(adx_value, change, atr_value, self.config)
            trend = TREND_COLUMNS[most_probable(trend_p)]

        log_volatility = self._log_volatility.update(close)
        period_index = ts // self.refit_period_ms
        if self._refit_period_index is not None and period_index > self._refit_period_index:
            self._refit()
        self._refit_period_index = period_index
        volatility: VolatilityRegime | None = None
        volatility_p = _NAN3
        if not math.isnan(log_volatility):
            self._fit_values.append(log_volatility)
            if self._mixture is not None:
                volatility_p = self._mixture.posterior(log_volatility)
                volatility = VOLATILITY_COLUMNS[most_probable(volatility_p)]
        return RegimeState(
            ts,
            trend,
            dict(zip(TREND_COLUMNS, trend_p, strict=True)),
            volatility,
            dict(zip(VOLATILITY_COLUMNS, volatility_p, strict=True)),
        )

    def _refit(self) -> None:
        if len(self._fit_values) >= self.config.min_fit_values:
            values = np.fromiter(self._fit_values, np.float64, len(self._fit_values))
            fitted = fit_mixture(values, self.config.random_state)
            if fitted is not None:
                self._mixture = fitted

    def snapshot(self) -> dict[str, Any]:
        """Return the whole state as strict JSON data (no NaN)."""
        return {
            "kind": "RegimeDetector",
            "config": self.config.to_dict(),
            "timeframe_ms": self.timeframe_ms,
            "count": self.count,
            "last_ts": self.last_ts,
            "refit_period_index": self._refit_period_index,
            "ema": self._ema.snapshot(),
            "adx": nan_to_none(self._adx.snapshot()),
            "atr": nan_to_none(self._atr.snapshot()),
            "ema_history": list(self._ema_history),
            "log_volatility": self._log_volatility.snapshot(),
            "fit_values": list(self._fit_values),
            "mixture": None if self._mixture is None else self._mixture.to_dict(),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from a ``snapshot()`` of a detector with the same config and timeframe."""
        expected = {"config": self.config.to_dict(), "timeframe_ms": self.timeframe_ms}
        received = {k: snapshot.get(k) for k in expected}
        if snapshot.get("kind") != "RegimeDetector" or received != expected:
            raise FeatureStateMismatchError(
                f"expected a RegimeDetector snapshot made with {expected}; received {received}"
            )
        self.reset()
        self.count = int(snapshot["count"])
        self.last_ts = snapshot["last_ts"]
        self._refit_period_index = snapshot["refit_period_index"]
        self._ema.restore(snapshot["ema"])
        self._adx.restore(none_to_nan(snapshot["adx"]))
        self._atr.restore(none_to_nan(snapshot["atr"]))
        self._ema_history.extend(map(float, snapshot["ema_history"]))
        self._log_volatility.restore(snapshot["log_volatility"])
        self._fit_values.extend(map(float, snapshot["fit_values"]))
        mixture = snapshot["mixture"]
        self._mixture = None if mixture is None else MixtureParams.from_dict(mixture)


# ------------------------------------------------------------------------------- batch


@dataclass(frozen=True, slots=True)
class RegimeFrame:
    """Regimes of a bar series: labels as object arrays (enum or ``None``), probabilities
    as ``n x 3`` arrays with columns ``TREND_COLUMNS`` / ``VOLATILITY_COLUMNS``."""

    ts: NDArray[np.int64]
    trend: NDArray[np.object_]
    trend_probabilities: FloatArray
    volatility: NDArray[np.object_]
    volatility_probabilities: FloatArray

    def __len__(self) -> int:
        return int(self.ts.size)

    def state(self, i: int) -> RegimeState:
        """Return bar ``i`` as the ``RegimeState`` the streaming detector gives."""
        return RegimeState(
            int(self.ts[i]),
            self.trend[i],
            dict(zip(TREND_COLUMNS, self.trend_probabilities[i].tolist(), strict=True)),
            self.volatility[i],
            dict(zip(VOLATILITY_COLUMNS, self.volatility_probabilities[i].tolist(), strict=True)),
        )


def _labels(probabilities: FloatArray, names: tuple[Any, ...]) -> NDArray[np.object_]:
    out = np.full(probabilities.shape[0], None, dtype=object)
    known: NDArray[np.bool_] = ~np.any(np.isnan(probabilities), axis=1)
    codes = np.argmax(np.where(known[:, None], probabilities, 0.0), axis=1)
    table = np.array(list(names), dtype=object)
    out[known] = table[codes[known]]
    return out


def _check_series(
    ts: ArrayLike, high: ArrayLike, low: ArrayLike, close: ArrayLike
) -> tuple[NDArray[np.int64], FloatArray, FloatArray, FloatArray]:
    t = np.asarray(ts, dtype=np.int64)
    h, lo, c = (np.asarray(x, dtype=np.float64) for x in (high, low, close))
    shapes = [x.shape for x in (t, h, lo, c)]
    if t.ndim != 1 or any(s != t.shape for s in shapes):
        raise InvalidFeatureInputError(
            f"expected four 1-D arrays of one length; received shapes {shapes}"
        )
    steps = np.diff(t)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        raise InvalidFeatureInputError(
            f"expected strictly increasing ts; received {int(t[i])} after {int(t[i - 1])} "
            f"at index {i}"
        )
    bad = ~(np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)) | (c <= 0.0) | (lo > h)
    if bad.any():
        i = int(np.argmax(bad))
        check_bar(int(t[i]), float(h[i]), float(lo[i]), float(c[i]))
    return t, h, lo, c


def detect_regimes(
    ts: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    *,
    config: RegimeConfig,
    timeframe_ms: int,
) -> RegimeFrame:
    """Return the regimes of every bar, equal to feeding ``RegimeDetector`` bar by bar."""
    RegimeDetector(config, timeframe_ms)  # validates timeframe_ms the same way
    t, h, lo, c = _check_series(ts, high, low, close)
    n = t.size
    lookback = config.slope_lookback
    ema_values = ema(c, config.ema_period)
    ema_change = np.full(n, np.nan)
    ema_change[lookback:] = ema_values[lookback:] - ema_values[:-lookback]
    trend_p = trend_probability_matrix(
        adx(h, lo, c, config.adx_period), ema_change, atr(h, lo, c, config.atr_period), config
    )

    feature = LogRealizedVolatility(config.volatility_period, config.min_volatility)
    log_volatility = np.array([feature.update(x) for x in c.tolist()], dtype=np.float64)
    volatility_p = np.full((n, 3), np.nan)
    period_indexes = t // (config.refit_every_bars * timeframe_ms)
    starts = [0, *(np.flatnonzero(period_indexes[1:] > period_indexes[:-1]) + 1).tolist(), n]
    mixture: MixtureParams | None = None
    first_value = config.volatility_period  # index of the first log volatility
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        if a > 0:
            values = log_volatility[max(first_value, a - config.fit_window) : a]
            if values.size >= config.min_fit_values:
                mixture = fit_mixture(values, config.random_state) or mixture
        if mixture is not None and b > a:
            volatility_p[a:b] = mixture.posterior_matrix(log_volatility[a:b])
    return RegimeFrame(
        t,
        _labels(trend_p, TREND_COLUMNS),
        trend_p,
        _labels(volatility_p, VOLATILITY_COLUMNS),
        volatility_p,
    )
