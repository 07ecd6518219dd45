"""Walk-forward with per-window retraining on bars without a spread (an OHLCV CSV import).

Regression: the window trainer filled the unknown spread with 0, the dataset dropped the
dead spread feature and the bundle took 32 inputs, while scoring built the 33 features of
``fx-core@1`` on the NaN spread ("expected a bundle for 33 features; received one for 32").
Training and scoring now see the same bars (spread 0 where unknown) and the bundle takes
the feature set's full vector, ignoring the dropped input.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chainflow.backtest.data import load_file
from chainflow.backtest.ml_strategy import MlStrategy, feature_rows, with_known_spread
from chainflow.backtest.model_training import WindowModelTrainer
from chainflow.backtest.types import BacktestConfig
from chainflow.backtest.walkforward import walk_forward
from chainflow.backtest.walkforward_types import TrainedModel
from chainflow.cli import app
from chainflow.core.market import BarSeries, Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from chainflow.features.api import get_feature_set

IN_SAMPLE = 600
OUT_OF_SAMPLE = 200
FEATURES = get_feature_set("fx-core@1")
SPREAD_COLUMN = FEATURES.names.index("rel_spread_bps")


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample EURUSD M15 bars as ``chainflow sample-data --format csv`` writes: no spread."""
    out = tmp_path_factory.mktemp("sample")
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=20),
        out,
        kinds=(SampleFileKind.OHLCV_CSV,),
        timeframe=Timeframe.M15,
    )
    return out / "EURUSD_M15.csv"


@pytest.fixture(scope="module")
def bars(csv_file: Path) -> BarSeries:
    loaded = load_file(csv_file)
    assert not loaded.has_spread  # the CSV import: spread NaN on every bar
    return loaded


class RecordingTrainer:
    """The real ``WindowModelTrainer``, keeping every strategy it builds."""

    def __init__(self) -> None:
        self.trainer = WindowModelTrainer(horizon=6, threads=1)
        self.built: list[MlStrategy] = []

    def __call__(self, bars: BarSeries, *, seed: int) -> TrainedModel:
        trained = self.trainer(bars, seed=seed)

        def build() -> MlStrategy:
            strategy = trained.build()
            self.built.append(strategy)
            return strategy

        return replace(trained, build=build)


class TestWalkForwardOnBarsWithoutSpread:
    def test_completes_with_scored_out_of_sample_windows_and_trades(self, bars: BarSeries) -> None:
        trainer = RecordingTrainer()

        result = walk_forward(
            bars,
            "ml",
            {},
            in_sample=IN_SAMPLE,
            out_of_sample=OUT_OF_SAMPLE,
            config=BacktestConfig(),
            trainer=trainer,
            workers=1,
        )

        assert len(result.windows) == (len(bars) - IN_SAMPLE) // OUT_OF_SAMPLE >= 3
        for window in result.windows:
            assert window.training is not None and window.training.rows >= 50
            assert window.training.label_end_ts <= window.is_to_ts < window.oos_from_ts
            assert window.oos_equity.shape == (OUT_OF_SAMPLE,)
            assert math.isfinite(window.oos_metrics["return_pct"])
        # two strategies per window (in-sample, then in-sample + out-of-sample block):
        # every bar after the features' warm-up got a prediction, so the block is scored
        assert len(trainer.built) == 2 * len(result.windows)
        for oos_strategy in trainer.built[1::2]:
            scored = len(oos_strategy.scored_probabilities)
            assert scored == IN_SAMPLE + OUT_OF_SAMPLE - FEATURES.warmup_bars + 1
        assert sum(w.oos_trades for w in result.windows) > 0
        assert len(result.equity) == OUT_OF_SAMPLE * len(result.windows)
        assert math.isfinite(result.final_equity) and result.final_equity != 10_000.0
        assert {"sharpe", "max_drawdown_pct", "return_pct"} <= set(result.oos_metrics)
        assert result.to_json()["windows"] == len(result.windows)

    def test_the_bundle_takes_the_full_vector_and_ignores_the_dropped_spread(
        self, bars: BarSeries
    ) -> None:
        in_sample = bars.slice(0, IN_SAMPLE)
        strategy = WindowModelTrainer(horizon=6, threads=1)(in_sample, seed=0).build()
        assert strategy.bundle.n_features == len(FEATURES.names) == 33
        assert strategy.unknown_spread == 0.0

        features = feature_rows(with_known_spread(in_sample, 0.0))
        rows = features[np.all(np.isfinite(features), axis=1)]
        assert len(rows) > 0 and np.all(rows[:, SPREAD_COLUMN] == 0.0)
        moved = rows.copy()
        moved[:, SPREAD_COLUMN] = 25.0  # a 25 bps spread the model never saw
        before = strategy.bundle.predict(rows).probabilities
        after = strategy.bundle.predict(moved).probabilities
        np.testing.assert_array_equal(before, after)

    def test_bars_with_a_spread_are_scored_on_their_own_spread(self, bars: BarSeries) -> None:
        rng = np.random.default_rng(3)
        with_spread = with_known_spread(bars, 0.0)
        priced = BarSeries.from_arrays(
            ts=with_spread.ts,
            open=with_spread.open,
            high=with_spread.high,
            low=with_spread.low,
            close=with_spread.close,
            volume=with_spread.volume,
            spread=rng.uniform(0.00005, 0.0002, len(bars)),
            symbol=bars.symbol,
            timeframe=bars.timeframe,
        )
        strategy = WindowModelTrainer(horizon=6)(priced.slice(0, IN_SAMPLE), seed=0).build()
        assert strategy.unknown_spread is None  # no fill: the spread is a real input
        assert strategy.bundle.n_features == len(FEATURES.names)


class TestWalkForwardCommand:
    def test_ml_walk_forward_on_a_csv_without_spread(self, csv_file: Path) -> None:
        result = CliRunner().invoke(
            app,
            [
                "walkforward",
                "--data",
                str(csv_file),
                "--strategy",
                "ml",
                "--param",
                "horizon=6",
                "--in-sample",
                str(IN_SAMPLE),
                "--out-of-sample",
                str(OUT_OF_SAMPLE),
                "--workers",
                "1",
                "--json",
            ],
            env={"COLUMNS": "200"},
        )

        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        windows = data["window_results"]
        assert data["windows"] == len(windows) >= 3
        assert sum(w["oos_trades"] for w in windows) > 0
        for window in windows:
            assert window["training"]["label_end_ts"] <= window["is_to_ts"]
            assert window["is_to_ts"] < window["oos_from_ts"]
