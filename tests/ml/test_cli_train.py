"""``chainflow train``: sample bars in, a registered platform model and its report out."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainflow.cli import app
from chainflow.core.market import Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import MT5_TICK_HEADER, SampleFileKind, write_sample_files
from chainflow.ml.api import ModelStage, ModelVersion
from chainflow.ml.registry.model_registry import local_model_registry
from chainflow.ml.training.families import torch_available
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings, register_embedded_user

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
METRICS = {"accuracy", "balanced_accuracy", "log_loss", "brier", "auc"}
QUICK = ["--symbol", "EURUSD", "--timeframe", "M5", "--folds", "3", "--threads", "1"]
FORCE = ["--force", "--reason", "test: a week of sample bars, the verdict does not matter here"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A week of EURUSD M5 bars as an MT5 bar export and an OHLCV CSV, plus a tick file."""
    out = tmp_path_factory.mktemp("sample")
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=7),
        out,
        kinds=(SampleFileKind.MT5_BARS, SampleFileKind.OHLCV_CSV),
        timeframe=Timeframe.M5,
    )
    (out / "EURUSD_ticks.tsv").write_text(
        MT5_TICK_HEADER + "\r\n2026.01.05\t00:00:00.100\t1.08492\t1.08505\t\t1\t6\r\n"
    )
    return out


def registered(home: Path, name: str, version: int) -> ModelVersion:
    async def get() -> ModelVersion:
        kernel = Kernel(embedded_settings(home), services="hub,storage")
        await kernel.start(serving=False)
        try:
            registry = local_model_registry(home, kernel.clock)
            async with kernel.infra.database.unit_of_work(system=True, read_only=True) as uow:
                return await registry.get(uow, name, version)
        finally:
            await kernel.stop()

    return asyncio.run(get())


def train_json(*args: str) -> dict:
    result = runner.invoke(app, ["train", *args, "--json"], env=WIDE)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # exactly one JSON object, nothing else


