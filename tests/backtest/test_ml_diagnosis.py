"""Why an ML backtest made no trade: each cause is named with its figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chainflow.backtest.api import run_backtest
from chainflow.backtest.ml_diagnosis import no_trade_notes
from chainflow.backtest.ml_strategy import MlStrategy
from chainflow.backtest.model_source import RegisteredModel
from chainflow.core.market import BarSeries
from chainflow.features.api import get_feature_set
from chainflow.trading.api import TradingPreferences
from tests.backtest.builders import random_walk_bars

FEATURES = len(get_feature_set("fx-core@1").names)


@dataclass
class Output:
    probabilities: np.ndarray
    volatility: np.ndarray
    momentum: np.ndarray


@dataclass
class ConstantModel:
    """A stand-in bundle answering the same (down, flat, up) on every row."""

    probabilities: tuple[float, float, float]
    n_features: int = FEATURES
    window: int = 1

    def predict(self, features: np.ndarray) -> Output:
        n = len(features)
        p = np.tile(np.array(self.probabilities, dtype=np.float32), (n, 1))
        return Output(p, np.full(n, 0.001), np.zeros(n))


def _notes(probabilities: tuple[float, float, float], bars: BarSeries, timeframe: str) -> list[str]:
    bundle: Any = ConstantModel(probabilities)
    model = RegisteredModel(
        ref="fx-test@1",
        feature_set="fx-core@1",
        train_from_ts=0,
        train_to_ts=0,
        bundle=bundle,
        timeframe=timeframe,
    )
    strategy = MlStrategy.from_bundle(
        bundle, TradingPreferences(risk_tolerance="aggressive"), model=model.ref
    )
    result = run_backtest(bars, strategy)
    assert result.trades == []
    return no_trade_notes(model, strategy, bars)


class TestNoTradeNotes:
    def test_predictions_below_the_entry_bar_name_the_highest_seen(self) -> None:
        notes = _notes((0.33, 0.30, 0.37), random_walk_bars(400, 1, with_spread=True), "M1")

        (note,) = notes
        assert note.startswith("0 trades: every prediction was below the entry bar (aggressive")
        assert "the highest confidence was 0.370 (needs >= 0.35)" in note
        assert "highest edge p(up) - p(down) 0.040 (needs >= 0.15)" in note

    def test_a_model_of_another_timeframe_is_named(self) -> None:
        notes = _notes((0.33, 0.30, 0.37), random_walk_bars(400, 1, with_spread=True), "H1")

        assert notes[0] == (
            "0 trades: model fx-test@1 was trained on H1 bars and these are M1 bars "
            "(backtest it on H1 bars, or train a M1 model)"
        )

    def test_only_flat_predictions(self) -> None:
        (note,) = _notes((0.1, 0.8, 0.1), random_walk_bars(400, 1, with_spread=True), "M1")

        assert note.startswith("0 trades: the model predicted flat on all ")

    def test_fewer_bars_than_the_warm_up(self) -> None:
        warmup = get_feature_set("fx-core@1").warmup_bars

        (note,) = _notes((0.05, 0.05, 0.9), random_walk_bars(20, 1, with_spread=True), "M1")

        assert note == (
            f"0 trades: no bar was scored: the 20 bars are fewer than the warm-up of {warmup} "
            "bars (fx-core@1 features)"
        )

    def test_bars_without_a_spread_are_never_scored(self) -> None:
        (note,) = _notes((0.05, 0.05, 0.9), random_walk_bars(400, 1), "M1")

        assert "none of the 400 bars has every fx-core@1 feature finite" in note
