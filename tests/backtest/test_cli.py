"""``chainflow backtest``, ``optimize`` and ``walkforward`` on sample-data files and stored bars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainflow.backtest.api import run_backtest
from chainflow.backtest.data import load_file
from chainflow.backtest.types import BacktestConfig
from chainflow.cli import app
from chainflow.core.market import Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from tests.fixtures.settings import register_embedded_user

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
SUMMARY = {
    "trades",
    "final_equity",
    "return_pct",
    "sharpe",
    "max_drawdown_pct",
    "win_rate_pct",
    "profit_factor",
    "elapsed_s",
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten days of EURUSD M5 bars as ``chainflow sample-data --format mt5-bars`` writes."""
    out = tmp_path_factory.mktemp("sample")
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=10),
        out,
        kinds=(SampleFileKind.MT5_BARS,),
        timeframe=Timeframe.M5,
    )
    return out / "EURUSD_M5.tsv"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAINFLOW_HOME", str(tmp_path / "home"))
    for name in ("DATABASE_URL", "TIMESERIES_URL", "CACHE_URL", "BUS_URL", "ENV"):
        monkeypatch.delenv(f"CHAINFLOW_{name}", raising=False)
    return tmp_path / "home"


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"], env=WIDE)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # exactly one JSON object, nothing else


class TestBacktestCommand:
    def test_json_matches_the_engine_on_the_file(self, sample: Path) -> None:
        data = run_json(
            "backtest",
            "--data",
            str(sample),
            "--strategy",
            "sma_crossover",
            "--param",
            "fast=10",
            "--param",
            "slow=30",
            "--commission",
            "0.0001",
            "--long-only",
        )

        assert SUMMARY <= set(data)
        bars = load_file(sample)
        expected = run_backtest(
            bars,
            "sma_crossover",
            {"fast": 10, "slow": 30},
            BacktestConfig(commission=0.0001, long_only=True),
        )
        assert data["trades"] == len(expected.trades) > 0
        assert data["final_equity"] == pytest.approx(expected.final_equity)
        assert (data["symbol"], data["timeframe"], data["bars"]) == ("EURUSD", "M5", len(bars))
        assert 0 < data["elapsed_s"] < 60

    def test_table_and_report(self, sample: Path, tmp_path: Path) -> None:
        report = tmp_path / "bt.html"
        result = runner.invoke(
            app,
            [
                "backtest",
                "--data",
                str(sample),
                "--strategy",
                "ema_crossover",
                "--report",
                str(report),
            ],
            env=WIDE,
        )
        assert result.exit_code == 0, result.output
        assert "final_equity" in result.stdout and "profit_factor" in result.stdout
        assert report.is_file() and '<script src="http' not in report.read_text()
        # Ten days of bars: the annualized ratios are marked, with the observations.
        assert "(small sample)" in result.stdout and "span_days" in result.stdout
        assert "note: small sample: sharpe, sortino" in result.stdout
        assert (
            "(small sample)" in report.read_text() and "small sample: sharpe" in report.read_text()
        )

    def test_unknown_strategy_fails_with_the_choices(self, sample: Path) -> None:
        result = runner.invoke(app, ["backtest", "--data", str(sample), "--strategy", "magic"])
        assert result.exit_code == 1
        assert "expected a strategy among" in result.output and "sma_crossover" in result.output

    def test_without_data_or_stored_bars_fails(self) -> None:
        result = runner.invoke(app, ["backtest", "--strategy", "sma_crossover"])
        assert result.exit_code == 1 and "expected --data FILE" in result.output


