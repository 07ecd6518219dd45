"""Anomaly flags: injected outliers flagged, normal data rarely, past-only statistics (no
lookahead), a deterministic isolation forest, and soft tick flags."""

from __future__ import annotations

import numpy as np
import pytest

from chainflow.ml.patterns import anomalies as an
from chainflow.ml.patterns.anomalies import IsolationForestDetector
from tests.fixtures.market_data import make_ohlcv

# --- robust z-score -------------------------------------------------------------------------


def test_robust_zscore_uses_the_previous_window_only() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 100.0])
    z = an.robust_zscore(x, window=5)
    # window 1..5: median 3, MAD 1 -> scale 1.4826
    assert np.isnan(z[:5]).all()
    assert z[5] == pytest.approx((100.0 - 3.0) / 1.4826)


def test_mad_zero_falls_back_to_mean_absolute_deviation_then_the_floor() -> None:
    x = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.5])  # window median 0, MAD 0, mean AD 0.2
    assert an.robust_zscore(x, window=5)[5] == pytest.approx(0.5 / (1.2533 * 0.2))
    flat = np.array([2.0] * 5 + [2.001])
    assert an.robust_zscore(flat, window=5, min_scale=1e-3)[5] == pytest.approx(1.0)
    assert an.robust_zscore(np.ones(8), window=5)[5:].tolist() == [0.0, 0.0, 0.0]


def test_injected_outlier_flagged_and_normal_data_rarely() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(20_000)
    x[12_345] = 9.0
    flags = an.robust_zscore_flags(x, window=250, threshold=4.0)
    assert flags[12_345]
    normal = np.delete(flags, 12_345)
    assert normal.mean() < 5e-4  # P(|N(0,1)| > 4) = 6.3e-5; a 250-value window adds noise
    assert not flags[:250].any()


def test_current_value_is_judged_against_the_past_window() -> None:
    x = np.r_[np.tile([0.0, 0.1], 25), 5.0]  # inside its own window 5.0 would be diluted
    assert an.robust_zscore_flags(x, window=50, threshold=3.5)[-1]


def test_robust_zscore_no_lookahead() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal(3000)
    z = an.robust_zscore(x, window=100)
    for t in (150, 1700, 2999):
        changed = x.copy()
        changed[t + 1 :] = rng.standard_normal(changed.size - t - 1) * 50
        np.testing.assert_array_equal(an.robust_zscore(x[: t + 1], 100), z[: t + 1])
        np.testing.assert_array_equal(an.robust_zscore(changed, 100)[: t + 1], z[: t + 1])


def test_nan_is_never_flagged() -> None:
    x = np.r_[np.zeros(20), np.nan, np.zeros(5), 10.0]
    flags = an.robust_zscore_flags(x, window=10)
    assert not flags[20]
    assert not flags[26]  # a window holding nan gives nan, not a flag
    assert an.robust_zscore_flags(np.r_[x, np.zeros(10), 10.0], window=10)[-1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 1}, "expected window to be an integer >= 2"),
        ({"window": 5, "threshold": 0.0}, "expected threshold > 0"),
        ({"window": 5, "min_scale": 0.0}, "expected min_scale > 0"),
    ],
)
def test_robust_zscore_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        an.robust_zscore_flags(np.zeros(10), **kwargs)  # type: ignore[arg-type]


# --- isolation forest -----------------------------------------------------------------------


def feature_rows(n: int, seed: int) -> np.ndarray:
    """Correlated Gaussian feature vectors (5 features)."""
    rng = np.random.default_rng(seed)
    mixing = np.array([[1.0, 0.5, 0, 0, 0], [0, 1, 0.3, 0, 0], [0, 0, 1, 0, 0.2]] + [[0] * 5] * 2)
    mixing[3, 3] = mixing[4, 4] = 1.0
    return rng.standard_normal((n, 5)) @ mixing


def test_isolation_forest_false_positive_rate_near_the_contamination() -> None:
    past, future = feature_rows(4000, seed=1), feature_rows(4000, seed=2)
    detector = IsolationForestDetector(contamination=0.05, seed=7).fit(past)
    rate = detector.is_anomaly(future).mean()
    assert 0.025 < rate < 0.085


def test_isolation_forest_flags_an_injected_outlier() -> None:
    detector = IsolationForestDetector(contamination=0.01, seed=7).fit(feature_rows(3000, 1))
    rows = feature_rows(200, seed=3)
    rows[50] = [6.0, -6.0, 6.0, -6.0, 6.0]
    flags = detector.is_anomaly(rows)
    assert flags[50]
    scores = detector.score(rows)
    assert scores[50] == scores.max()
    assert scores[50] > detector.threshold
    assert detector.is_anomaly(rows[50]).tolist() == [True]  # one row as a 1-d vector