class TestTrainFromFile:
    def test_json_report_artifact_and_registry_row(self, home: Path, sample: Path) -> None:
        report = train_json("--data", str(sample / "EURUSD_M5.tsv"), *QUICK, "--model", "lightgbm")
        assert report["model"] == "fx-lightgbm@1" and report["stage"] == "candidate"
        assert set(report["oos"]) == METRICS and report["folds"] == 3
        assert set(report["baselines"]) == {"majority", "previous_direction"}
        garch = report["volatility"]["garch"]  # GARCH(1,1) against the naive forecast
        assert garch["forecasts"] > 0 and garch["rmse"] > 0 and garch["naive_rmse"] > 0
        assert all(set(b) == METRICS for b in report["baselines"].values())
        artifact = Path(report["artifact"])
        assert artifact.is_file() and artifact.is_relative_to(home)

        row = registered(home, "fx-lightgbm", 1)
        assert hashlib.sha256(artifact.read_bytes()).hexdigest() == row.artifact_sha256
        assert row.stage == ModelStage.CANDIDATE and row.is_platform
        assert (row.symbols, row.timeframe, row.feature_set) == (("EURUSD",), "M5", "fx-core@1")
        assert row.label == {
            "kind": "direction",
            "horizon": 12,
            "threshold_atr": 0.5,
            "atr_period": 14,
        }
        assert row.train_from_ts == report["train_from_ts"] < row.train_to_ts
        assert row.metrics["oos"] == report["oos"] and "feature_stats" in row.metrics
        assert row.metrics["source"] == {"kind": "file", "file": "EURUSD_M5.tsv"}

        listed = runner.invoke(app, ["models", "list", "fx-lightgbm"], env=WIDE)
        assert listed.exit_code == 0, listed.output
        assert "candidate" in listed.output and row.artifact_sha256[:12] in listed.output

    def test_artifacts_in_the_database_for_several_processes(
        self, home: Path, sample: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CHAINFLOW_ML_ARTIFACTS_URL", "database")
        report = train_json("--data", str(sample / "EURUSD_M5.tsv"), *QUICK, "--promote", *FORCE)
        assert report["artifact"] == "platform/fx-lightgbm/1/model.onnx"  # a database row
        assert not (home / "models").exists()

        async def served() -> bytes:
            from chainflow.core.settings import MlSettings
            from chainflow.ml.registry.model_registry import model_registry

            settings = embedded_settings(home, ml=MlSettings(artifacts_url="database"))
            kernel = Kernel(settings, services="hub,storage")
            await kernel.start(serving=False)
            try:
                registry = model_registry(settings, kernel.infra.database, kernel.clock)
                async with kernel.infra.database.unit_of_work(system=True, read_only=True) as uow:
                    version = await registry.production(uow, "fx-lightgbm")
                assert version is not None
                return await registry.read_artifact(version)
            finally:
                await kernel.stop()

        data = asyncio.run(served())
        assert hashlib.sha256(data).hexdigest() == report["sha256"]

    def test_csv_without_spread_trains_and_promote_makes_production(
        self, home: Path, sample: Path
    ) -> None:
        csv = str(sample / "EURUSD_M5.csv")
        plain = runner.invoke(app, ["train", "--data", csv, *QUICK, "--name", "fx-plain"], env=WIDE)
        assert plain.exit_code == 0, plain.output
        assert "no spread" in plain.output  # said, on stderr
        assert "constant" in registered(home, "fx-plain", 1).metrics["source"]["spread"]
        report = train_json(
            "--data",
            csv,
            *QUICK,
            "--spread",
            "0.00012",
            "--model",
            "xgboost",
            "--name",
            "fx-csv",
            "--promote",
            *FORCE,
            "--label",
            "triple_barrier",
            "--horizon",
            "6",
        )
        assert report["model"] == "fx-csv@1" and report["stage"] == "production"
        row = registered(home, "fx-csv", 1)
        assert row.stage == ModelStage.PRODUCTION and row.family == "xgboost"
        assert row.label["kind"] == "triple_barrier" and row.label["horizon"] == 6
        listed = runner.invoke(app, ["models", "list"], env=WIDE)
        line = next(x for x in listed.output.splitlines() if "fx-csv" in x)
        assert "xgboost" in line and " 1 " in line

    def test_human_report_shows_model_against_baselines(self, home: Path, sample: Path) -> None:
        data = str(sample / "EURUSD_M5.tsv")
        result = runner.invoke(
            app, ["train", "--data", data, *QUICK, "--to", "2026-01-10"], env=WIDE
        )
        assert result.exit_code == 0, result.output
        for text in (
            "baseline: majority",
            "baseline: previous direction",
            "balanced accuracy",
            "log loss",
            "brier",
            "auc",
            "Folds",
            "volatility",
            "momentum",
            "registered fx-lightgbm@1 (candidate)",
            "Verdict: model against each baseline (circular block bootstrap",
            "95% interval",
            "verdict: ",
            "rank IC of the edge (p_up - p_down) with the forward return",
            "hit rate by confidence decile, lowest first",
        ):
            assert text in result.output

    @pytest.mark.skipif(not torch_available(), reason="PyTorch (the train extra) is missing")
    def test_lstm(self, home: Path, sample: Path) -> None:
        report = train_json("--data", str(sample / "EURUSD_M5.tsv"), *QUICK, "--model", "lstm")
        assert report["model"] == "fx-lstm@1" and report["members"] == ["lstm"]
        assert Path(report["artifact"]).is_file()


class TestVerdictAndGate:
    """The report's verdict, the embargo, and ``--promote`` through the promotion gate."""

    def test_json_verdict_for_every_target_and_the_embargo(self, home: Path, sample: Path) -> None:
        data = str(sample / "EURUSD_M5.tsv")
        report = train_json("--data", data, *QUICK, "--embargo", "6")
        verdict = report["verdict"]
        assert set(verdict["targets"]) == {"direction", "volatility", "momentum"}
        direction = verdict["targets"]["direction"]
        assert direction["metric"] == "log_loss" and verdict["sentence"] == direction["sentence"]
        baselines = [c["baseline"] for c in direction["comparisons"]]
        assert baselines == ["majority", "previous_direction"]
        for c in direction["comparisons"]:
            gap = c["baseline_value"] - c["model"]
            assert c["improvement"] == pytest.approx(gap, abs=1e-12)
            assert c["low"] <= c["improvement"] <= c["high"] and 0 < c["p_value"] <= 1
        skill = verdict["targets"]["volatility"]["comparisons"][0]
        assert skill["baseline"] == "naive"
        assert skill["improvement"] == pytest.approx(report["volatility"]["skill"], rel=1e-9)
        assert verdict["block"] >= 12  # at least the label horizon
        assert report["evaluation"]["embargo"] == 6
        assert report["evaluation"]["embargoed_rows"] == [6, 6, 6]
        assert registered(home, "fx-lightgbm", 1).metrics["verdict"] == verdict
        ic = report["quant"]["rank_ic"]
        assert len(ic["folds"]) == 3 and -1 <= ic["pooled"] <= 1
        deciles = report["quant"]["hit_rate_by_confidence"]
        assert [d["decile"] for d in deciles] == list(range(1, 11))
        assert sum(d["rows"] for d in deciles) == report["evaluation"]["oos_rows"]
        assert report["promotion"] == {
            "requested": False,
            "promoted": False,
            "refused": None,
            "override": None,
            "stage": "candidate",
        }

    def test_promote_of_a_losing_model_is_refused_and_kept_as_candidate(
        self, home: Path, sample: Path
    ) -> None:
        data = str(sample / "EURUSD_M5.tsv")
        result = runner.invoke(app, ["train", "--data", data, *QUICK, "--promote", "--json"])
        assert result.exit_code == 1
        report = json.loads(result.stdout)  # the report still comes, then the one-line error
        assert report["verdict"]["passed"] is False
        assert report["verdict"]["sentence"].endswith(": do not trade it")
        assert report["stage"] == "candidate" and report["promotion"]["promoted"] is False
        refused = report["promotion"]["refused"]
        assert refused.startswith("model fx-lightgbm@1 was not promoted: it does not beat the ")
        assert f"error: {refused}" in result.output.replace("\n", " ")
        assert registered(home, "fx-lightgbm", 1).stage == ModelStage.CANDIDATE

        forced = train_json("--data", data, *QUICK, "--promote", *FORCE)
        assert forced["stage"] == "production" and forced["promotion"]["promoted"]
        override = forced["promotion"]["override"]
        assert override["reason"] == FORCE[2] and override["verdict"] == "failed"
        assert registered(home, "fx-lightgbm", 2).promotion_override == override

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--force", "--reason", "x"], "expected --promote with --force"),
            (["--promote", "--force"], "expected --reason TEXT with --force"),
            (["--reason", "x"], "expected --force with --reason"),
            (["--embargo", "-1"], "expected --embargo rows >= 0"),
        ],
    )
    def test_bad_force_options_fail_before_training(
        self, home: Path, sample: Path, args: list[str], message: str
    ) -> None:
        data = str(sample / "EURUSD_M5.tsv")
        result = runner.invoke(app, ["train", "--data", data, *QUICK, *args], env=WIDE)
        assert result.exit_code == 1 and message in result.output
        assert result.output.startswith("error: ") and result.output.count("\n") == 1


