"""Chart patterns on closed bars: swing points, double tops/bottoms, head and shoulders,
triangles, support/resistance levels. NumPy only, no lookahead.

Timing rules (every index is a bar index):

- A swing high at ``i`` has ``high[i] > high[j]`` for the ``k`` bars before and
  ``high[i] >= high[j]`` for the ``k`` bars after (swing lows mirrored, ties go to the
  earlier bar); two swing points of one kind are more than ``k`` bars apart. It is *known*
  only at ``i + k`` (``SwingPoint.confirmed_index``).
- A pattern's ``end_index`` is the bar that completes it (the neckline or line break), never
  before its last swing point is confirmed; a pattern with ``end_index <= t`` is computed
  from bars ``<= t`` only (cutting or changing later bars cannot change it).
- Price tolerances are in units of the Wilder ATR (``atr_period`` 14, TA-Lib convention)
  read at the last swing point of the pattern (or at ``t`` for levels).

Rules (fields of ``ChartPatternSettings``, defaults in brackets):

- Double top: swing highs ``P1, P2`` at most ``double_max_span`` [100] bars apart, no bar
  between them above ``min(P1, P2)``, ``|P1 - P2| <= double_tolerance_atr`` [0.5] ATR;
  neckline = lowest low between them, ``>= double_min_depth_atr`` [1.0] ATR below
  ``min(P1, P2)``. Confirmed at the first close below the neckline after ``P2`` (reported no
  earlier than ``P2``'s confirmation) within ``max_wait`` [50] bars and before any high above
  ``max(P1, P2)``. The nearest qualifying ``P1`` is used. Double bottom mirrored.
- Head and shoulders: consecutive swing highs ``L, H, R`` within ``shoulders_max_span``
  [150] bars; ``H`` ``>= head_margin_atr`` [0.5] ATR above both shoulders, shoulders within
  ``shoulders_tolerance_atr`` [1.0] ATR of each other and ``>= shoulders_min_depth_atr``
  [0.5] ATR above the higher trough; neckline through the lowest lows between ``L, H`` and
  ``H, R``. Confirmed at the first close below the extended neckline after ``R`` (as above),
  before any high above ``H``. Inverse mirrored.
- Triangles: when a swing point is confirmed, the last ``triangle_points`` [3] (>= 2) swing
  highs and lows within ``triangle_lookback`` [100] bars and after the previous triangle's
  break get least-squares lines. A line is flat when it moves ``<= triangle_flat_atr`` [0.5]
  ATR over the fitted span, rising/falling beyond; each swing point lies within
  ``triangle_fit_atr`` [0.5] ATR of its line. Ascending = flat highs + rising lows,
  descending = falling highs + flat lows, symmetrical = falling highs + rising lows; the gap
  must shrink by >= 20% over the span and stay positive, and the close must be inside.
  Confirmed at the first close outside the lines (+1 up, -1 down) within ``max_wait`` bars,
  unless a newer swing point redraws or dissolves the triangle.
- Levels as of ``t``: swing prices confirmed by ``t`` (within ``lookback`` bars if given),
  sorted and grouped while within ``level_tolerance_atr`` [0.5] ATR of the group's lowest
  price; ``>= level_min_touches`` [2] points make a ``Level`` at their mean price,
  ``support`` below ``close[t]``, ``resistance`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from chainflow.features.batch.volatility import atr as wilder_atr
from chainflow.ml.errors import InvalidMlInputError

__all__ = [
    "ChartPattern",
    "ChartPatternSettings",
    "Level",
    "SwingPoint",
    "detect_chart_patterns",
    "double_tops_bottoms",
    "head_and_shoulders",
    "support_resistance",
    "swing_points",
    "triangles",
]

FloatArray = NDArray[np.float64]
PriceArrays = tuple[FloatArray, FloatArray, FloatArray]  # high, low, close
Line = tuple[float, float]  # (intercept, slope): price = intercept + slope * bar index
SwingKind = Literal["high", "low"]


@dataclass(frozen=True, slots=True)
class ChartPatternSettings:
    k: int = 3
    atr_period: int = 14
    max_wait: int = 50
    double_tolerance_atr: float = 0.5
    double_min_depth_atr: float = 1.0
    double_max_span: int = 100
    head_margin_atr: float = 0.5
    shoulders_tolerance_atr: float = 1.0
    shoulders_min_depth_atr: float = 0.5
    shoulders_max_span: int = 150
    triangle_points: int = 3
    triangle_flat_atr: float = 0.5
    triangle_fit_atr: float = 0.5
    triangle_lookback: int = 100
    level_tolerance_atr: float = 0.5
    level_min_touches: int = 2

    def __post_init__(self) -> None:
        if self.k < 1 or self.atr_period < 1 or self.max_wait < 1:
            raise InvalidMlInputError(f"expected k, atr_period, max_wait >= 1; received {self}")
        if self.triangle_points < 2:
            raise InvalidMlInputError(
                f"expected triangle_points >= 2; received {self.triangle_points}"
            )


DEFAULT_SETTINGS = ChartPatternSettings()


@dataclass(frozen=True, slots=True)
class SwingPoint:
    index: int
    confirmed_index: int
    price: float
    kind: SwingKind


@dataclass(frozen=True, slots=True)
class ChartPattern:
    """``levels`` by kind: double top/bottom ``first``, ``second``, ``neckline``; head and
    shoulders ``left_shoulder``, ``head``, ``right_shoulder``, ``neckline`` (at
    ``end_index``); triangles ``upper``, ``lower`` (at ``end_index``)."""

    kind: str
    start_index: int
    end_index: int
    direction: int
    levels: dict[str, float] = field(default_factory=dict)
    swing_indices: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Level:
    price: float
    touches: int
    last_touch_index: int
    kind: Literal["support", "resistance"]


def _level_kind(price: float, close: float) -> Literal["support", "resistance"]:
    return "support" if price < close else "resistance"


def _as_arrays(*arrays: ArrayLike) -> tuple[FloatArray, ...]:
    out = tuple(np.asarray(x, dtype=np.float64) for x in arrays)
    if len({a.shape for a in out}) != 1 or out[0].ndim != 1:
        shapes = [a.shape for a in out]
        raise InvalidMlInputError(
            f"expected 1-d price arrays of equal length; received shapes {shapes}"
        )
    return out


def _line_at(line: Line, t: int) -> float:
    return line[0] + line[1] * t


def swing_points(high: ArrayLike, low: ArrayLike, k: int = 3) -> list[SwingPoint]:
    """Swing highs and lows sorted by ``(index, kind)``; each is known at ``index + k``."""
    h, lo = _as_arrays(high, low)
    if k < 1:
        raise InvalidMlInputError(f"expected k >= 1; received {k}")
    points: list[SwingPoint] = []
    if h.size < 2 * k + 1:
        return points
    centre = np.arange(k, h.size - k)
    for kind, values in (("high", h), ("low", -lo)):
        windows = sliding_window_view(values, 2 * k + 1)
        mid = windows[:, k]
        is_swing = (mid > windows[:, :k].max(axis=1)) & (mid >= windows[:, k + 1 :].max(axis=1))
        for i in centre[is_swing]:
            price = float(h[i] if kind == "high" else lo[i])
            points.append(SwingPoint(int(i), int(i) + k, price, kind))  # type: ignore[arg-type]
    points.sort(key=lambda p: (p.index, p.kind))
    return points


def _first_close_below(
    close: FloatArray, high: FloatArray, line: Line, start: int, max_wait: int, limit: float
) -> int | None:
    """First ``t`` in ``start .. start + max_wait - 1`` with ``close[t]`` below ``line``,
    unless ``high`` passed ``limit`` by then; ``None`` otherwise (bullish: negated prices)."""
    for t in range(start, min(close.size, start + max_wait)):
        if high[t] > limit:
            return None
        if close[t] < _line_at(line, t):
            return t
    return None


def _mirrored(high: FloatArray, low: FloatArray, close: FloatArray, bearish: bool) -> PriceArrays:
    """Bottoms become tops by negating prices (and swapping high and low): one code path."""
    return (high, low, close) if bearish else (-low, -high, -close)


def double_tops_bottoms(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, settings: ChartPatternSettings | None = None
) -> list[ChartPattern]:
    """Double tops (direction -1) and bottoms (+1), confirmed by the neckline break."""
    s = settings or DEFAULT_SETTINGS
    high, low, close = _as_arrays(high, low, close)
    atr = wilder_atr(high, low, close, s.atr_period)
    points = swing_points(high, low, s.k)
    found: list[ChartPattern] = []
    for bearish, sign in ((True, -1), (False, 1)):
        ext, opp, cl = _mirrored(high, low, close, bearish)
        same = [p for p in points if p.kind == ("high" if bearish else "low")]
        for j, second in enumerate(same):
            i2, scale = second.index, atr[second.index]
            for first in reversed(same[:j] if np.isfinite(scale) else []):
                i1 = first.index
                top1, top2 = ext[i1], ext[i2]
                # Same-kind swing points are > k bars apart, so the slices are not empty.
                if i2 - i1 > s.double_max_span or ext[i1 + 1 : i2].max() > min(top1, top2):
                    break
                neckline = opp[i1 + 1 : i2].min()
                if (
                    abs(top1 - top2) > s.double_tolerance_atr * scale
                    or min(top1, top2) - neckline < s.double_min_depth_atr * scale
                ):
                    continue
                limit = max(top1, top2)
                t = _first_close_below(cl, ext, (neckline, 0.0), i2 + 1, s.max_wait, limit)
                if t is not None:
                    kind = "double_top" if bearish else "double_bottom"
                    prices = {"first": top1, "second": top2, "neckline": neckline}
                    levels = {name: float(-sign * v) for name, v in prices.items()}
                    end = max(t, second.confirmed_index)
                    found.append(ChartPattern(kind, i1, end, sign, levels, (i1, i2)))
                break
    found.sort(key=lambda p: (p.end_index, p.start_index))
    return found


def head_and_shoulders(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, settings: ChartPatternSettings | None = None
) -> list[ChartPattern]:
    """Head and shoulders (direction -1) and inverse (+1), confirmed by the neckline break."""
    s = settings or DEFAULT_SETTINGS
    high, low, close = _as_arrays(high, low, close)
    atr = wilder_atr(high, low, close, s.atr_period)
    points = swing_points(high, low, s.k)
    found: list[ChartPattern] = []
    for bearish, sign in ((True, -1), (False, 1)):
        ext, opp, cl = _mirrored(high, low, close, bearish)
        same = [p for p in points if p.kind == ("high" if bearish else "low")]
        for left, head, right in zip(same, same[1:], same[2:], strict=False):
            i1, i2, i3 = left.index, head.index, right.index
            scale = atr[i3]
            shoulder1, top, shoulder2 = ext[i1], ext[i2], ext[i3]
            t1 = i1 + 1 + int(np.argmin(opp[i1 + 1 : i2]))
            t2 = i2 + 1 + int(np.argmin(opp[i2 + 1 : i3]))
            if (
                not np.isfinite(scale)
                or i3 - i1 > s.shoulders_max_span
                or top - max(shoulder1, shoulder2) < s.head_margin_atr * scale
                or abs(shoulder1 - shoulder2) > s.shoulders_tolerance_atr * scale
                or min(shoulder1, shoulder2) - max(opp[t1], opp[t2])
                < s.shoulders_min_depth_atr * scale
            ):
                continue
            slope = (opp[t2] - opp[t1]) / (t2 - t1)
            line = (opp[t1] - slope * t1, slope)
            t = _first_close_below(cl, ext, line, i3 + 1, s.max_wait, top)
            if t is None:
                continue
            end = max(t, right.confirmed_index)
            kind = "head_and_shoulders" if bearish else "inverse_head_and_shoulders"
            names = ("left_shoulder", "head", "right_shoulder", "neckline")
            prices = (shoulder1, top, shoulder2, _line_at(line, end))
            levels = {name: float(-sign * v) for name, v in zip(names, prices, strict=True)}
            found.append(ChartPattern(kind, i1, end, sign, levels, (i1, i2, i3)))
    found.sort(key=lambda p: (p.end_index, p.start_index))
    return found


@dataclass(frozen=True, slots=True)
class _TriangleCandidate:
    kind: str
    start_index: int
    formed_index: int
    upper: Line
    lower: Line
    swing_indices: tuple[int, ...]


def _fit_line(points: list[SwingPoint]) -> tuple[Line, float]:
    """Least-squares ``price = intercept + slope * index`` and the largest residual."""
    x = np.array([p.index for p in points], dtype=np.float64)
    y = np.array([p.price for p in points])
    slope, intercept = np.polyfit(x, y, 1)
    return (float(intercept), float(slope)), float(np.abs(y - (intercept + slope * x)).max())


def _triangle_at(
    recent: list[SwingPoint], formed: int, scale: float, s: ChartPatternSettings
) -> _TriangleCandidate | None:
    highs = [p for p in recent if p.kind == "high"][-s.triangle_points :]
    lows = [p for p in recent if p.kind == "low"][-s.triangle_points :]
    if len(highs) < 2 or len(lows) < 2:
        return None
    (upper, upper_residual), (lower, lower_residual) = _fit_line(highs), _fit_line(lows)
    if max(upper_residual, lower_residual) > s.triangle_fit_atr * scale:
        return None
    start = min(highs[0].index, lows[0].index)
    span = max(max(highs[-1].index, lows[-1].index) - start, 1)
    flat = s.triangle_flat_atr * scale
    upper_move, lower_move = upper[1] * span, lower[1] * span
    if abs(upper_move) <= flat and lower_move > flat:
        kind = "ascending_triangle"
    elif upper_move < -flat and abs(lower_move) <= flat:
        kind = "descending_triangle"
    elif upper_move < -flat and lower_move > flat:
        kind = "symmetrical_triangle"
    else:
        return None
    gap_start = _line_at(upper, start) - _line_at(lower, start)
    gap_now = _line_at(upper, formed) - _line_at(lower, formed)
    if not 0 < gap_now <= 0.8 * gap_start:
        return None
    indices = tuple(sorted(p.index for p in highs + lows))
    return _TriangleCandidate(kind, start, formed, upper, lower, indices)


def triangles(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, settings: ChartPatternSettings | None = None
) -> list[ChartPattern]:
    """Ascending, descending and symmetrical triangles, confirmed by the close breaking out
    (direction +1 up, -1 down)."""
    s = settings or DEFAULT_SETTINGS
    h, lo, c = _as_arrays(high, low, close)
    atr = wilder_atr(h, lo, c, s.atr_period)
    by_confirmation: dict[int, list[SwingPoint]] = {}
    for p in swing_points(h, lo, s.k):
        by_confirmation.setdefault(p.confirmed_index, []).append(p)
    known: list[SwingPoint] = []
    found: list[ChartPattern] = []
    candidate: _TriangleCandidate | None = None
    after = -1  # swing points must lie after the previous triangle's break
    for t in range(c.size):
        if candidate is not None and t > candidate.formed_index:
            upper, lower = _line_at(candidate.upper, t), _line_at(candidate.lower, t)
            direction = 1 if c[t] > upper else -1 if c[t] < lower else 0
            if direction:
                kind, start, swings = candidate.kind, candidate.start_index, candidate.swing_indices
                levels = {"upper": upper, "lower": lower}
                found.append(ChartPattern(kind, start, t, direction, levels, swings))
                candidate, after = None, t
            elif t - candidate.formed_index >= s.max_wait or upper <= lower:
                candidate = None
        known.extend(by_confirmation.get(t, ()))
        if t in by_confirmation and np.isfinite(atr[t]):
            recent = [p for p in known if p.index > max(after, t - s.triangle_lookback)]
            candidate = _triangle_at(recent, t, float(atr[t]), s)
            if candidate is not None:
                upper, lower = _line_at(candidate.upper, t), _line_at(candidate.lower, t)
                if not lower <= c[t] <= upper:
                    candidate = None  # already outside: not a fresh triangle
    return found


def support_resistance(
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    t: int | None = None,
    lookback: int | None = None,
    settings: ChartPatternSettings | None = None,
) -> list[Level]:
    """Support/resistance levels as of bar ``t`` (default: the last bar), sorted by price."""
    settings = settings or DEFAULT_SETTINGS
    h, lo, c = _as_arrays(high, low, close)
    t = c.size - 1 if t is None else t
    if not 0 <= t < c.size:
        raise InvalidMlInputError(f"expected 0 <= t < {c.size}; received {t}")
    h, lo, c = h[: t + 1], lo[: t + 1], c[: t + 1]
    scale = wilder_atr(h, lo, c, settings.atr_period)[t]
    if not np.isfinite(scale):
        return []
    first = 0 if lookback is None else t - lookback + 1
    swings = sorted(
        (p for p in swing_points(h, lo, settings.k) if p.index >= first), key=lambda p: p.price
    )
    groups: list[list[SwingPoint]] = []
    for p in swings:
        if groups and p.price - groups[-1][0].price <= settings.level_tolerance_atr * scale:
            groups[-1].append(p)
        else:
            groups.append([p])
    prices = [float(np.mean([p.price for p in group])) for group in groups]
    return [
        Level(price, len(group), max(p.index for p in group), _level_kind(price, c[t]))
        for price, group in zip(prices, groups, strict=True)
        if len(group) >= settings.level_min_touches
    ]


def detect_chart_patterns(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, settings: ChartPatternSettings | None = None
) -> list[ChartPattern]:
    """Double tops/bottoms, (inverse) head and shoulders and triangles, by confirmation bar."""
    found = (
        double_tops_bottoms(high, low, close, settings)
        + head_and_shoulders(high, low, close, settings)
        + triangles(high, low, close, settings)
    )
    found.sort(key=lambda p: (p.end_index, p.start_index, p.kind))
    return found
