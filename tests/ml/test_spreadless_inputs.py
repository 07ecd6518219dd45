"""Bars without spread: the spread input is dropped from the model, live spreads move nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chainflow.cli import app
from chainflow.core.market import BarRow, BarSeries, Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from chainflow.features.api import FeatureEngine, get_feature_set
from chainflow.ml.registry.model_registry import local_model_registry
from chainflow.ml.training.datasets import Dataset, build_dataset
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.run import TrainingConfig, TrainingResult, train_on_dataset
from chainflow.ml.training.run_parts import widen_bundle
from chainflow.ml.training.serving import ModelBundle
from chainflow.runtime.kernel import Kernel
from tests.fixtures.market_data import OHLCV, make_ohlcv
from tests.fixtures.settings import embedded_settings

FEATURE_SET = get_feature_set("fx-core@1")
SPREAD_COLUMN = FEATURE_SET.names.index("rel_spread_bps")
QUICK = ["--symbol", "EURUSD", "--timeframe", "M5", "--folds", "3", "--threads", "1"]


@pytest.fixture(scope="module")
def market() -> OHLCV:
    return make_ohlcv(1400, seed=5)


def bars_of(data: OHLCV, spread: np.ndarray) -> BarSeries:
    return BarSeries.from_arrays(
        ts=data.ts_ms,
        open=data.open,
        high=data.high,
        low=data.low,
        close=data.close,
        volume=data.volume,
        spread=spread,
    )


@pytest.fixture(scope="module")
def spreadless(market: OHLCV) -> Dataset:
    return build_dataset(bars_of(market, np.zeros(market.close.size)), FEATURE_SET, LabelSpec())


@pytest.fixture(scope="module")
def cnn(spreadless: Dataset) -> TrainingResult:
    """A neural model (window of 32 vectors) trained on bars without spread."""
    config = TrainingConfig(
        family="cnn", n_folds=2, threads=1, resamples=100, importance=False, max_seconds_per_fit=3
    )
    return train_on_dataset(spreadless, config)


def live_vectors(data: OHLCV, spread: np.ndarray) -> np.ndarray:
    """The served vectors of the bars, as the live engine computes them with ``spread``."""
    engine = FeatureEngine(FEATURE_SET)
    return np.array(
        [
            engine.update(
                BarRow(
                    int(data.ts_ms[i]),
                    float(data.open[i]),
                    float(data.high[i]),
                    float(data.low[i]),
                    float(data.close[i]),
                    float(data.volume[i]),
                    float(spread[i]),
                )
            )
            for i in range(data.close.size)
        ]
    )


class TestDataset:
    def test_zero_spread_drops_the_spread_feature_and_keeps_the_served_names(
        self, spreadless: Dataset
    ) -> None:
        assert spreadless.dropped_features == ("rel_spread_bps",)
        assert "rel_spread_bps" not in spreadless.feature_names
        assert spreadless.served_names == FEATURE_SET.names
        assert spreadless.X.shape[1] == len(FEATURE_SET.names) - 1
        assert spreadless.describe()["dropped_features"] == ["rel_spread_bps"]

    def test_a_known_spread_keeps_every_feature(self, market: OHLCV) -> None:
        spread = np.full(market.close.size, 1.2e-4)
        ds = build_dataset(bars_of(market, spread), FEATURE_SET, LabelSpec())
        assert ds.feature_names == FEATURE_SET.names and ds.dropped_features == ()


class TestNeuralModel:
    def test_bundle_takes_the_served_vector_and_records_what_it_uses(
        self, cnn: TrainingResult, spreadless: Dataset
    ) -> None:
        bundle = ModelBundle(cnn.onnx)
        assert (bundle.window, bundle.n_features) == (32, len(FEATURE_SET.names))
        assert bundle.metadata["dropped_features"] == "rel_spread_bps"
        assert bundle.metadata["model_features"].split(",") == list(spreadless.feature_names)
        assert bundle.metadata["features"].split(",") == list(FEATURE_SET.names)
        assert bundle.metadata["fingerprint"] == FEATURE_SET.fingerprint  # serving unchanged
        assert "rel_spread_bps" not in cnn.feature_stats

    def test_live_spreads_do_not_move_the_output(self, cnn: TrainingResult, market: OHLCV) -> None:
        rng = np.random.default_rng(11)
        calm = live_vectors(market, np.full(market.close.size, 0.8e-4))
        wild = live_vectors(market, rng.uniform(0.5e-4, 30e-4, market.close.size))
        differ = np.abs(calm[:, SPREAD_COLUMN] - wild[:, SPREAD_COLUMN])[-200:]
        assert np.isfinite(differ).all() and differ.min() > 0  # the served input does vary
        others = np.delete(np.arange(calm.shape[1]), SPREAD_COLUMN)
        np.testing.assert_array_equal(calm[:, others], wild[:, others])
        bundle = ModelBundle(cnn.onnx)
        ends = np.arange(calm.shape[0] - 150, calm.shape[0])
        windows = [np.stack([v[e - 31 : e + 1] for e in ends]) for v in (calm, wild)]
        first, second = (bundle.predict(w) for w in windows)
        np.testing.assert_array_equal(first.probabilities, second.probabilities)
        np.testing.assert_array_equal(first.volatility, second.volatility)
        np.testing.assert_array_equal(first.momentum, second.momentum)

    def test_widened_bundle_equals_the_model_on_its_columns(self, cnn: TrainingResult) -> None:
        # widening a widened bundle again: its input picks the used columns of a wider one
        served = (*FEATURE_SET.names, "extra")
        wider = ModelBundle(widen_bundle(cnn.onnx, served, FEATURE_SET.names))
        assert wider.metadata["dropped_features"] == "rel_spread_bps,extra"
        windows = np.random.default_rng(2).normal(size=(8, 32, len(served)))
        np.testing.assert_array_equal(
            wider.predict(windows).probabilities,
            ModelBundle(cnn.onnx).predict(windows[:, :, :-1]).probabilities,
        )


def test_cli_csv_without_spread_registers_a_model_without_the_spread_input(
    home: Path, tmp_path: Path
) -> None:
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=7),
        tmp_path,
        kinds=(SampleFileKind.OHLCV_CSV,),
        timeframe=Timeframe.M5,
    )
    csv = str(next(tmp_path.glob("EURUSD*.csv")))
    result = CliRunner().invoke(app, ["train", "--data", csv, *QUICK, "--name", "fx-plain"])
    assert result.exit_code == 0, result.output
    assert "dropped from the model's inputs" in " ".join(result.output.split())

    async def artifact() -> tuple[dict, bytes]:
        kernel = Kernel(embedded_settings(home), services="hub,storage")
        await kernel.start(serving=False)
        try:
            registry = local_model_registry(home, kernel.clock)
            async with kernel.infra.database.unit_of_work(system=True, read_only=True) as uow:
                version = await registry.get(uow, "fx-plain", 1)
            return version.metrics, await registry.read_artifact(version)
        finally:
            await kernel.stop()

    metrics, data = asyncio.run(artifact())
    assert metrics["dataset"]["dropped_features"] == ["rel_spread_bps"]
    bundle = ModelBundle(data)
    assert bundle.n_features == len(FEATURE_SET.names)
    assert bundle.metadata["dropped_features"] == "rel_spread_bps"
    vectors = np.random.default_rng(4).normal(size=(16, len(FEATURE_SET.names)))
    moved = vectors.copy()
    moved[:, SPREAD_COLUMN] += 3.0
    np.testing.assert_array_equal(
        bundle.predict(vectors).probabilities, bundle.predict(moved).probabilities
    )
