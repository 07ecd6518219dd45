"""``chainflow backtest --strategy ml`` with a registered model on bars without a spread.

Regression: a model trained by ``chainflow train`` on an OHLCV CSV (no spread column) has
its spread input dropped and its bundle widened to the full ``fx-core@1`` vector, but the
backtest left the spread unknown, so ``rel_spread_bps`` was NaN on every row, no row was
scored and the backtest made 0 trades (with a note advising ``--spread``, the fill cost,
which never reaches the features). The registered model now reads ``dropped_features``
from its bundle: a model that dropped the spread is scored on a spread of 0 where a bar's
is unknown (ignored by the bundle); a model that reads the spread refuses bars without one.

Real registry on embedded storage under a temporary ``CHAINFLOW_HOME``: the models are
registered by ``chainflow train`` and read back as the backtest command reads them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chainflow.backtest.api import run_backtest
from chainflow.backtest.data import load_file
from chainflow.backtest.errors import InvalidBacktestInputError
from chainflow.backtest.ml_diagnosis import no_trade_notes
from chainflow.backtest.ml_strategy import MlStrategy, with_known_spread
from chainflow.backtest.model_source import (
    KERNEL_SERVICES,
    SPREAD_FEATURE_KINDS,
    RegisteredModel,
    load_registered_model,
)
from chainflow.cli import app
from chainflow.cli.kernels import with_kernel
from chainflow.core.market import BarSeries, Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from chainflow.features.api import get_feature_set
from chainflow.ml.training.datasets import SPREAD_KINDS

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
FEATURES = get_feature_set("fx-core@1")
WITHOUT_SPREAD = "fx-csv"  # trained on the CSV: its spread input dropped
WITH_SPREAD = "fx-mt5"  # trained on the MT5 bar export of the same market: reads the spread


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty days of EURUSD M15 bars as ``chainflow sample-data`` writes them: an OHLCV
    CSV (no spread column) and an MT5 bar export (with one) of the same market."""
    out = tmp_path_factory.mktemp("sample")
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=20),
        out,
        kinds=(SampleFileKind.OHLCV_CSV, SampleFileKind.MT5_BARS),
        timeframe=Timeframe.M15,
    )
    return out


@pytest.fixture(scope="module")
def csv_file(data: Path) -> Path:
    return data / "EURUSD_M15.csv"


@pytest.fixture(scope="module")
def csv_bars(csv_file: Path) -> BarSeries:
    bars = load_file(csv_file)
    assert not bars.has_spread  # the CSV import: spread NaN on every bar
    return bars


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Iterator[Path]:
    """An embedded ``CHAINFLOW_HOME`` holding both models, registered by ``chainflow train``."""
    root = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("CHAINFLOW_HOME", str(root / "home"))
        for name in ("DATABASE_URL", "TIMESERIES_URL", "CACHE_URL", "BUS_URL", "ENV"):
            patch.delenv(f"CHAINFLOW_{name}", raising=False)
        train(data / "EURUSD_M15.csv", WITHOUT_SPREAD)
        train(data / "EURUSD_M15.tsv", WITH_SPREAD)
        yield root / "home"


def train(path: Path, name: str) -> None:
    trained = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(path),
            "--symbol",
            "EURUSD",
            "--timeframe",
            "M15",
            "--horizon",
            "6",
            "--folds",
            "2",
            "--threads",
            "1",
            "--name",
            name,
            "--json",
        ],
        env=WIDE,
    )
    assert trained.exit_code == 0, trained.output


def registered(name: str) -> RegisteredModel:
    """Read ``name`` from the registry as ``chainflow backtest --strategy ml`` does."""
    return asyncio.run(
        with_kernel(KERNEL_SERVICES, lambda kernel: load_registered_model(kernel, f"{name}@1"))
    )


def backtest_json(path: Path, model: str) -> dict:
    args = ["backtest", "--data", str(path), "--strategy", "ml", "--model", model, "--json"]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def scorable_rows(bars: BarSeries) -> int:
    """Rows after the features' warm-up: every one of them has a prediction."""
    return len(bars) - FEATURES.warmup_bars + 1


