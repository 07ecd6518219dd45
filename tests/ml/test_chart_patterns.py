"""Chart patterns: swing points known k bars late, patterns on constructed zigzags found at
the confirming bar (and not before), near misses not found, no lookahead on market-like data."""

from __future__ import annotations

import numpy as np
import pytest

from chainflow.ml.patterns import chart_patterns as cp
from chainflow.ml.patterns.chart_patterns import ChartPatternSettings, Level, SwingPoint
from tests.fixtures.market_data import make_ohlcv

WICK = 0.1
Series = tuple[np.ndarray, np.ndarray, np.ndarray]  # high, low, close


def zigzag(anchors: list[tuple[int, float]]) -> Series:
    """Closes linear between ``(index, price)`` anchors; each bar opens at the previous close
    and has ``WICK`` above and below its body, so swing points sit exactly at the anchors."""
    index, price = zip(*anchors, strict=True)
    close = np.interp(np.arange(index[-1] + 1), index, price)
    open_ = np.concatenate([[close[0]], close[:-1]])
    return np.maximum(open_, close) + WICK, np.minimum(open_, close) - WICK, close


def mirrored(series: Series, around: float = 200.0) -> Series:
    high, low, close = series
    return around - low, around - high, around - close


def cut(series: Series, t: int) -> Series:
    high, low, close = series
    return high[: t + 1], low[: t + 1], close[: t + 1]


def first_index(condition: np.ndarray, after: int) -> int:
    return int(after + 1 + np.flatnonzero(condition[after + 1 :])[0])


# --- swing points ---------------------------------------------------------------------------


def test_swing_points_at_the_anchors_known_k_bars_later() -> None:
    high, low, _ = zigzag([(0, 100), (10, 105), (20, 101), (30, 104)])
    points = cp.swing_points(high, low, k=3)
    assert points == [SwingPoint(10, 13, 105.1, "high"), SwingPoint(20, 23, 100.9, "low")]


def test_swing_point_ties_go_to_the_earlier_bar() -> None:
    high = np.array([1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 0.5, 0.4])
    low = high - 0.5
    assert [p.index for p in cp.swing_points(high, low, k=2) if p.kind == "high"] == [2]


def test_swing_point_appears_only_from_its_confirmation_bar() -> None:
    high, low, _ = zigzag([(0, 100), (10, 105), (25, 101)])
    k = 4
    assert cp.swing_points(high[: 10 + k], low[: 10 + k], k) == []
    assert cp.swing_points(high[: 10 + k + 1], low[: 10 + k + 1], k) == [
        SwingPoint(10, 14, 105.1, "high")
    ]


def test_swing_points_no_lookahead_on_market_data() -> None:
    data = make_ohlcv(1200)
    full = cp.swing_points(data.high, data.low, k=3)
    for t in (100, 613, 1100):
        expected = [p for p in full if p.confirmed_index <= t]
        assert cp.swing_points(data.high[: t + 1], data.low[: t + 1], k=3) == expected
        other = data.perturbed_after(t)
        changed = cp.swing_points(other.high, other.low, k=3)
        assert [p for p in changed if p.confirmed_index <= t] == expected


# --- double top / bottom --------------------------------------------------------------------

DOUBLE_TOP = [(0, 100), (30, 110), (45, 104), (60, 110.2), (90, 98)]


def test_double_top_confirmed_at_the_neckline_break() -> None:
    series = zigzag(DOUBLE_TOP)
    found = cp.double_tops_bottoms(*series)
    neckline = 104 - WICK
    end = first_index(series[2] < neckline, after=60)
    assert [(p.kind, p.start_index, p.end_index, p.direction) for p in found] == [
        ("double_top", 30, end, -1)
    ]
    assert found[0].swing_indices == (30, 60)
    assert found[0].levels == pytest.approx(
        {"first": 110 + WICK, "second": 110.2 + WICK, "neckline": neckline}
    )
    assert cp.double_tops_bottoms(*cut(series, end - 1)) == []
    assert cp.double_tops_bottoms(*cut(series, end)) == found


def test_double_bottom_is_the_mirror() -> None:
    found = cp.double_tops_bottoms(*mirrored(zigzag(DOUBLE_TOP)))
    assert [(p.kind, p.direction) for p in found] == [("double_bottom", 1)]
    assert found[0].levels["neckline"] == pytest.approx(200 - (104 - WICK))


def test_double_top_reported_no_earlier_than_the_second_top_is_confirmed() -> None:
    # A crash right after the second top: the close breaks at 61, the top is known at 63.
    series = zigzag([(0, 100), (30, 110), (45, 104), (60, 110.1), (61, 103), (70, 100)])
    found = cp.double_tops_bottoms(*series)
    assert [(p.kind, p.end_index) for p in found] == [("double_top", 63)]