class TestOptimizeCommand:
    def test_grid_json_is_sorted_with_a_heatmap(self, sample: Path) -> None:
        data = run_json(
            "optimize",
            "--data",
            str(sample),
            "--strategy",
            "sma_crossover",
            "--grid",
            "fast=5,10",
            "--range",
            "slow=20:40:10",
            "--workers",
            "1",
            "--top",
            "6",
        )
        assert data["trials"] == 6 and data["method"] == "grid"
        scores = [r["score"] for r in data["results"] if r["feasible"]]
        assert scores == sorted(scores, reverse=True)
        assert data["best"]["params"] == data["results"][0]["params"]
        assert data["heatmap"]["x_values"] == [5, 10] and data["heatmap"]["y_values"] == [
            20,
            30,
            40,
        ]

    def test_bayes_with_min_trades(self, sample: Path) -> None:
        data = run_json(
            "optimize",
            "--data",
            str(sample),
            "--strategy",
            "rsi_mean_reversion",
            "--range",
            "period=5:30:1",
            "--method",
            "bayes",
            "--trials",
            "6",
            "--min-trades",
            "1000000",
            "--workers",
            "1",
            "--seed",
            "2",
        )
        assert data["trials"] == 6 and data["feasible"] == 0 and data["best"] is None


class TestWalkforwardCommand:
    def test_json_windows_and_efficiency(self, sample: Path, tmp_path: Path) -> None:
        report = tmp_path / "wf.html"
        data = run_json(
            "walkforward",
            "--data",
            str(sample),
            "--strategy",
            "sma_crossover",
            "--grid",
            "fast=5,10",
            "--param",
            "slow=40",
            "--in-sample",
            "1000",
            "--out-of-sample",
            "500",
            "--workers",
            "1",
            "--report",
            str(report),
        )
        windows = data["window_results"]
        assert data["windows"] == len(windows) >= 2
        assert [w["oos_start"] for w in windows] == [1000 + 500 * i for i in range(len(windows))]
        assert all(w["params"]["slow"] == 40 for w in windows)
        assert "efficiency" in data and "fast" in data["stability"]
        assert report.is_file()

    def test_ml_strategy_is_retrained_per_window(self, sample: Path) -> None:
        data = run_json(
            "walkforward",
            "--data",
            str(sample),
            "--strategy",
            "ml",
            "--param",
            "horizon=6",
            "--in-sample",
            "1000",
            "--out-of-sample",
            "500",
        )
        assert data["windows"] >= 2
        for window in data["window_results"]:
            training = window["training"]
            assert training["label_end_ts"] <= window["is_to_ts"] < window["oos_from_ts"]
            assert training["train_from_ts"] >= window["is_from_ts"]


class TestStoredBars:
    def test_backtest_on_imported_bars_equals_the_file(self, home: Path, sample: Path) -> None:
        register_embedded_user(home, "cli-backtest@example.com")
        imported = runner.invoke(
            app,
            [
                "import",
                str(sample),
                "--symbol",
                "EURUSD",
                "--email",
                "cli-backtest@example.com",
                "--timeframe",
                "M5",
            ],
            env=WIDE,
        )
        assert imported.exit_code == 0, imported.output

        stored = run_json(
            "backtest",
            "--symbol",
            "EURUSD",
            "--timeframe",
            "M5",
            "--email",
            "cli-backtest@example.com",
            "--strategy",
            "sma_crossover",
        )
        from_file = run_json("backtest", "--data", str(sample), "--strategy", "sma_crossover")
        for key in ("bars", "trades", "final_equity", "from_ts", "to_ts"):
            assert stored[key] == from_file[key]


def fails_with(args: list[str], message: str) -> None:
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert message in " ".join(result.output.split()), result.output