class TestModelTrainedWithoutSpread:
    def test_the_bundle_records_the_dropped_spread(self, home: Path) -> None:
        model = registered(WITHOUT_SPREAD)

        assert model.dropped_features == ("rel_spread_bps",)
        assert model.bundle.n_features == len(FEATURES.names)  # widened to the full vector
        assert model.spread_features == ()
        assert model.unknown_spread == 0.0

    def test_the_backtest_scores_every_bar_after_the_warm_up_and_trades(
        self, home: Path, csv_bars: BarSeries
    ) -> None:
        strategy = registered(WITHOUT_SPREAD).strategy()

        result = run_backtest(csv_bars, strategy)

        assert len(strategy.scored_probabilities) == scorable_rows(csv_bars)
        assert len(result.trades) > 0
        assert not any("no bar was scored" in note for note in result.notes)

    def test_the_filled_spread_cannot_move_the_predictions(
        self, home: Path, csv_bars: BarSeries
    ) -> None:
        model = registered(WITHOUT_SPREAD)
        filled = model.strategy()
        filled.prepare(csv_bars)
        priced = model.strategy()
        priced.prepare(with_known_spread(csv_bars, 0.0003))  # a 3-pip spread it never saw

        np.testing.assert_array_equal(filled.scored_probabilities, priced.scored_probabilities)

    def test_the_command_trades_it_on_the_csv(
        self, home: Path, csv_file: Path, csv_bars: BarSeries
    ) -> None:
        data = backtest_json(csv_file, f"{WITHOUT_SPREAD}@1")

        assert data["params"] == {"model": f"{WITHOUT_SPREAD}@1"}
        assert data["trades"] > 0
        assert data["trades"] == len(
            run_backtest(csv_bars, registered(WITHOUT_SPREAD).strategy()).trades
        )
        assert not any(note.startswith("0 trades") for note in data["notes"])


class TestModelTrainedWithSpread:
    def test_it_reads_the_spread(self, home: Path) -> None:
        model = registered(WITH_SPREAD)

        assert model.dropped_features == ()
        assert model.spread_features == ("rel_spread_bps",)
        assert model.unknown_spread is None

    def test_bars_without_a_spread_are_refused_before_scoring(
        self, home: Path, csv_bars: BarSeries
    ) -> None:
        strategy = registered(WITH_SPREAD).strategy()

        with pytest.raises(InvalidBacktestInputError) as refused:
            run_backtest(csv_bars, strategy)

        message = str(refused.value)
        assert message.startswith(
            f"expected bars with a spread for model {WITH_SPREAD}@1, which reads rel_spread_bps"
        )
        assert f"received {len(csv_bars)} bars without one" in message
        assert "the backtest's --spread is the fill cost, not a model input" in message

    def test_the_command_fails_with_the_reason(self, home: Path, csv_file: Path) -> None:
        args = [
            "backtest",
            "--data",
            str(csv_file),
            "--strategy",
            "ml",
            "--model",
            f"{WITH_SPREAD}@1",
        ]
        result = runner.invoke(app, args, env=WIDE)

        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        said = " ".join(result.output.split())
        assert f"expected bars with a spread for model {WITH_SPREAD}@1" in said
        assert "Backtest it on bars that carry a spread" in said

    def test_bars_with_a_spread_are_scored(self, home: Path, data: Path) -> None:
        bars = load_file(data / "EURUSD_M15.tsv")
        strategy = registered(WITH_SPREAD).strategy()

        run_backtest(bars, strategy)

        assert len(strategy.scored_probabilities) == scorable_rows(bars)

    def test_the_no_trade_note_names_the_spread_and_no_false_advice(
        self, home: Path, csv_bars: BarSeries
    ) -> None:
        # a plain MlStrategy (no check): the diagnosis must say why and what helps
        model = registered(WITH_SPREAD)
        strategy = MlStrategy.from_bundle(model.bundle, feature_set=model.feature_set)
        assert run_backtest(csv_bars, strategy).trades == []

        (note,) = no_trade_notes(model, strategy, csv_bars)

        assert note.startswith(
            f"0 trades: no bar was scored: none of the {len(csv_bars)} bars has every "
            "fx-core@1 feature finite (rel_spread_bps never is): the bars carry no spread"
        )
        assert "--spread is the fill cost and does not reach the features" in note
        assert "give one with --spread" not in note


def test_the_spread_kinds_are_the_ones_training_drops() -> None:
    assert SPREAD_FEATURE_KINDS == SPREAD_KINDS
