"""Candlestick patterns on closed OHLC bars: vectorized NumPy detectors, no lookahead.

Every detector returns an array of length ``n`` aligned with the bars; a pattern at ``t`` is
the pattern *completed* by bar ``t`` and uses bars ``<= t`` only. Two-sided patterns return
``int8`` (+1 bullish, -1 bearish, 0 none); one-sided ones return ``bool``.

Measures (per bar): ``body = |close - open|``, ``range = high - low``,
``upper = high - max(open, close)``, ``lower = min(open, close) - low``. Scale-free
references are means over the ``period`` (10) bars *before* a candle, that candle excluded
(TA-Lib's candle averages): ``avg_body`` and ``avg_range``. Where the reference is not yet
defined (the first ``period`` bars) the pattern is not reported. A candle is bullish when
``close > open`` and bearish when ``close < open`` (a zero body has no colour).

Rules and thresholds (defaults):

- ``doji``: ``body <= 0.1 * avg_range`` (TA-Lib ``CDLDOJI``).
- ``hammer`` (shape): ``range > 0``, ``body <= 0.3 * range``, ``lower >= 2 * body``,
  ``upper <= 0.1 * range``. +1 (hammer) after a downtrend, -1 (hanging man) after an
  uptrend; the trend is read at the bar before the candle (``trend[t - 1]``).
- ``shooting_star`` (shape, the mirror): ``range > 0``, ``body <= 0.3 * range``,
  ``upper >= 2 * body``, ``lower <= 0.1 * range``. -1 (shooting star) after an uptrend,
  +1 (inverted hammer) after a downtrend.
- ``engulfing``: candle ``t - 1`` has a colour, candle ``t`` the opposite one and its body
  covers the previous body: ``max(o, c)[t] >= max(o, c)[t-1]`` and
  ``min(o, c)[t] <= min(o, c)[t-1]``, not both equal. Sign = colour of ``t``
  (TA-Lib ``CDLENGULFING`` except that TA-Lib also accepts a zero-body first candle as white).
- ``harami``: candle ``t - 1`` long (``body > avg_body`` of its own 10 prior bars) and
  coloured, candle ``t`` short (``body <= avg_body``), its body inside the previous body
  (``max <= max`` and ``min >= min``, not both equal). Sign = opposite of the colour of
  ``t - 1`` (TA-Lib ``CDLHARAMI``).
- ``morning_evening_star`` (+1 morning, -1 evening), on candles ``t-2, t-1, t``: the first
  long (``body > avg_body``) and bearish; the star's body ``<= 0.3 *`` the first body and its
  top ``<= close[t-2] + 0.1 * body[t-2]`` (no real-body gap required: FX bars open at the
  previous close); the third bullish with a body larger than the star's and a close
  ``>= close[t-2] + 0.5 * body[t-2]`` (back past the first body's midpoint). Evening star
  mirrored. TA-Lib ``CDLMORNINGSTAR`` differs: it needs a real-body gap.
- ``three_soldiers_crows`` (+1 three white soldiers, -1 three black crows), candles
  ``t-2, t-1, t``: all bullish, each long (``body > avg_body``), each closing near its high
  (``upper <= 0.25 * body``), closes rising, and candles 2 and 3 opening inside the previous
  body (``open[t-1] <= open[t] <= close[t-1]``). Crows mirrored.

Trend context: ``trend_direction(close, 10)`` is +1 where the close is above its SMA(10)
(the current close included), -1 below, 0 on equality and during warm-up; callers may pass
their own ``trend`` array (any sign-valued array aligned with the bars).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from chainflow.ml.errors import InvalidMlInputError

__all__ = [
    "detect_candlesticks",
    "doji",
    "engulfing",
    "hammer",
    "harami",
    "morning_evening_star",
    "shooting_star",
    "three_soldiers_crows",
    "trend_direction",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
SignArray = NDArray[np.int8]

DEFAULT_PERIOD = 10


def _as_ohlc(
    open: ArrayLike, high: ArrayLike, low: ArrayLike, close: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    arrays = tuple(np.asarray(x, dtype=np.float64) for x in (open, high, low, close))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 1:
        raise InvalidMlInputError(
            f"expected four one-dimensional arrays of equal length; received shapes "
            f"{[a.shape for a in arrays]}"
        )
    return arrays  # type: ignore[return-value]


def _prior_mean(x: FloatArray, period: int) -> FloatArray:
    """``out[t] = mean(x[t - period : t])`` (bar ``t`` excluded); ``nan`` for ``t < period``."""
    if period < 1:
        raise InvalidMlInputError(f"expected a period >= 1; received {period}")
    out = np.full(x.shape, np.nan)
    if x.size > period:
        out[period:] = sliding_window_view(x[:-1], period).mean(axis=1)
    return out


def _shift(x: NDArray, lag: int, fill: object) -> NDArray:
    """``out[t] = x[t - lag]``; ``fill`` for the first ``lag`` positions."""
    out = np.empty_like(x)
    out[:lag] = fill
    out[lag:] = x[: x.size - lag] if lag else x
    return out


def _sign(bullish: BoolArray, bearish: BoolArray) -> SignArray:
    return bullish.astype(np.int8) - bearish.astype(np.int8)


def trend_direction(close: ArrayLike, period: int = DEFAULT_PERIOD) -> SignArray:
    """+1 where ``close > SMA(period)`` (current close included), -1 below, 0 otherwise."""
    c = np.asarray(close, dtype=np.float64)
    if period < 1:
        raise InvalidMlInputError(f"expected a period >= 1; received {period}")
    out = np.zeros(c.shape, dtype=np.int8)
    if c.size >= period:
        sma = sliding_window_view(c, period).mean(axis=1)
        out[period - 1 :] = np.sign(c[period - 1 :] - sma).astype(np.int8)
    return out


def _trend_before(close: FloatArray, trend: ArrayLike | None, lag: int) -> SignArray:
    sign = trend_direction(close) if trend is None else np.sign(np.asarray(trend)).astype(np.int8)
    if sign.shape != close.shape:
        raise InvalidMlInputError(f"expected trend of shape {close.shape}; received {sign.shape}")
    return _shift(sign, lag, 0)


def doji(
    open: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    body_fraction: float = 0.1,
    period: int = DEFAULT_PERIOD,
) -> BoolArray:
    """Doji: ``body <= body_fraction * mean range of the previous ``period`` bars``."""
    o, h, lo, c = _as_ohlc(open, high, low, close)
    avg_range = _prior_mean(h - lo, period)
    with np.errstate(invalid="ignore"):
        return np.abs(c - o) <= body_fraction * avg_range


def _small_body_long_shadow(
    body: FloatArray, rng: FloatArray, long_shadow: FloatArray, short_shadow: FloatArray
) -> BoolArray:
    return (
        (rng > 0) & (body <= 0.3 * rng) & (long_shadow >= 2.0 * body) & (short_shadow <= 0.1 * rng)
    )


def hammer(
    open: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    trend: ArrayLike | None = None,
) -> SignArray:
    """+1 hammer (after a downtrend), -1 hanging man (after an uptrend); same shape."""
    o, h, lo, c = _as_ohlc(open, high, low, close)
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    shape = _small_body_long_shadow(np.abs(c - o), h - lo, bottom - lo, h - top)
    before = _trend_before(c, trend, 1)
    return _sign(shape & (before < 0), shape & (before > 0))


def shooting_star(
    open: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    trend: ArrayLike | None = None,
) -> SignArray:
    """-1 shooting star (after an uptrend), +1 inverted hammer (after a downtrend)."""
    o, h, lo, c = _as_ohlc(open, high, low, close)
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    shape = _small_body_long_shadow(np.abs(c - o), h - lo, h - top, bottom - lo)
    before = _trend_before(c, trend, 1)
    return _sign(shape & (before < 0), shape & (before > 0))


def engulfing(open: ArrayLike, high: ArrayLike, low: ArrayLike, close: ArrayLike) -> SignArray:
    """+1 bullish / -1 bearish engulfing: an opposite-colour body covering the previous one."""
    o, _, _, c = _as_ohlc(open, high, low, close)
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    prev_top, prev_bottom = _shift(top, 1, np.nan), _shift(bottom, 1, np.nan)
    colour = np.sign(c - o)
    prev_colour = _shift(colour, 1, 0.0)
    with np.errstate(invalid="ignore"):
        covers = (top >= prev_top) & (bottom <= prev_bottom)
        covers &= (top > prev_top) | (bottom < prev_bottom)
    bullish = covers & (colour > 0) & (prev_colour < 0)
    bearish = covers & (colour < 0) & (prev_colour > 0)
    return _sign(bullish, bearish)


def harami(
    open: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    period: int = DEFAULT_PERIOD,
) -> SignArray:
    """+1 bullish / -1 bearish harami: a short body inside the previous long body."""
    o, _, _, c = _as_ohlc(open, high, low, close)
    body = np.abs(c - o)
    avg_body = _prior_mean(body, period)
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    prev_top, prev_bottom = _shift(top, 1, np.nan), _shift(bottom, 1, np.nan)
    prev_colour = _shift(np.sign(c - o), 1, 0.0)
    with np.errstate(invalid="ignore"):
        first_long = _shift(body > avg_body, 1, False)
        second_short = body <= avg_body
        inside = (top <= prev_top) & (bottom >= prev_bottom)
        inside &= (top < prev_top) | (bottom > prev_bottom)
    found = first_long & second_short & inside
    return _sign(found & (prev_colour < 0), found & (prev_colour > 0))


def morning_evening_star(
    open: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    period: int = DEFAULT_PERIOD,
) -> SignArray:
    """+1 morning star / -1 evening star, completed by the third candle at ``t``."""
    o, _, _, c = _as_ohlc(open, high, low, close)
    body = np.abs(c - o)
    with np.errstate(invalid="ignore"):
        long_body = body > _prior_mean(body, period)
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    o1, c1, b1 = _shift(o, 2, np.nan), _shift(c, 2, np.nan), _shift(body, 2, np.nan)
    long1 = _shift(long_body, 2, False)
    b2, top2, bottom2 = _shift(body, 1, np.nan), _shift(top, 1, np.nan), _shift(bottom, 1, np.nan)
    with np.errstate(invalid="ignore"):
        star_small = b2 <= 0.3 * b1
        third_larger = body > b2
        morning = (
            long1
            & (c1 < o1)
            & star_small
            & (top2 <= c1 + 0.1 * b1)
            & (c > o)
            & third_larger
            & (c >= c1 + 0.5 * b1)
        )
        evening = (
            long1
            & (c1 > o1)
            & star_small
            & (bottom2 >= c1 - 0.1 * b1)
            & (c < o)
            & third_larger
            & (c <= c1 - 0.5 * b1)
        )
    return _sign(morning, evening)


def three_soldiers_crows(
    open: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    period: int = DEFAULT_PERIOD,
) -> SignArray:
    """+1 three white soldiers / -1 three black crows, completed by the third candle at ``t``."""
    o, h, lo, c = _as_ohlc(open, high, low, close)
    body = np.abs(c - o)
    with np.errstate(invalid="ignore"):
        long_body = body > _prior_mean(body, period)
    prev_o, prev_c = _shift(o, 1, np.nan), _shift(c, 1, np.nan)
    with np.errstate(invalid="ignore"):
        soldier = long_body & (c > o) & (h - c <= 0.25 * body)
        crow = long_body & (c < o) & (c - lo <= 0.25 * body)
        # step[t]: candle t continues the run started by candle t - 1.
        soldier_step = soldier & _shift(soldier, 1, False) & (c > prev_c)
        soldier_step &= (o >= prev_o) & (o <= prev_c)
        crow_step = crow & _shift(crow, 1, False) & (c < prev_c)
        crow_step &= (o <= prev_o) & (o >= prev_c)
    soldiers = soldier_step & _shift(soldier_step, 1, False)
    crows = crow_step & _shift(crow_step, 1, False)
    return _sign(soldiers, crows)


def detect_candlesticks(
    open: ArrayLike, high: ArrayLike, low: ArrayLike, close: ArrayLike
) -> dict[str, NDArray]:
    """All detectors with their defaults (trend from ``trend_direction(close, 10)``)."""
    o, h, lo, c = _as_ohlc(open, high, low, close)
    trend = trend_direction(c)
    return {
        "doji": doji(o, h, lo, c),
        "hammer": hammer(o, h, lo, c, trend),
        "shooting_star": shooting_star(o, h, lo, c, trend),
        "engulfing": engulfing(o, h, lo, c),
        "harami": harami(o, h, lo, c),
        "morning_evening_star": morning_evening_star(o, h, lo, c),
        "three_soldiers_crows": three_soldiers_crows(o, h, lo, c),
    }