def test_isolation_forest_is_deterministic_with_the_seed() -> None:
    past, rows = feature_rows(2000, 1), feature_rows(300, 4)
    first = IsolationForestDetector(seed=11).fit(past).score(rows)
    again = IsolationForestDetector(seed=11).fit(past).score(rows)
    other = IsolationForestDetector(seed=12).fit(past).score(rows)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_isolation_forest_scores_do_not_depend_on_later_rows() -> None:
    # Fitted on the past only: scoring row t alone or within a larger batch is identical.
    detector = IsolationForestDetector(seed=7).fit(feature_rows(1000, 1))
    rows = feature_rows(100, 5)
    np.testing.assert_array_equal(detector.score(rows[:40]), detector.score(rows)[:40])


def test_isolation_forest_misuse() -> None:
    with pytest.raises(RuntimeError, match="expected a fitted detector"):
        IsolationForestDetector().score(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="expected 0 < contamination <= 0.5"):
        IsolationForestDetector(contamination=0.0)
    detector = IsolationForestDetector().fit(feature_rows(100, 1))
    with pytest.raises(ValueError, match="expected 5 features per row; received 3"):
        detector.score(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="expected a finite 2-d feature matrix"):
        detector.score(np.full((1, 5), np.nan))


# --- tick anomalies -------------------------------------------------------------------------


def ticks(n: int = 5000, seed: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EURUSD-like quotes: mid moves by 0 or ±1 point (many zero returns), spreads 1.0 to 1.2
    pips, exponential inter-arrival times in milliseconds."""
    rng = np.random.default_rng(seed)
    mid = 1.1 + np.cumsum(rng.choice([-1, 0, 0, 1], n)) * 1e-5
    spread = 1e-4 + rng.integers(0, 3, n) * 1e-5
    ts = 1_700_000_000_000 + np.cumsum(rng.exponential(250.0, n)).astype(np.int64)
    return mid - spread / 2, mid + spread / 2, ts


def test_tick_flags_spread_blowout_jump_and_gap_at_their_ticks() -> None:
    bid, ask, ts = ticks()
    ask[1000] += 2e-3  # spread 20 pips
    bid[2000:] += 5e-4  # mid jumps 5 pips (ask moves with it)
    ask[2000:] += 5e-4
    ts[3000:] += 120_000  # two minutes without ticks
    flags = an.tick_anomalies(bid, ask, ts)
    assert np.flatnonzero(flags.spread_blowout).tolist() == [1000]
    assert np.flatnonzero(flags.time_gap).tolist() == [3000]
    assert 2000 in np.flatnonzero(flags.price_jump)
    assert flags.price_jump.sum() <= 3  # the spike at 1000 moves the mid too
    assert flags.any.sum() <= 5


def test_normal_ticks_are_rarely_flagged() -> None:
    flags = an.tick_anomalies(*ticks(20_000, seed=4))
    assert flags.any.mean() < 1e-3


def test_absolute_gap_threshold_and_warm_up() -> None:
    bid, ask, ts = ticks(300)
    ts[5:] += 10_000
    assert np.flatnonzero(an.tick_anomalies(bid, ask, ts, max_gap=5_000).time_gap).tolist() == [5]
    assert not an.tick_anomalies(bid, ask, ts).time_gap[:101].any()  # median needs 100 gaps


def test_tick_flags_no_lookahead() -> None:
    bid, ask, ts = ticks(4000)
    full = an.tick_anomalies(bid, ask, ts, window=50)
    t = 2500
    later = np.arange(t + 1, bid.size)
    bid2, ask2, ts2 = bid.copy(), ask.copy(), ts.copy()
    bid2[later] -= 3e-3
    ask2[later] += 3e-3
    ts2[later] += 10_000_000
    changed = an.tick_anomalies(bid2, ask2, ts2, window=50)
    for name in ("spread_blowout", "price_jump", "time_gap"):
        expected = getattr(full, name)[: t + 1]
        np.testing.assert_array_equal(getattr(changed, name)[: t + 1], expected, err_msg=name)
        prefix = an.tick_anomalies(bid[: t + 1], ask[: t + 1], ts[: t + 1], window=50)
        np.testing.assert_array_equal(getattr(prefix, name), expected, err_msg=name)


def test_tick_anomalies_bad_arguments() -> None:
    with pytest.raises(ValueError, match="expected bid, ask, ts of equal length"):
        an.tick_anomalies([1.0, 1.1], [1.0], [1, 2])
    with pytest.raises(ValueError, match="expected spread_factor and gap_factor > 1"):
        an.tick_anomalies([1.0], [1.1], [1], spread_factor=1.0)


def test_bar_returns_on_market_data_flag_few_bars() -> None:
    # GARCH-like returns: fat tails and volatility clusters; a 6-sigma robust threshold
    # flags a small share, far from "everything volatile".
    close = make_ohlcv(3000).close
    returns = np.diff(np.log(close))
    rate = an.robust_zscore_flags(returns, window=200, threshold=6.0).mean()
    assert rate < 0.01
