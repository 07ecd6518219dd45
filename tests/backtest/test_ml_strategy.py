"""The ML strategy: past-only feature rows, per-row scoring, ModelStrategy decisions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from chainflow.backtest.api import run_backtest
from chainflow.backtest.ml_strategy import (
    MlStrategy,
    PredictionStrategy,
    feature_rows,
    predict_rows,
)
from chainflow.backtest.types import BacktestConfig
from chainflow.features.api import get_feature_set
from chainflow.trading.api import TradingPreferences
from tests.backtest.builders import random_walk_bars

UP = (0.05, 0.05, 0.9)
DOWN = (0.9, 0.05, 0.05)


@dataclass
class Output:
    probabilities: np.ndarray
    volatility: np.ndarray
    momentum: np.ndarray


class SignOfFirstFeature:
    """A stand-in model: up when the first feature is positive, else down."""

    def __init__(self, n_features: int, window: int = 1) -> None:
        self.n_features = n_features
        self.window = window
        self.calls = 0

    def predict(self, features: np.ndarray) -> Output:
        self.calls += 1
        last = features[:, -1, :] if features.ndim == 3 else features
        up = last[:, 0] > 0
        p = np.where(up[:, None], np.array(UP), np.array(DOWN)).astype(np.float32)
        return Output(p, np.full(len(p), 0.001), np.where(up, 1.0, -1.0))


def n_features() -> int:
    return len(get_feature_set("fx-core@1").names)


class TestPredictRows:
    def test_warm_up_rows_have_no_prediction(self) -> None:
        features = feature_rows(random_walk_bars(400, 1, with_spread=True))
        probabilities, _, momentum = predict_rows(SignOfFirstFeature(n_features()), features)
        finite = np.all(np.isfinite(features), axis=1)
        assert np.isnan(probabilities[~finite]).all() and finite.sum() > 100
        assert np.allclose(probabilities[finite].sum(axis=1), 1.0)
        assert np.array_equal(momentum[finite] > 0, features[finite, 0] > 0)

    def test_windows_need_window_finite_rows(self) -> None:
        features = np.array([[np.nan], [1.0], [2.0], [-1.0]])
        probabilities, _, _ = predict_rows(SignOfFirstFeature(1, window=2), features)
        assert np.isnan(probabilities[:2]).all()
        assert probabilities[2].tolist() == pytest.approx(UP)
        assert probabilities[3].tolist() == pytest.approx(DOWN)

    def test_feature_count_mismatch_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected a bundle for 2 features"):
            predict_rows(SignOfFirstFeature(3), np.zeros((4, 2)))

    def test_rows_on_a_prefix_equal_the_full_rows(self) -> None:
        bars = random_walk_bars(500, 2)
        full = feature_rows(bars)
        np.testing.assert_array_equal(feature_rows(bars.slice(0, 300)), full[:300])


class TestMlStrategy:
    def test_trades_follow_the_model_with_model_strategy(self) -> None:
        bars = random_walk_bars(600, 3, with_spread=True)
        bundle = SignOfFirstFeature(n_features())
        strategy = MlStrategy.from_bundle(bundle, TradingPreferences(risk_tolerance="aggressive"))
        result = run_backtest(bars, strategy, config=BacktestConfig(long_only=True))
        assert result.engine == "event" and bundle.calls >= 1
        assert len(result.trades) > 5
        features = feature_rows(bars)
        for trade in result.trades:
            assert features[trade.entry_index - 1, 0] > 0  # decided on an "up" bar

    def test_prediction_strategy_is_model_independent(self) -> None:
        bars = random_walk_bars(50, 4)
        probabilities = np.tile(np.array(UP), (50, 1))
        probabilities[:10] = np.nan  # no prediction yet: hold
        strategy = PredictionStrategy(ts=bars.ts, probabilities=probabilities)
        result = run_backtest(bars, strategy)
        (trade,) = result.trades
        assert (trade.side, trade.entry_index, trade.exit_reason) == ("long", 11, "end")

    def test_prediction_shape_is_checked(self) -> None:
        with pytest.raises(ValueError, match=r"expected probabilities of shape \(3, 3\)"):
            PredictionStrategy(ts=np.arange(3), probabilities=np.zeros((3, 2)))
