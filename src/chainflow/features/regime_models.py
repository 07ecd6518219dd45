"""The models behind ``chainflow.features.regimes``: configuration, the trend rule, the
log realized volatility feature and the three-component Gaussian mixture over it.

Everything here is a pure function of its inputs, shared by the streaming detector and its
batch twin so that both compute the same numbers. The method itself is described in the
``chainflow.features.regimes`` module docstring.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError
from chainflow.features.mixture_em import fit_three_components

__all__ = [
    "TREND_COLUMNS",
    "VOLATILITY_COLUMNS",
    "LogRealizedVolatility",
    "MixtureParams",
    "RegimeConfig",
    "TrendRegime",
    "VolatilityRegime",
    "check_bar",
    "fit_mixture",
    "most_probable",
    "nan_to_none",
    "none_to_nan",
    "replay_bars_needed",
    "trend_probabilities",
    "trend_probability_matrix",
]

FloatArray = NDArray[np.float64]
Triple = tuple[float, float, float]


class TrendRegime(StrEnum):
    """Direction of the market: trending up, trending down, or neither."""

    BULL = "bull"
    BEAR = "bear"
    SIDEWAYS = "sideways"


class VolatilityRegime(StrEnum):
    """Level of realized volatility relative to the recent past."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


TREND_COLUMNS: tuple[TrendRegime, ...] = (
    TrendRegime.BULL,
    TrendRegime.BEAR,
    TrendRegime.SIDEWAYS,
)
VOLATILITY_COLUMNS: tuple[VolatilityRegime, ...] = (
    VolatilityRegime.LOW,
    VolatilityRegime.NORMAL,
    VolatilityRegime.HIGH,
)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidFeatureInputError(
            f"expected {name} to be an integer >= {minimum}; received {value!r}"
        )


