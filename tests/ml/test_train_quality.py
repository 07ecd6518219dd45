"""What a training run reports beyond its scores: calibration, importance, a planted leak,
the cost-aware signal backtest of its out-of-sample predictions, several seeds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from chainflow.backtest.oos_signals import backtest_signal_window
from chainflow.bridge.api import read_bar_file
from chainflow.cli import with_kernel
from chainflow.cli.operator import read_stored_bars
from chainflow.core.market import BarSeries, Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from chainflow.ml.cli.train import make_train_command
from chainflow.ml.training.calibration import Calibrator, fit_calibrator, reliability
from chainflow.ml.training.datasets import Dataset
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.oos_backtest import attach_backtest
from chainflow.ml.training.run import TrainingConfig, TrainingResult, train_on_dataset
from chainflow.ml.training.seeds import combine_seeds
from chainflow.ml.training.serving import ModelBundle
from chainflow.ml.training.steps import training_bars, training_dataset

QUICK = TrainingConfig(family="lightgbm", n_folds=3, seed=7, threads=1, resamples=300)
LABEL = LabelSpec(kind="triple_barrier", horizon=8, threshold_atr=0.25)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=7, seed=7),
        out,
        kinds=(SampleFileKind.MT5_BARS,),
        timeframe=Timeframe.M5,
    )
    return out / "EURUSD_M5.tsv"


@pytest.fixture(scope="module")
def bars(sample: Path) -> BarSeries:
    return training_bars(read_bar_file(sample, "EURUSD", timeframe=Timeframe.M5))


@pytest.fixture(scope="module")
def dataset(bars: BarSeries) -> Dataset:
    return training_dataset(bars, LABEL, QUICK, symbol="EURUSD", timeframe=Timeframe.M5)


@pytest.fixture(scope="module")
def calibrated(dataset: Dataset) -> TrainingResult:
    return train_on_dataset(dataset, dataclasses.replace(QUICK, calibrate="temperature"))


class TestPlantedLeak:
    def test_a_feature_that_is_the_future_label_is_flagged_too_good(self, dataset: Dataset) -> None:
        X = dataset.X.copy()
        X[:, 0] = dataset.y  # the label, known only after the horizon
        leaked = dataclasses.replace(dataset, X=X)
        result = train_on_dataset(leaked, QUICK)
        assert result.oos["accuracy"] > 0.95
        verdict = result.verdict
        assert verdict["suspected_leak"] is not None and verdict["passed"] is False
        assert verdict["sentence"].startswith("too good to be true")
        assert result.importance["top"][0] == dataset.feature_names[0]
        assert result.importance["tree_shap"][0]["feature"] == dataset.feature_names[0]

    def test_an_honest_model_is_not_flagged(self, calibrated: TrainingResult) -> None:
        assert calibrated.verdict["suspected_leak"] is None


class TestCalibration:
    def test_reliability_and_fitted_temperature_are_reported(
        self, calibrated: TrainingResult
    ) -> None:
        calibration = calibrated.calibration
        assert calibration["method"] == "temperature"
        assert calibration["fitted"]["temperature"] > 0
        assert sum(b["rows"] for b in calibration["bins"]) == calibrated.evaluation["oos_rows"]
        assert 0 <= calibration["ece"] < 1

    def test_bundle_applies_it_identically_in_batch_and_live(
        self, calibrated: TrainingResult, dataset: Dataset
    ) -> None:
        bundle = ModelBundle(calibrated.onnx)
        assert bundle.calibrator is not None
        rows = dataset.X[-40:]
        batch = bundle.predict(rows).probabilities
        live = np.concatenate([bundle.predict(row[None, :]).probabilities for row in rows])
        np.testing.assert_array_equal(batch, live)
        raw = ModelBundle(calibrated.onnx)
        raw.calibrator = None
        np.testing.assert_allclose(
            batch, bundle.calibrator.apply(raw.predict(rows).probabilities), atol=1e-6
        )
        assert not np.allclose(batch, raw.predict(rows).probabilities, atol=1e-4)


class TestSignalBacktest:
    def test_oos_predictions_are_traded_with_costs(
        self, calibrated: TrainingResult, bars: BarSeries
    ) -> None:
        attach_backtest(calibrated, bars, backtest_signal_window)
        backtest = calibrated.backtest
        assert len(backtest["windows"]) == 3
        assert backtest["trades"] == sum(w["trades"] for w in backtest["windows"])
        chained = np.prod([1 + w["return"] for w in backtest["windows"]]) - 1
        assert backtest["return"] == pytest.approx(chained, rel=1e-9, abs=1e-12)
        assert backtest["max_drawdown"] <= 0
        assert backtest["costs"]["mean_spread"] > 0

    def test_without_a_backtester_the_report_says_so(self, calibrated: TrainingResult) -> None:
        copy = dataclasses.replace(calibrated)
        attach_backtest(
            copy, BarSeries.from_arrays(ts=[], open=[], high=[], low=[], close=[], volume=[]), None
        )
        assert "skipped" in copy.backtest


class TestTrainCommand:
    def test_seeds_calibration_and_backtest_in_the_json_report(
        self, home: Path, sample: Path
    ) -> None:
        app = typer.Typer()
        app.command("train")(
            make_train_command(with_kernel, read_stored_bars, backtest_signal_window)
        )
        app.command("other")(lambda: None)
        args = ["--symbol", "EURUSD", "--timeframe", "M5", "--folds", "3", "--threads", "1"]
        args += ["--data", str(sample), "--label", "triple_barrier", "--horizon", "8"]
        args += ["--threshold-atr", "0.25", "--seed", "7", "--seeds", "2"]
        args += ["--calibrate", "isotonic", "--json"]
        result = CliRunner().invoke(app, ["train", *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        # this bare app lacks the chainflow callback that sends the kernel's logs to stderr
        report = json.loads(result.stdout.strip().splitlines()[-1])
        seeds = report["seeds"]
        assert seeds["seeds"] == [7, 8] and seeds["verdict_rule"] == "worst seed"
        accuracy = seeds["metrics"]["oos.accuracy"]
        assert accuracy["min"] <= accuracy["mean"] <= accuracy["max"]
        assert {"backtest.return", "backtest.sharpe", "backtest.max_drawdown"} <= set(
            seeds["metrics"]
        )
        assert report["verdict"]["passed"] is all(seeds["passed"])
        assert "seeds" in report["verdict"]["sentence"]
        assert report["calibration"]["fitted"]["method"] == "isotonic"
        assert report["importance"]["top"]
        assert {"return", "sharpe", "max_drawdown", "trades"} <= set(report["backtest"])


class TestCalibrators:
    def test_temperature_undoes_a_known_overconfidence(self) -> None:
        rng = np.random.default_rng(1)
        logits = rng.normal(size=(4000, 3))
        truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = np.array([rng.choice(3, p=p) for p in truth])
        sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
        fitted = fit_calibrator("temperature", y, sharp)
        assert fitted.temperature == pytest.approx(3.0, rel=0.15)
        assert reliability(y, fitted.apply(sharp))["ece"] < reliability(y, sharp)["ece"]

    def test_isotonic_round_trips_through_the_bundle_metadata(self) -> None:
        rng = np.random.default_rng(2)
        proba = rng.dirichlet([1, 1, 1], size=500)
        y = proba.argmax(axis=1)
        fitted = fit_calibrator("isotonic", y, proba)
        again = Calibrator.from_json(fitted.to_json())
        np.testing.assert_array_equal(again.apply(proba), fitted.apply(proba))
        np.testing.assert_allclose(fitted.apply(proba).sum(axis=1), 1.0)


class TestSeeds:
    def test_worst_seed_verdict_and_spread(self, calibrated: TrainingResult) -> None:
        passing = dataclasses.replace(calibrated, evaluation={"seed": 1})
        passing.verdict = {**calibrated.verdict, "passed": True, "sentence": "beats both"}
        failing = dataclasses.replace(calibrated, evaluation={"seed": 2})
        failing.verdict = {**calibrated.verdict, "passed": False, "sentence": "does not"}
        failing.oos = {**calibrated.oos, "accuracy": calibrated.oos["accuracy"] + 0.1}
        combined = combine_seeds([passing, failing])
        assert combined.verdict["passed"] is False
        assert combined.seeds["passed"] == [True, False]
        assert combined.verdict["seed_rule"] == {
            "rule": "worst seed",
            "worst_seed": 2,
            "passing": 1,
        }
        spread = combined.seeds["metrics"]["oos.accuracy"]
        assert spread["max"] - spread["min"] == pytest.approx(0.1)
        assert spread["std"] == pytest.approx(0.1 / np.sqrt(2))