@pytest.mark.parametrize(
    "anchors",
    [
        [(0, 100), (30, 110), (45, 104), (60, 112), (90, 98)],  # tops 2 apart: > 0.5 ATR
        [(0, 100), (30, 110), (45, 104), (60, 110), (70, 106), (90, 115)],  # no break
        [(0, 100), (30, 110), (45, 104), (60, 110), (70, 106), (75, 111), (99, 95)],  # new high
    ],
)
def test_double_top_near_misses(anchors: list[tuple[int, float]]) -> None:
    assert cp.double_tops_bottoms(*zigzag(anchors)) == []


def test_double_top_trough_depth_threshold() -> None:
    series = zigzag(DOUBLE_TOP)  # trough 6.2 below the lower top, ATR about 0.6 there
    assert cp.double_tops_bottoms(*series, ChartPatternSettings(double_min_depth_atr=8.0))
    assert not cp.double_tops_bottoms(*series, ChartPatternSettings(double_min_depth_atr=12.0))


# --- head and shoulders ---------------------------------------------------------------------

HEAD_AND_SHOULDERS = [(0, 100), (20, 106), (30, 103), (45, 110), (60, 103), (75, 106.1), (100, 95)]


def test_head_and_shoulders_confirmed_at_the_neckline_break() -> None:
    series = zigzag(HEAD_AND_SHOULDERS)
    found = cp.head_and_shoulders(*series)
    end = first_index(series[2] < 103 - WICK, after=75)
    assert [(p.kind, p.start_index, p.end_index, p.direction) for p in found] == [
        ("head_and_shoulders", 20, end, -1)
    ]
    assert found[0].swing_indices == (20, 45, 75)
    assert found[0].levels == pytest.approx(
        {"left_shoulder": 106.1, "head": 110.1, "right_shoulder": 106.2, "neckline": 102.9}
    )
    assert cp.head_and_shoulders(*cut(series, end - 1)) == []
    assert cp.double_tops_bottoms(*series) == []  # the head blocks the two shoulders


def test_inverse_head_and_shoulders_is_the_mirror() -> None:
    found = cp.head_and_shoulders(*mirrored(zigzag(HEAD_AND_SHOULDERS)))
    assert [(p.kind, p.direction) for p in found] == [("inverse_head_and_shoulders", 1)]


def test_sloped_neckline_is_extended_to_the_break() -> None:
    anchors = [(0, 100), (20, 106), (30, 103), (45, 110), (60, 104), (75, 106.1), (100, 95)]
    series = zigzag(anchors)
    (found,) = cp.head_and_shoulders(*series)
    slope = (104 - 103) / (60 - 30)
    neckline = 102.9 + slope * (np.arange(series[2].size) - 30)
    assert found.end_index == first_index(series[2] < neckline, after=75)
    assert found.levels["neckline"] == pytest.approx(neckline[found.end_index])


@pytest.mark.parametrize(
    "anchors",
    [
        [(0, 100), (20, 106), (30, 103), (45, 106.2), (60, 103), (75, 106.1), (100, 95)],  # flat
        [(0, 100), (20, 106), (30, 103), (45, 110), (60, 103), (75, 108.5), (100, 95)],  # uneven
        [(0, 100), (20, 106), (30, 103), (45, 110), (60, 103), (75, 106), (90, 104), (99, 108)],
    ],
)
def test_head_and_shoulders_near_misses(anchors: list[tuple[int, float]]) -> None:
    assert cp.head_and_shoulders(*zigzag(anchors)) == []


# --- triangles ------------------------------------------------------------------------------

ASCENDING = [(0, 100), (10, 110), (20, 103), (30, 110), (40, 105), (50, 110), (60, 107), (80, 114)]
SYMMETRICAL = [
    (0, 100),
    (10, 112),
    (20, 100),
    (30, 110),
    (40, 102),
    (50, 108),
    (60, 104),
    (80, 95),
]


def test_ascending_triangle_confirmed_at_the_upside_break() -> None:
    series = zigzag(ASCENDING)
    found = cp.triangles(*series)
    end = first_index(series[2] > 110 + WICK, after=60)
    assert [(p.kind, p.start_index, p.end_index, p.direction) for p in found] == [
        ("ascending_triangle", 10, end, 1)
    ]
    assert found[0].swing_indices == (10, 20, 30, 40, 50, 60)
    assert found[0].levels["upper"] == pytest.approx(110 + WICK)
    assert cp.triangles(*cut(series, end - 1)) == []