def _check_positive(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidFeatureInputError(
            f"expected {name} to be a finite number > 0; received {value!r}"
        )


@dataclass(frozen=True, slots=True)
class RegimeConfig:
    """Parameters of regime detection; the defaults suit 5-minute bars.

    Trend: ``adx_period`` (14) and ``atr_period`` (14) are Wilder periods, ``ema_period``
    (50) is the EMA of close whose slope over ``slope_lookback`` (10) bars, in ATRs per bar,
    gives the direction. ``adx_threshold`` (20) is the ADX at which a trend is as likely as
    not, ``adx_width`` (5) how many ADX points move the strength sigmoid by one unit, and
    ``slope_scale`` (5) multiplies the normalized slope inside ``tanh``.

    Volatility: close-to-close realized volatility over ``volatility_period`` (20) bars,
    floored at ``min_volatility`` (1e-10) before the log. The mixture is fitted on the last
    ``fit_window`` (2000) log volatilities strictly before a refit boundary, once at least
    ``min_fit_values`` (500) are there; boundaries fall every ``refit_every_bars`` (288, one
    day of 5-minute bars) timeframes of wall time. ``random_state`` (0) seeds the fit.
    """

    adx_period: int = 14
    atr_period: int = 14
    ema_period: int = 50
    slope_lookback: int = 10
    adx_threshold: float = 20.0
    adx_width: float = 5.0
    slope_scale: float = 5.0
    volatility_period: int = 20
    min_volatility: float = 1e-10
    fit_window: int = 2000
    min_fit_values: int = 500
    refit_every_bars: int = 288
    random_state: int = 0

    def __post_init__(self) -> None:
        for name in ("adx_period", "atr_period", "ema_period", "volatility_period"):
            _check_int(name, getattr(self, name), 2)
        _check_int("slope_lookback", self.slope_lookback, 1)
        _check_int("refit_every_bars", self.refit_every_bars, 1)
        _check_int("random_state", self.random_state, 0)
        _check_int("min_fit_values", self.min_fit_values, 10)
        _check_int("fit_window", self.fit_window, self.min_fit_values)
        for name in ("adx_width", "slope_scale", "min_volatility"):
            _check_positive(name, getattr(self, name))
        t = self.adx_threshold
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0.0 <= t <= 100.0:
            raise InvalidFeatureInputError(
                f"expected adx_threshold to be within [0, 100]; received {t!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-friendly dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ------------------------------------------------------------------------------- trend


def trend_probabilities(adx: float, ema_change: float, atr: float, config: RegimeConfig) -> Triple:
    """Return ``(p_bull, p_bear, p_sideways)`` from ADX, ``EMA_t - EMA_{t-L}`` and ATR."""
    strength = 1.0 / (1.0 + math.exp(-(adx - config.adx_threshold) / config.adx_width))
    if atr > 0.0:
        slope = ema_change / (config.slope_lookback * atr)
        direction = math.tanh(config.slope_scale * slope)
    else:  # flat bars: only the sign of the EMA change is known
        direction = math.copysign(1.0, ema_change) if ema_change != 0.0 else 0.0
    return strength * (1.0 + direction) / 2.0, strength * (1.0 - direction) / 2.0, 1.0 - strength


def trend_probability_matrix(
    adx: FloatArray, ema_change: FloatArray, atr: FloatArray, config: RegimeConfig
) -> FloatArray:
    """Vectorized ``trend_probabilities``: an ``n x 3`` array, NaN rows where inputs are NaN."""
    strength = 1.0 / (1.0 + np.exp(-(adx - config.adx_threshold) / config.adx_width))
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = ema_change / (config.slope_lookback * atr)
    direction = np.where(atr > 0.0, np.tanh(config.slope_scale * slope), np.sign(ema_change))
    out = np.column_stack(
        (strength * (1.0 + direction) / 2.0, strength * (1.0 - direction) / 2.0, 1.0 - strength)
    )
    out[np.isnan(adx) | np.isnan(ema_change) | np.isnan(atr)] = np.nan
    return out


# -------------------------------------------------------------------------- volatility


class LogRealizedVolatility:
    """``log(max(rv, floor))`` where ``rv`` is the RMS of the last ``n`` log returns.

    The value equals ``batch.volatility.rv_close_to_close`` (to ~1e-15 before the log) but
    is computed with ``math.fsum`` over the window, so it depends on the window alone and
    not on where the stream started. The streaming ``RV_CLOSE_TO_CLOSE`` keeps running sums
    whose rounding depends on the start; the mixture fit is an iterative EM whose stopping
    rule could amplify such last-bit differences between a replay and the original run.
    """

    def __init__(self, n: int, floor: float) -> None:
        self.n = n
        self.floor = floor
        self.reset()

    def reset(self) -> None:
        self.squares: deque[float] = deque(maxlen=self.n)
        self.previous_close = math.nan

    def update(self, close: float) -> float:
        """Add a close; return the log volatility, NaN until ``n`` returns are known."""
        previous, self.previous_close = self.previous_close, close
        if math.isnan(previous):
            return math.nan
        r = math.log(close / previous)
        self.squares.append(r * r)
        if len(self.squares) < self.n:
            return math.nan
        return math.log(max(math.sqrt(math.fsum(self.squares) / self.n), self.floor))

    def snapshot(self) -> dict[str, Any]:
        previous = None if math.isnan(self.previous_close) else self.previous_close
        return {"squares": list(self.squares), "previous_close": previous}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.squares = deque(map(float, snapshot["squares"]), maxlen=self.n)
        previous = snapshot["previous_close"]
        self.previous_close = math.nan if previous is None else float(previous)


@dataclass(frozen=True, slots=True)
class MixtureParams:
    """A fitted three-component 1-D Gaussian mixture, components sorted by mean."""

    weights: Triple
    means: Triple
    variances: Triple
    log_scales: Triple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        scales = tuple(
            math.log(w) - 0.5 * math.log(v)
            for w, v in zip(self.weights, self.variances, strict=True)
        )
        object.__setattr__(self, "log_scales", scales)

    def posterior(self, x: float) -> Triple:
        """Return the component probabilities of ``x`` (low, normal, high).

        ``x`` is first clamped to ``[means[0], means[2]]`` so that an extreme value is never
        given to a wider middle component (the Gaussian-mixture tail inversion).
        """
        m = self.means
        x = min(max(x, m[0]), m[2])
        a0, a1, a2 = (
            s - (x - mu) * (x - mu) / (2.0 * v)
            for s, mu, v in zip(self.log_scales, m, self.variances, strict=True)
        )
        top = max(a0, a1, a2)
        e0, e1, e2 = math.exp(a0 - top), math.exp(a1 - top), math.exp(a2 - top)
        total = e0 + e1 + e2
        return e0 / total, e1 / total, e2 / total

    def posterior_matrix(self, x: FloatArray) -> FloatArray:
        """Vectorized ``posterior``: an ``n x 3`` array (NaN rows where ``x`` is NaN)."""
        xc = np.clip(x, self.means[0], self.means[2])[:, None]
        mu = np.asarray(self.means)[None, :]
        a = np.asarray(self.log_scales)[None, :] - (xc - mu) ** 2 / (
            2.0 * np.asarray(self.variances)[None, :]
        )
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict[str, list[float]]:
        """Return the parameters as JSON-friendly lists."""
        return {
            "weights": list(self.weights),
            "means": list(self.means),
            "variances": list(self.variances),
        }

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> MixtureParams:
        """Rebuild from ``to_dict()`` output."""
        try:
            return cls(_triple(data["weights"]), _triple(data["means"]), _triple(data["variances"]))
        except (KeyError, TypeError, ValueError) as e:
            raise FeatureStateMismatchError(
                f"expected three mixture components; received {data!r}"
            ) from e


def fit_mixture(values: FloatArray, random_state: int = 0) -> MixtureParams | None:
    """Fit a three-component Gaussian mixture to 1-D ``values``; ``None`` if they hold
    fewer than three distinct values (no three components to find).

    Compiled EM (``mixture_em``), deterministic: ``random_state`` is accepted for
    compatibility with configurations and snapshots that carry it, and changes nothing.
    """
    del random_state
    data = np.asarray(values, dtype=np.float64).ravel()
    if np.unique(data).size < 3:
        return None
    weights, means, variances = fit_three_components(data)
    return MixtureParams(weights, means, variances)


def _triple(values: Any) -> Triple:
    first, second, third = (float(x) for x in values)
    return first, second, third


# ----------------------------------------------------------- shared by stream and batch

_SETTLE_TOLERANCE = 1e-13  # relative weight of the seed left in a recursive smoother


def _settle_bars(keep: float) -> int:
    """Bars after which a smoother keeping ``keep`` of its state forgets its seed."""
    return math.ceil(math.log(_SETTLE_TOLERANCE) / math.log(keep))


def replay_bars_needed(config: RegimeConfig) -> int:
    """Return how many bars a fresh detector must replay to reach the state of one that
    saw the whole history (fits identical, smoothed values to ~1e-12).

    The volatility part needs the returns of a full fit window before the latest refit
    boundary, which lies at most ``refit_every_bars`` bars back (one bar per timeframe);
    the trend part needs its EMA and Wilder smoothers to forget their seeds.
    """
    c = config
    volatility = c.volatility_period + c.fit_window + c.refit_every_bars + 1
    trend = max(
        c.ema_period + c.slope_lookback + _settle_bars(1.0 - 2.0 / (c.ema_period + 1)),
        2 * c.adx_period + 2 * _settle_bars(1.0 - 1.0 / c.adx_period),
        c.atr_period + 1 + _settle_bars(1.0 - 1.0 / c.atr_period),
    )
    return max(volatility, trend)


def most_probable(p: Triple) -> int:
    """Return the index of the largest probability (the first one on ties, as ``argmax``)."""
    best = 0
    if p[1] > p[best]:
        best = 1
    if p[2] > p[best]:
        best = 2
    return best


def check_bar(ts: int, high: float, low: float, close: float) -> None:
    """Raise ``ValueError`` unless the bar is finite with ``close > 0`` and ``low <= high``."""
    if not (math.isfinite(high) and math.isfinite(low) and math.isfinite(close)):
        raise InvalidFeatureInputError(
            f"expected finite high, low and close; received {high!r}, {low!r}, {close!r}"
        )
    if close <= 0.0 or low > high:
        raise InvalidFeatureInputError(
            f"expected close > 0 and low <= high at ts {ts}; "
            f"received high {high!r}, low {low!r}, close {close!r}"
        )


def nan_to_none(data: Any) -> Any:
    """Return ``data`` (nested dicts and lists) with every NaN float replaced by ``None``."""
    if isinstance(data, float) and math.isnan(data):
        return None
    if isinstance(data, dict):
        return {k: nan_to_none(v) for k, v in data.items()}
    if isinstance(data, list):
        return [nan_to_none(v) for v in data]
    return data


def none_to_nan(data: Any) -> Any:
    """Undo ``nan_to_none`` on nested dicts of numbers."""
    if data is None:
        return math.nan
    if isinstance(data, dict):
        return {k: none_to_nan(v) for k, v in data.items()}
    return data
