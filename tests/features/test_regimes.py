"""Regime detection: probabilities, synthetic regimes, stream == batch, no lookahead,
restart by replay, snapshot/restore, bad input."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pytest

from chainflow.features.batch.volatility import rv_close_to_close
from chainflow.features.regime_models import LogRealizedVolatility
from chainflow.features.regimes import (
    TREND_COLUMNS,
    VOLATILITY_COLUMNS,
    RegimeChange,
    RegimeConfig,
    RegimeDetector,
    RegimeFrame,
    RegimeState,
    TrendRegime,
    VolatilityRegime,
    detect_regimes,
    regime_changes,
)
from tests.fixtures.market_data import OHLCV, make_ohlcv

TIMEFRAME_MS = 300_000
SIZE = 6000
DATA = make_ohlcv(SIZE, seed=7)
# Small fit windows keep the file fast; the boundary period (200 bars) is not a divisor of
# the fixture's start time, so the first boundary is mid-series.
CONFIG = RegimeConfig(fit_window=600, min_fit_values=300, refit_every_bars=200)


def run_stream(
    data: OHLCV,
    start: int = 0,
    stop: int | None = None,
    detector: RegimeDetector | None = None,
    config: RegimeConfig = CONFIG,
) -> list[RegimeState]:
    detector = detector or RegimeDetector(config, TIMEFRAME_MS)
    stop = len(data.close) if stop is None else stop
    return [
        detector.update(int(data.ts_ms[i]), data.high[i], data.low[i], data.close[i])
        for i in range(start, stop)
    ]


def run_batch(data: OHLCV, config: RegimeConfig = CONFIG) -> RegimeFrame:
    return detect_regimes(
        data.ts_ms, data.high, data.low, data.close, config=config, timeframe_ms=TIMEFRAME_MS
    )


def trend_matrix(states: Sequence[RegimeState]) -> np.ndarray:
    return np.array([[s.trend_probabilities[k] for k in TREND_COLUMNS] for s in states])


def volatility_matrix(states: Sequence[RegimeState]) -> np.ndarray:
    return np.array([[s.volatility_probabilities[k] for k in VOLATILITY_COLUMNS] for s in states])


def assert_same_states(first: Sequence[RegimeState], second: Sequence[RegimeState]) -> None:
    assert len(first) == len(second)
    assert [s.ts for s in first] == [s.ts for s in second]
    assert [s.trend for s in first] == [s.trend for s in second]
    assert [s.volatility for s in first] == [s.volatility for s in second]
    for matrix in (trend_matrix, volatility_matrix):
        np.testing.assert_allclose(matrix(first), matrix(second), rtol=1e-9, atol=1e-15)


def frame_states(frame: RegimeFrame, start: int = 0, stop: int | None = None) -> list[RegimeState]:
    stop = len(frame) if stop is None else stop
    return [frame.state(i) for i in range(start, stop)]


def make_bars(close: np.ndarray, sigma: np.ndarray | float, seed: int) -> OHLCV:
    """Consistent OHLC bars around ``close`` with wicks of about ``sigma`` (relative)."""
    rng = np.random.default_rng(seed)
    size = close.size
    open_ = np.concatenate([[close[0]], close[:-1]])
    wicks = np.abs(rng.standard_normal((2, size))) * sigma * close * 0.5
    high = np.maximum(open_, close) + wicks[0]
    low = np.minimum(open_, close) - wicks[1]
    ts_ms = 1_700_000_000_000 + np.arange(size, dtype=np.int64) * TIMEFRAME_MS
    return OHLCV(open_, high, low, close, np.ones(size), ts_ms)


def random_walk(size: int, drift: float, sigma: np.ndarray | float, seed: int) -> OHLCV:
    """Log random walk with per-bar volatility ``sigma`` and drift ``drift * sigma``."""
    rng = np.random.default_rng(seed)
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (size,))
    close = 100.0 * np.exp(np.cumsum(drift * sig + sig * rng.standard_normal(size)))
    return make_bars(close, sig, seed + 1)


@pytest.fixture(scope="module")
def stream_states() -> list[RegimeState]:
    return run_stream(DATA)


@pytest.fixture(scope="module")
def batch_frame() -> RegimeFrame:
    return run_batch(DATA)


class TestRegimeConfig:
    def test_defaults_are_the_documented_ones(self) -> None:
        config = RegimeConfig()
        assert (config.adx_period, config.atr_period, config.ema_period) == (14, 14, 50)
        assert (config.slope_lookback, config.volatility_period) == (10, 20)
        assert (config.fit_window, config.min_fit_values, config.refit_every_bars) == (
            2000,
            500,
            288,
        )
        assert json.loads(json.dumps(config.to_dict())) == config.to_dict()

    @pytest.mark.parametrize(
        "changes",
        [
            {"adx_period": 1},
            {"ema_period": 0},
            {"ema_period": 2.5},
            {"slope_lookback": 0},
            {"volatility_period": True},
            {"adx_width": 0.0},
            {"slope_scale": -1.0},
            {"slope_scale": math.inf},
            {"min_volatility": 0.0},
            {"adx_threshold": 120.0},
            {"min_fit_values": 5},
            {"fit_window": 400, "min_fit_values": 500},
            {"refit_every_bars": 0},
            {"random_state": -1},
        ],
    )
    def test_bad_values_are_rejected(self, changes: dict[str, object]) -> None:
        with pytest.raises(ValueError, match="expected .*; received"):
            RegimeConfig(**changes)  # type: ignore[arg-type]

    def test_replay_bars_cover_the_fit_window_and_the_schedule(self) -> None:
        config = RegimeConfig()
        needed = RegimeDetector(config, TIMEFRAME_MS).replay_bars_needed
        assert needed >= config.volatility_period + config.fit_window + config.refit_every_bars


class TestProbabilities:
    def test_trend_probabilities_are_a_distribution_with_argmax_label(
        self, stream_states: list[RegimeState]
    ) -> None:
        ready = [s for s in stream_states if s.trend is not None]
        assert len(ready) == SIZE - (CONFIG.ema_period + CONFIG.slope_lookback - 1)
        p = trend_matrix(ready)
        assert ((p >= 0.0) & (p <= 1.0)).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
        assert [s.trend for s in ready] == [TREND_COLUMNS[i] for i in p.argmax(axis=1)]
        assert {s.trend for s in ready} == set(TrendRegime)

    def test_volatility_probabilities_are_a_distribution_with_argmax_label(
        self, stream_states: list[RegimeState]
    ) -> None:
        ready = [s for s in stream_states if s.volatility is not None]
        assert len(ready) > SIZE - 2 * CONFIG.fit_window
        p = volatility_matrix(ready)
        assert ((p >= 0.0) & (p <= 1.0)).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
        assert [s.volatility for s in ready] == [VOLATILITY_COLUMNS[i] for i in p.argmax(axis=1)]
        assert {s.volatility for s in ready} == set(VolatilityRegime)

    def test_warm_up_is_none_with_nan_probabilities(self, stream_states: list[RegimeState]) -> None:
        first = stream_states[0]
        assert first.trend is None and first.volatility is None
        assert all(math.isnan(v) for v in first.trend_probabilities.values())
        assert all(math.isnan(v) for v in first.volatility_probabilities.values())
        # Before the first fit the volatility is unknown even once the trend is known.
        assert any(s.trend is not None and s.volatility is None for s in stream_states)

    def test_to_dict_is_strict_json(self, stream_states: list[RegimeState]) -> None:
        for state in (stream_states[0], stream_states[-1]):
            data = json.loads(json.dumps(state.to_dict(), allow_nan=False))
            assert data["ts"] == state.ts
            assert set(data["trend_probabilities"]) == {"bull", "bear", "sideways"}
            assert set(data["volatility_probabilities"]) == {"low", "normal", "high"}
        assert stream_states[0].to_dict()["trend_probabilities"]["bull"] is None
        assert stream_states[-1].to_dict()["volatility"] in {"low", "normal", "high"}


class TestTrend:
    @pytest.mark.parametrize(
        ("drift", "expected"),
        [(0.3, TrendRegime.BULL), (-0.3, TrendRegime.BEAR)],
        ids=["uptrend", "downtrend"],
    )
    def test_strong_trend_is_detected(self, drift: float, expected: TrendRegime) -> None:
        frame = run_batch(random_walk(3000, drift, 1e-3, seed=1))
        labels = frame.trend[100:]
        assert np.mean(labels == expected) > 0.8

    def test_flat_noise_is_sideways(self) -> None:
        rng = np.random.default_rng(3)
        close = 100.0 * (1.0 + 1e-3 * rng.standard_normal(3000))
        frame = run_batch(make_bars(close, 1e-3, seed=4))
        assert np.mean(frame.trend[100:] == TrendRegime.SIDEWAYS) > 0.8

    def test_flat_bars_give_valid_probabilities(self) -> None:
        close = np.full(400, 1.1)
        frame = run_batch(make_bars(close, 0.0, seed=5))
        states = run_stream(make_bars(close, 0.0, seed=5))
        assert_same_states(states, frame_states(frame))
        assert states[-1].trend is TrendRegime.SIDEWAYS
        # All returns are 0: no three distinct log volatilities, hence no fit.
        assert states[-1].volatility is None


class TestVolatility:
    def test_calm_is_low_and_turbulent_is_high(self) -> None:
        sigma = np.repeat([2e-4, 2e-3] * 3, 1000)  # calm, turbulent, ... in 1000-bar blocks
        data = random_walk(6000, 0.0, sigma, seed=7)
        config = RegimeConfig(fit_window=2000, min_fit_values=1000, refit_every_bars=250)
        labels = run_batch(data, config).volatility
        assert (labels[:1000] == None).all()  # noqa: E711 (element-wise on an object array)
        # Once the fit window holds both kinds of stretch; skip the window's transition.
        expected_labels = (VolatilityRegime.HIGH, VolatilityRegime.LOW, VolatilityRegime.HIGH)
        for block, expected in zip(range(3, 6), expected_labels, strict=True):
            segment = labels[block * 1000 + config.volatility_period : (block + 1) * 1000]
            assert np.mean(segment == expected) > 0.9

    def test_feature_is_the_batch_realized_volatility(self) -> None:
        feature = LogRealizedVolatility(20, 1e-10)
        values = np.array([feature.update(c) for c in DATA.close.tolist()])
        np.testing.assert_allclose(
            np.exp(values), rv_close_to_close(DATA.close, 20), rtol=1e-12, equal_nan=True
        )

    def test_fit_uses_only_bars_before_the_boundary(self) -> None:
        first = RegimeDetector(CONFIG, TIMEFRAME_MS)
        boundary = 0
        while first.mixture is None:
            run_stream(DATA, boundary, boundary + 1, first)
            boundary += 1
        boundary -= 1  # the bar whose update made the first fit
        # Same bars up to the boundary bar, which differs: the fit made there is the same.
        other = DATA.perturbed_after(boundary - 1)
        one, two = RegimeDetector(CONFIG, TIMEFRAME_MS), RegimeDetector(CONFIG, TIMEFRAME_MS)
        run_stream(DATA, 0, boundary + 1, one)
        run_stream(other, 0, boundary + 1, two)
        assert one.mixture is not None and one.mixture == two.mixture
        assert DATA.close[boundary] != other.close[boundary]


class TestStreamEqualsBatch:
    def test_all_bars_match(
        self, stream_states: list[RegimeState], batch_frame: RegimeFrame
    ) -> None:
        assert_same_states(stream_states, frame_states(batch_frame))

    def test_frame_shapes(self, batch_frame: RegimeFrame) -> None:
        assert len(batch_frame) == SIZE
        assert batch_frame.trend_probabilities.shape == (SIZE, 3)
        assert batch_frame.volatility_probabilities.shape == (SIZE, 3)
        assert batch_frame.trend.dtype == object and batch_frame.volatility.dtype == object


class TestNoLookahead:
    @pytest.mark.parametrize("t", [1500, 3999, 4700])
    def test_perturbing_later_bars_leaves_earlier_states(
        self, t: int, stream_states: list[RegimeState], batch_frame: RegimeFrame
    ) -> None:
        changed = DATA.perturbed_after(t)
        assert_same_states(stream_states[: t + 1], run_stream(changed, 0, t + 1))
        changed_frame = run_batch(changed)
        assert_same_states(
            frame_states(batch_frame, 0, t + 1), frame_states(changed_frame, 0, t + 1)
        )
        later = slice(t + 1, None)
        assert not np.array_equal(
            batch_frame.volatility_probabilities[later],
            changed_frame.volatility_probabilities[later],
            equal_nan=True,
        )


class TestRestart:
    @pytest.mark.parametrize("n", [3000, 4200, 4517])
    def test_replaying_the_needed_bars_gives_the_same_states(
        self, n: int, stream_states: list[RegimeState]
    ) -> None:
        replayed = RegimeDetector(CONFIG, TIMEFRAME_MS)
        start = n - replayed.replay_bars_needed
        assert start > 0
        run_stream(DATA, start, n, replayed)
        assert_same_states(stream_states[n:], run_stream(DATA, n, detector=replayed))

    def test_default_config_replay_gives_the_same_states(self) -> None:
        config = RegimeConfig(refit_every_bars=100)
        data = make_ohlcv(4000, seed=11)
        needed = RegimeDetector(config, TIMEFRAME_MS).replay_bars_needed
        n = 3900
        whole = run_stream(data, config=config)
        replayed = RegimeDetector(config, TIMEFRAME_MS)
        run_stream(data, n - needed, n, replayed)
        tail = run_stream(data, n, detector=replayed)
        assert_same_states(whole[n:], tail)
        assert tail[-1].volatility is not None


class TestSnapshot:
    @pytest.mark.parametrize("cut", [0, 5, 250, 2345])
    def test_json_round_trip_continues_identically(
        self, cut: int, stream_states: list[RegimeState]
    ) -> None:
        first = RegimeDetector(CONFIG, TIMEFRAME_MS)
        run_stream(DATA, 0, cut, first)
        text = json.dumps(first.snapshot(), allow_nan=False)
        second = RegimeDetector(CONFIG, TIMEFRAME_MS)
        second.restore(json.loads(text))
        assert second.count == cut and second.mixture == first.mixture
        rest = run_stream(DATA, cut, cut + 1500, second)
        expected = stream_states[cut : cut + 1500]
        assert [(s.trend, s.volatility) for s in rest] == [
            (s.trend, s.volatility) for s in expected
        ]
        for matrix in (trend_matrix, volatility_matrix):  # identical, not just close
            np.testing.assert_array_equal(matrix(rest), matrix(expected))

    def test_restore_rejects_another_config(self) -> None:
        snapshot = RegimeDetector(CONFIG, TIMEFRAME_MS).snapshot()
        with pytest.raises(ValueError, match="expected a RegimeDetector snapshot"):
            RegimeDetector(RegimeConfig(), TIMEFRAME_MS).restore(snapshot)
        with pytest.raises(ValueError, match="expected a RegimeDetector snapshot"):
            RegimeDetector(CONFIG, 60_000).restore(snapshot)


class TestRegimeChanges:
    def make(self, trend: TrendRegime | None, volatility: VolatilityRegime | None) -> RegimeState:
        return RegimeState(1, trend, {}, volatility, {})

    def test_first_state_reports_known_labels(self) -> None:
        current = self.make(TrendRegime.BULL, None)
        assert regime_changes(None, current) == [RegimeChange("trend", None, "bull")]

    def test_only_changed_dimensions_are_reported(self) -> None:
        before = self.make(TrendRegime.BULL, VolatilityRegime.LOW)
        assert regime_changes(before, before) == []
        after = self.make(TrendRegime.BULL, VolatilityRegime.HIGH)
        assert regime_changes(before, after) == [("volatility", "low", "high")]

    def test_changes_along_a_series(self, stream_states: list[RegimeState]) -> None:
        changes = [
            c
            for previous, current in zip([None, *stream_states[:-1]], stream_states, strict=True)
            for c in regime_changes(previous, current)
        ]
        assert {c.dimension for c in changes} == {"trend", "volatility"}
        assert all(c.previous != c.current for c in changes)


class TestBadInput:
    def test_ts_not_increasing_is_rejected(self) -> None:
        detector = RegimeDetector(CONFIG, TIMEFRAME_MS)
        detector.update(1_000, 1.1, 1.0, 1.05)
        for ts in (1_000, 999):
            with pytest.raises(ValueError, match="expected ts greater .*; received"):
                detector.update(ts, 1.1, 1.0, 1.05)
        assert detector.count == 1

    @pytest.mark.parametrize(
        "bar", [(1.0, 1.1, 1.05), (1.1, 1.0, 0.0), (1.1, 1.0, math.nan), (math.inf, 1.0, 1.05)]
    )
    def test_bad_bar_is_rejected(self, bar: tuple[float, float, float]) -> None:
        detector = RegimeDetector(CONFIG, TIMEFRAME_MS)
        with pytest.raises(ValueError, match="expected .*; received"):
            detector.update(1_000, *bar)
        assert detector.count == 0 and detector.last_ts is None

    @pytest.mark.parametrize("timeframe_ms", [0, -5, 1.5])
    def test_bad_timeframe_is_rejected(self, timeframe_ms: object) -> None:
        with pytest.raises(ValueError, match="expected timeframe_ms .*; received"):
            RegimeDetector(CONFIG, timeframe_ms)  # type: ignore[arg-type]

    def test_batch_rejects_unordered_ts_and_bad_shapes(self) -> None:
        ts = DATA.ts_ms[:100].copy()
        ts[50] = ts[49]
        h, lo, c = DATA.high[:100], DATA.low[:100], DATA.close[:100]
        with pytest.raises(ValueError, match="expected strictly increasing ts; received"):
            detect_regimes(ts, h, lo, c, config=CONFIG, timeframe_ms=TIMEFRAME_MS)
        with pytest.raises(ValueError, match="expected four 1-D arrays .*; received"):
            detect_regimes(ts[:99], h, lo, c, config=CONFIG, timeframe_ms=TIMEFRAME_MS)
        bad = c.copy()
        bad[10] = -1.0
        with pytest.raises(ValueError, match="expected close > 0"):
            detect_regimes(DATA.ts_ms[:100], h, lo, bad, config=CONFIG, timeframe_ms=TIMEFRAME_MS)
