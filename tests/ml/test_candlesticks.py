"""Candlestick detectors: constructed patterns found at the right bar, near misses not,
no lookahead, and agreement with TA-Lib where the conventions match (doji, engulfing,
harami; see the module docstring for the ones that differ)."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from chainflow.ml.patterns import candlesticks as cs
from tests.fixtures.market_data import make_ohlcv

Bar = tuple[float, float, float, float]  # open, high, low, close


def trend_bars(count: int, step: float, start: float = 100.0, wick: float = 0.5) -> list[Bar]:
    """``count`` bars, each opening at the previous close and moving by ``step``."""
    bars: list[Bar] = []
    price = start
    for _ in range(count):
        close = price + step
        bars.append((price, max(price, close) + wick, min(price, close) - wick, close))
        price = close
    return bars


def flat_bars(count: int, start: float = 100.0, body: float = 1.0) -> list[Bar]:
    """Alternating up/down bars of the same body: no trend, average body ``body``."""
    bars: list[Bar] = []
    for i in range(count):
        o, c = (start, start + body) if i % 2 == 0 else (start + body, start)
        bars.append((o, max(o, c) + 0.2, min(o, c) - 0.2, c))
    return bars


def arrays(bars: list[Bar]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    o, h, lo, c = (np.array(column) for column in zip(*bars, strict=True))
    return o, h, lo, c


def hits(signal: np.ndarray) -> dict[int, int]:
    return {int(i): int(signal[i]) for i in np.flatnonzero(signal)}


# --- doji -----------------------------------------------------------------------------------


def test_doji_found_at_the_bar() -> None:
    bars = trend_bars(15, 1.0)  # range 2.0 per bar: a doji body is <= 0.2
    last = bars[-1][3]
    bars.append((last, last + 1.0, last - 1.0, last + 0.1))
    assert np.flatnonzero(cs.doji(*arrays(bars))).tolist() == [15]


def test_doji_near_miss_and_warm_up() -> None:
    bars = trend_bars(15, 1.0)
    last = bars[-1][3]
    bars.append((last, last + 1.0, last - 1.0, last + 0.3))  # body 0.3 > 0.2
    assert not cs.doji(*arrays(bars)).any()
    early = [(100.0, 101.0, 99.0, 100.0)] * 10  # zero bodies, but no 10-bar reference yet
    assert not cs.doji(*arrays(early)).any()


# --- hammer / hanging man, shooting star / inverted hammer ----------------------------------


def hammer_bar(open_: float) -> Bar:
    close = open_ + 0.2
    return (open_, close + 0.05, open_ - 2.0, close)  # lower 2.0, upper 0.05, range 2.25


def shooting_star_bar(open_: float) -> Bar:
    close = open_ - 0.2
    return (open_, open_ + 2.0, close - 0.05, close)


def test_hammer_after_downtrend_and_hanging_man_after_uptrend() -> None:
    down = trend_bars(15, -1.0)
    down.append(hammer_bar(down[-1][3]))
    assert hits(cs.hammer(*arrays(down))) == {15: 1}
    up = trend_bars(15, 1.0)
    up.append(hammer_bar(up[-1][3]))
    assert hits(cs.hammer(*arrays(up))) == {15: -1}


def test_hammer_near_misses() -> None:
    down = trend_bars(15, -1.0)
    o = down[-1][3]
    long_upper = (o, o + 0.7, o - 2.0, o + 0.2)  # upper shadow 0.5 > 0.1 * range
    big_body = (o, o + 1.55, o - 0.5, o + 1.5)  # body 1.5 > 0.3 * range
    for bar in (long_upper, big_body):
        assert not cs.hammer(*arrays([*down, bar])).any()
    shape_only = [*down, hammer_bar(o)]
    no_trend = np.zeros(len(shape_only))
    assert not cs.hammer(*arrays(shape_only), trend=no_trend).any()


def test_shooting_star_after_uptrend_and_inverted_hammer_after_downtrend() -> None:
    up = trend_bars(15, 1.0)
    up.append(shooting_star_bar(up[-1][3]))
    assert hits(cs.shooting_star(*arrays(up))) == {15: -1}
    down = trend_bars(15, -1.0)
    down.append(shooting_star_bar(down[-1][3]))
    assert hits(cs.shooting_star(*arrays(down))) == {15: 1}
    assert not cs.hammer(*arrays(up)).any()


def test_shooting_star_near_miss() -> None:
    up = trend_bars(15, 1.0)
    o = up[-1][3]
    long_lower = (o, o + 2.0, o - 0.7, o - 0.2)  # lower shadow 0.5 > 0.1 * range
    assert not cs.shooting_star(*arrays([*up, long_lower])).any()


def test_trend_direction_is_close_against_its_sma() -> None:
    close = np.array([1.0] * 9 + [2.0, 0.0, 1.0])
    trend = cs.trend_direction(close, 10)
    assert trend.tolist() == [0] * 9 + [1, -1, 0]


# --- engulfing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        ((8.9, 10.3, 8.8, 10.2), {1: 1}),  # covers the black body on both sides
        ((9.0, 10.6, 8.9, 10.5), {1: 1}),  # opens at the previous close (FX), closes above
        ((9.0, 10.1, 8.9, 10.0), {}),  # exactly the same body: not engulfing
        ((8.9, 10.0, 8.8, 9.9), {}),  # closes inside the previous body
        ((10.5, 10.6, 8.5, 8.6), {}),  # same colour
    ],
)
def test_bullish_engulfing(second: Bar, expected: dict[int, int]) -> None:
    first = (10.0, 10.1, 8.9, 9.0)  # black
    assert hits(cs.engulfing(*arrays([first, second]))) == expected


def test_bearish_engulfing_and_zero_body_first_candle() -> None:
    first = (9.0, 10.1, 8.9, 10.0)  # white
    assert hits(cs.engulfing(*arrays([first, (10.0, 10.1, 8.5, 8.6)]))) == {1: -1}
    doji_first = (9.5, 9.6, 9.4, 9.5)  # no colour: never engulfed (TA-Lib calls it white)
    assert not cs.engulfing(*arrays([doji_first, (9.6, 9.7, 9.0, 9.1)])).any()


# --- harami ---------------------------------------------------------------------------------


def test_bullish_and_bearish_harami() -> None:
    base = flat_bars(12)  # average body 1.0
    long_black = (103.0, 103.2, 99.8, 100.0)
    small_inside = (100.5, 101.5, 100.3, 101.2)
    assert hits(cs.harami(*arrays([*base, long_black, small_inside]))) == {13: 1}
    long_white = (100.0, 103.2, 99.8, 103.0)
    small_black = (102.5, 102.6, 101.4, 101.6)
    assert hits(cs.harami(*arrays([*base, long_white, small_black]))) == {13: -1}


def test_harami_near_misses() -> None:
    base = flat_bars(12)
    long_black = (103.0, 103.2, 99.8, 100.0)
    sticking_out = (100.5, 103.6, 100.3, 103.5)  # body leaves the first body
    assert not cs.harami(*arrays([*base, long_black, sticking_out])).any()
    short_black = (100.8, 101.0, 99.8, 100.0)  # body 0.8 is not long
    inside = (100.3, 100.8, 100.1, 100.6)
    assert not cs.harami(*arrays([*base, short_black, inside])).any()


# --- morning / evening star -----------------------------------------------------------------


def morning_star(third_close_above_first_close: float) -> list[Bar]:
    bars = trend_bars(15, -1.0, wick=0.2)  # bodies 1.0
    p = bars[-1][3]
    first = (p, p + 0.1, p - 3.1, p - 3.0)
    c1 = p - 3.0
    star = (c1, c1 + 0.3, c1 - 0.4, c1 + 0.2)
    third = (
        c1 + 0.2,
        c1 + third_close_above_first_close + 0.1,
        c1,
        c1 + third_close_above_first_close,
    )
    return [*bars, first, star, third]


def test_morning_star_found_on_the_third_candle() -> None:
    assert hits(cs.morning_evening_star(*arrays(morning_star(2.0)))) == {17: 1}


def test_morning_star_near_miss_third_candle_below_midpoint() -> None:
    assert not cs.morning_evening_star(*arrays(morning_star(1.0))).any()


def test_evening_star_is_the_mirror() -> None:
    mirrored = [(-o, -lo, -h, -c) for o, h, lo, c in morning_star(2.0)]
    shifted = [(o + 300, h + 300, lo + 300, c + 300) for o, h, lo, c in mirrored]
    assert hits(cs.morning_evening_star(*arrays(shifted))) == {17: -1}


def test_star_near_miss_star_body_too_large() -> None:
    bars = morning_star(2.0)
    c1 = bars[15][3]
    bars[16] = (c1, c1 + 1.3, c1 - 0.1, c1 + 1.2)  # body 1.2 > 0.3 * 3.0, top too high
    assert not cs.morning_evening_star(*arrays(bars)).any()


# --- three white soldiers / three black crows -----------------------------------------------


def soldiers(middle_upper_shadow: float = 0.2) -> list[Bar]:
    bars = flat_bars(12)
    price = bars[-1][3]
    for i in range(3):
        upper = middle_upper_shadow if i == 1 else 0.2
        bars.append((price, price + 2.0 + upper, price - 0.1, price + 2.0))
        price += 2.0
    return bars


def test_three_white_soldiers_and_black_crows() -> None:
    assert hits(cs.three_soldiers_crows(*arrays(soldiers()))) == {14: 1}
    crows = [(200 - o, 200 - lo, 200 - h, 200 - c) for o, h, lo, c in soldiers()]
    assert hits(cs.three_soldiers_crows(*arrays(crows))) == {14: -1}


def test_three_soldiers_near_misses() -> None:
    assert not cs.three_soldiers_crows(*arrays(soldiers(middle_upper_shadow=1.0))).any()
    gapped = soldiers()
    o, h, lo, c = gapped[-1]
    gapped[-1] = (o + 0.5, h + 0.5, lo + 0.5, c + 0.5)  # opens above the previous close
    assert not cs.three_soldiers_crows(*arrays(gapped)).any()
    two_only = soldiers()[:-1]
    assert not cs.three_soldiers_crows(*arrays(two_only)).any()


# --- all detectors: shapes, no lookahead, input checks ------------------------------------


def test_detect_candlesticks_runs_every_detector() -> None:
    data = make_ohlcv(500)
    found = cs.detect_candlesticks(data.open, data.high, data.low, data.close)
    assert set(found) == {
        "doji",
        "hammer",
        "shooting_star",
        "engulfing",
        "harami",
        "morning_evening_star",
        "three_soldiers_crows",
    }
    assert all(v.shape == (500,) for v in found.values())
    assert found["doji"].dtype == np.bool_
    assert all(v.dtype == np.int8 for k, v in found.items() if k != "doji")
    assert all(found[k].any() for k in ("doji", "hammer", "engulfing", "harami"))


@pytest.mark.parametrize("t", [30, 777, 1499])
def test_no_lookahead(t: int) -> None:
    data = make_ohlcv(1500)
    full = cs.detect_candlesticks(data.open, data.high, data.low, data.close)
    cut = cs.detect_candlesticks(
        data.open[: t + 1], data.high[: t + 1], data.low[: t + 1], data.close[: t + 1]
    )
    other = data.perturbed_after(t)
    changed = cs.detect_candlesticks(other.open, other.high, other.low, other.close)
    for name, signal in full.items():
        np.testing.assert_array_equal(signal[: t + 1], cut[name], err_msg=name)
        np.testing.assert_array_equal(signal[: t + 1], changed[name][: t + 1], err_msg=name)


def test_mismatched_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="expected four one-dimensional arrays"):
        cs.doji([1.0, 2.0], [1.0], [1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="expected trend of shape"):
        cs.hammer([1.0], [1.0], [1.0], [1.0], trend=[1, 1])


# --- TA-Lib, where the conventions match --------------------------------------------------


@pytest.mark.parametrize("seed", [7, 11])
def test_doji_and_harami_equal_talib(seed: int) -> None:
    d = make_ohlcv(3000, seed=seed)
    ohlc = (d.open, d.high, d.low, d.close)
    np.testing.assert_array_equal(cs.doji(*ohlc), talib.CDLDOJI(*ohlc) != 0)
    np.testing.assert_array_equal(cs.harami(*ohlc), np.sign(talib.CDLHARAMI(*ohlc)))


@pytest.mark.parametrize("seed", [7, 11])
def test_engulfing_equals_talib_except_zero_body_first_candles(seed: int) -> None:
    d = make_ohlcv(3000, seed=seed)
    ohlc = (d.open, d.high, d.low, d.close)
    ours, theirs = cs.engulfing(*ohlc), np.sign(talib.CDLENGULFING(*ohlc))
    previous_has_body = np.concatenate([[True], d.close[:-1] != d.open[:-1]])
    np.testing.assert_array_equal(ours[previous_has_body], theirs[previous_has_body])
    assert (ours != 0).sum() > 500
    # TA-Lib counts a zero-body first candle as white, so it also reports bearish ones there.
    assert set(np.unique(theirs[~previous_has_body & (ours != theirs)])) <= {-1}