def test_descending_triangle_breaks_down() -> None:
    found = cp.triangles(*mirrored(zigzag(ASCENDING)))
    assert [(p.kind, p.direction) for p in found] == [("descending_triangle", -1)]


def test_symmetrical_triangle_takes_the_break_direction() -> None:
    series = zigzag(SYMMETRICAL)
    found = cp.triangles(*series)
    upper_at_60 = 112.1 - 0.1 * 50  # highs fall 2 per 20 bars from 112.1 at bar 10
    assert [(p.kind, p.direction) for p in found] == [("symmetrical_triangle", -1)]
    lower = 99.9 + 0.1 * (np.arange(series[2].size) - 20)
    assert found[0].end_index == first_index(series[2] < lower, after=60)
    assert found[0].levels["lower"] < found[0].levels["upper"] < upper_at_60


@pytest.mark.parametrize(
    "anchors",
    [
        [(0, 100), (10, 110), (20, 103), (30, 113), (40, 106), (50, 116), (60, 109), (80, 125)],
        [(0, 100), (10, 106), (20, 103), (30, 108), (40, 101), (50, 110), (60, 99), (80, 115)],
        [(0, 100), (10, 110), (20, 103), (30, 110), (40, 105), (50, 110), (60, 108), (64, 109)],
    ],
    ids=["parallel channel", "expanding", "no break yet"],
)
def test_triangle_near_misses(anchors: list[tuple[int, float]]) -> None:
    assert cp.triangles(*zigzag(anchors)) == []


# --- support / resistance -------------------------------------------------------------------

RANGE = [(0, 105), (10, 110), (20, 100), (30, 110), (40, 100), (50, 110), (60, 105)]


def test_levels_as_of_a_bar_count_confirmed_touches_only() -> None:
    series = zigzag(RANGE)
    assert cp.support_resistance(*series, t=60) == [
        Level(pytest.approx(100 - WICK), 2, 40, "support"),
        Level(pytest.approx(110 + WICK), 3, 50, "resistance"),
    ]
    # At bar 42 the low at 40 is not confirmed yet (k = 3): one touch is no level.
    assert cp.support_resistance(*series, t=42) == [
        Level(pytest.approx(110 + WICK), 2, 30, "resistance")
    ]
    assert cp.support_resistance(*series, t=60, lookback=35) == [
        Level(pytest.approx(110 + WICK), 2, 50, "resistance")
    ]


def test_levels_group_within_the_tolerance() -> None:
    anchors = [(0, 105), (10, 110), (20, 100), (30, 110.6), (40, 100), (50, 105)]
    series = zigzag(anchors)
    strict = cp.support_resistance(*series, settings=ChartPatternSettings(level_tolerance_atr=0.1))
    loose = cp.support_resistance(*series, settings=ChartPatternSettings(level_tolerance_atr=2.0))
    assert [lv.kind for lv in strict] == ["support"]
    assert [(lv.kind, lv.touches) for lv in loose] == [("support", 2), ("resistance", 2)]
    assert loose[1].price == pytest.approx(110.4)


# --- no lookahead, settings -----------------------------------------------------------------


@pytest.mark.parametrize("t", [400, 1234, 2500])
def test_patterns_and_levels_no_lookahead(t: int) -> None:
    data = make_ohlcv(3000)
    full = cp.detect_chart_patterns(data.high, data.low, data.close)
    known = [p for p in full if p.end_index <= t]
    assert known  # the market-like data has patterns before every cut
    assert cp.detect_chart_patterns(data.high[: t + 1], data.low[: t + 1], data.close[: t + 1]) == (
        known
    )
    other = data.perturbed_after(t)
    changed = cp.detect_chart_patterns(other.high, other.low, other.close)
    assert [p for p in changed if p.end_index <= t] == known
    levels = cp.support_resistance(data.high, data.low, data.close, t=t, lookback=300)
    assert levels == cp.support_resistance(other.high, other.low, other.close, t=t, lookback=300)


def test_market_data_has_every_kind() -> None:
    data = make_ohlcv(3000)
    kinds = {p.kind for p in cp.detect_chart_patterns(data.high, data.low, data.close)}
    assert {"double_top", "double_bottom", "head_and_shoulders"} <= kinds
    assert any(kind.endswith("_triangle") for kind in kinds)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="expected k, atr_period, max_wait >= 1"):
        ChartPatternSettings(k=0)
    with pytest.raises(ValueError, match="expected triangle_points >= 2"):
        ChartPatternSettings(triangle_points=1)
    with pytest.raises(ValueError, match="expected 1-d price arrays of equal length"):
        cp.double_tops_bottoms([1.0, 2.0], [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="expected 0 <= t < 3"):
        cp.support_resistance([1.0] * 3, [1.0] * 3, [1.0] * 3, t=3)