class TestBadInput:
    def test_from_after_to(self, sample: Path) -> None:
        fails_with(
            [
                "backtest",
                "--data",
                str(sample),
                "--strategy",
                "sma_crossover",
                "--from",
                "2026-01-10",
                "--to",
                "2026-01-08",
            ],
            "expected --from before --to; received --from 2026-01-10 and --to 2026-01-08",
        )

    def test_data_shorter_than_the_warm_up(self, sample: Path, tmp_path: Path) -> None:
        short = tmp_path / "EURUSD_M5.tsv"
        short.write_text("".join(sample.read_text().splitlines(keepends=True)[:21]))
        fails_with(
            ["backtest", "--data", str(short), "--strategy", "sma_crossover"],
            "expected more than 30 bars for sma_crossover",
        )

    def test_fast_not_below_slow(self, sample: Path) -> None:
        fails_with(
            [
                "backtest",
                "--data",
                str(sample),
                "--strategy",
                "ema_crossover",
                "--param",
                "fast=30",
                "--param",
                "slow=10",
            ],
            "expected fast < slow; received fast=30, slow=10",
        )

    def test_unknown_searched_parameter(self, sample: Path) -> None:
        fails_with(
            [
                "optimize",
                "--data",
                str(sample),
                "--strategy",
                "sma_crossover",
                "--grid",
                "bogus=1,2",
                "--workers",
                "1",
            ],
            "expected searched parameters of 'sma_crossover' among ['fast', 'slow']; "
            "received unknown ['bogus']",
        )

    def test_header_only_file(self, tmp_path: Path, sample: Path) -> None:
        empty = tmp_path / "EURUSD_M5.tsv"
        empty.write_text(sample.read_text().splitlines(keepends=True)[0])
        fails_with(["backtest", "--data", str(empty), "--strategy", "macd"], "expected bars")


class TestSearch:
    def test_bayes_over_a_stepless_integer_range_draws_integers(self, sample: Path) -> None:
        data = run_json(
            "optimize",
            "--data",
            str(sample),
            "--strategy",
            "sma_crossover",
            "--method",
            "bayes",
            "--trials",
            "4",
            "--range",
            "fast=5:20",
            "--range",
            "slow=30:90",
            "--workers",
            "1",
            "--min-trades",
            "0",
        )
        assert data["feasible"] == 4
        assert all(isinstance(v, int) for v in data["best"]["params"].values())


class TestMlBacktest:
    def test_without_a_registered_model_says_how_to_get_one(self, home: Path, sample: Path) -> None:
        fails_with(
            ["backtest", "--data", str(sample), "--strategy", "ml"],
            "expected a production version of fx-default in the model registry",
        )
        fails_with(
            ["backtest", "--data", str(sample), "--strategy", "ml", "--model", "x@y"],
            "expected --model NAME or NAME@VERSION; received 'x@y'",
        )

    def test_registered_model_by_name(self, home: Path, sample: Path) -> None:
        trained = runner.invoke(
            app,
            [
                "train",
                "--symbol",
                "EURUSD",
                "--timeframe",
                "M5",
                "--data",
                str(sample),
                "--model",
                "lightgbm",
                "--folds",
                "2",
                "--threads",
                "1",
                "--name",
                "fx-default",
                "--promote",
                "--force",  # a few days of sample bars: the verdict is not what this tests
                "--reason",
                "test: backtest of a registered model",
            ],
            env=WIDE,
        )
        assert trained.exit_code == 0, trained.output
        data = run_json("backtest", "--data", str(sample), "--strategy", "ml")
        assert data["strategy"] == "ml" and data["params"] == {"model": "fx-default@1"}
        assert data["engine"] == "event" and data["final_equity"] > 0
        # the model was trained on these very bars: the result says so
        assert any("in-sample for it" in note for note in data["notes"])
        pinned = run_json(
            "backtest", "--data", str(sample), "--strategy", "ml", "--model", "fx-default@1"
        )
        assert pinned["final_equity"] == data["final_equity"]
        json.dumps(data, allow_nan=False)
        fails_with(
            ["backtest", "--data", str(sample), "--strategy", "ml", "--param", "x=1"],
            "expected no --param for --strategy ml",
        )


class TestSearchChecks:
    def test_unknown_objective_is_refused_before_any_trial(self, sample: Path) -> None:
        fails_with(
            [
                "optimize",
                "--data",
                str(sample),
                "--strategy",
                "sma_crossover",
                "--grid",
                "fast=5,10",
                "--objective",
                "nope",
                "--workers",
                "1",
            ],
            "expected an objective among annualized_return_pct,",
        )

    def test_ml_walk_forward_refuses_a_search(self, sample: Path) -> None:
        fails_with(
            [
                "walkforward",
                "--data",
                str(sample),
                "--strategy",
                "ml",
                "--grid",
                "fast=1,2",
                "--in-sample",
                "1000",
                "--out-of-sample",
                "500",
            ],
            "expected no --grid/--range with --strategy ml",
        )