class TestTrainFromStoredBars:
    def test_trains_on_the_named_users_bars(self, home: Path, sample: Path) -> None:
        register_embedded_user(home, "ops@example.com")
        data = str(sample / "EURUSD_M5.tsv")
        imported = runner.invoke(
            app,
            [
                "import",
                data,
                "--symbol",
                "EURUSD",
                "--email",
                "ops@example.com",
                "--timeframe",
                "M5",
            ],
            env=WIDE,
        )
        assert imported.exit_code == 0, imported.output
        report = train_json("--email", "ops@example.com", *QUICK, "--from", "2026-01-05")
        assert report["model"] == "fx-lightgbm@1" and report["folds"] == 3
        assert registered(home, "fx-lightgbm", 1).metrics["source"]["kind"] == "stored"

        unknown = runner.invoke(
            app,
            ["train", "--email", "ops@example.com", "--symbol", "GBPUSD", "--timeframe", "M5"],
            env=WIDE,
        )
        assert unknown.exit_code == 1 and "Traceback" not in unknown.output
        assert "expected stored GBPUSD M5 bars" in unknown.output

    def test_custom_model_needs_the_tier_and_belongs_to_the_tenant(
        self, home: Path, sample: Path
    ) -> None:
        register_embedded_user(home, "quant@example.com")
        data = str(sample / "EURUSD_M5.tsv")
        args = ["train", "--data", data, *QUICK, "--email", "quant@example.com", "--custom"]

        refused = runner.invoke(app, args, env=WIDE)  # free tier: no custom models
        assert refused.exit_code == 1 and "Traceback" not in refused.output
        assert "custom" in refused.output.lower()

        raised = runner.invoke(app, ["users", "set-tier", "quant@example.com", "enterprise"])
        assert raised.exit_code == 0, raised.output
        report = train_json("--data", data, *QUICK, "--email", "quant@example.com", "--custom")
        assert report["model"] == "fx-lightgbm@1"
        listed = runner.invoke(app, ["models", "list"], env=WIDE)
        assert "fx-lightgbm" not in listed.output  # platform models only: it is the tenant's
        assert runner.invoke(app, ["train", *QUICK, "--custom"], env=WIDE).exit_code == 1


class TestBadInput:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--data", "missing.tsv", *QUICK], "expected --data to be a readable file"),
            (["--data", "{sample}/EURUSD_M5.tsv", *QUICK, "--model", "gru"], "received 'gru'"),
            (["--data", "{sample}/EURUSD_ticks.tsv", *QUICK], "received a tick export"),
            (
                ["--data", "{sample}/EURUSD_M5.tsv", "--symbol", "EURUSD", "--timeframe", "H1"],
                "aligned to H1",
            ),
            (
                ["--data", "{sample}/EURUSD_M5.tsv", *QUICK, "--to", "2026-01-06"],
                "usable rows for 3 folds",
            ),
            (["--symbol", "EURUSD", "--timeframe", "M5"], "expected --data FILE, or --email"),
            (["--data", "{sample}/EURUSD_M5.tsv", *QUICK, "--from", "yesterday"], "ISO 8601"),
        ],
    )
    def test_one_line_error_and_exit_1(
        self, home: Path, sample: Path, args: list[str], message: str
    ) -> None:
        filled = [a.replace("{sample}", str(sample)) for a in args]
        result = runner.invoke(app, ["train", *filled], env=WIDE)
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
        assert result.output.startswith("error: ") and result.output.count("\n") == 1
