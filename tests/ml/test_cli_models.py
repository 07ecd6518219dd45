"""``chainflow models``: the platform's registry from the command line, on the embedded home."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from chainflow.cli import app
from chainflow.ml.api import ModelRegistration
from chainflow.ml.registry.model_registry import local_model_registry
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
PASSED = {"passed": True, "sentence": "beats both baselines (p=0.004)"}
FAILED = {
    "passed": False,
    "sentence": "does not beat the majority baseline (p=0.41): do not trade it",
}


def seed_platform_model(
    home: Path, name: str, versions: int, verdict: dict[str, object] | None = PASSED
) -> None:
    metrics: dict[str, object] = {"oos": {"accuracy": 0.5}}
    if verdict is not None:
        metrics["verdict"] = verdict

    async def seed() -> None:
        kernel = Kernel(embedded_settings(home), services="hub,storage")
        await kernel.start(serving=False)
        try:
            registry = local_model_registry(home, kernel.clock)
            async with kernel.infra.database.unit_of_work(system=True) as uow:
                for version in range(versions):
                    await registry.register(
                        uow,
                        ModelRegistration(
                            name=name,
                            family="lightgbm",
                            feature_set="fx-core@1",
                            feature_set_fingerprint="c" * 64,
                            label={"kind": "direction"},
                            symbols=("EURUSD",),
                            timeframe="M15",
                            train_from_ts=0,
                            train_to_ts=1_000,
                            metrics=metrics,
                        ),
                        f"artifact-{version}".encode(),
                    )
        finally:
            await kernel.stop()

    asyncio.run(seed())


class TestModelsCommands:
    def test_list_promote_rollback_archive(self, home: Path) -> None:
        seed_platform_model(home, "fx-lgbm", versions=2)
        listed = runner.invoke(app, ["models", "list"], env=WIDE)
        assert listed.exit_code == 0, listed.output
        assert "fx-lgbm" in listed.output and "lightgbm" in listed.output

        for version, message in (("1", "is now in production"), ("2", "is now in production")):
            promoted = runner.invoke(app, ["models", "promote", "fx-lgbm", version])
            assert promoted.exit_code == 0, promoted.output
            assert f"model fx-lgbm@{version} {message}" in promoted.output
        rolled = runner.invoke(app, ["models", "rollback", "fx-lgbm"])
        assert rolled.exit_code == 0, rolled.output
        assert "model fx-lgbm@1 is back in production" in rolled.output
        archived = runner.invoke(app, ["models", "archive", "fx-lgbm", "1"])
        assert archived.exit_code == 0 and "fx-lgbm@1 is archived" in archived.output

        versions = runner.invoke(app, ["models", "list", "fx-lgbm"], env=WIDE)
        assert versions.exit_code == 0, versions.output
        rows = [line for line in versions.output.splitlines() if "lightgbm" in line]
        assert len(rows) == 2 and all("archived" in row for row in rows)
        assert (home / "models" / "platform" / "fx-lgbm" / "2" / "model.onnx").is_file()

    def test_errors_fail_cleanly_with_exit_code_1(self, home: Path) -> None:
        seed_platform_model(home, "fx-lgbm", versions=1)
        unknown = runner.invoke(app, ["models", "promote", "fx-lgbm", "5"], env=WIDE)
        assert unknown.exit_code == 1
        assert "fx-lgbm@5 of the platform was not found" in unknown.output
        nothing = runner.invoke(app, ["models", "rollback", "fx-lgbm"], env=WIDE)
        assert nothing.exit_code == 1 and "no earlier production version" in nothing.output
        missing = runner.invoke(app, ["models", "list", "nope"], env=WIDE)
        assert missing.exit_code == 1 and "was not found" in missing.output
        assert "Traceback" not in unknown.output + nothing.output + missing.output

    def test_empty_registry(self, home: Path) -> None:
        listed = runner.invoke(app, ["models", "list"])
        assert listed.exit_code == 0, listed.output
        assert "no platform models are registered" in listed.output


class TestPromotionGate:
    def test_a_losing_model_needs_force_and_a_reason(self, home: Path) -> None:
        seed_platform_model(home, "fx-weak", versions=1, verdict=FAILED)
        refused = runner.invoke(app, ["models", "promote", "fx-weak", "1"], env=WIDE)
        assert refused.exit_code == 1
        assert refused.output.startswith("error: model fx-weak@1 was not promoted: it does not")
        assert "--force --reason" in refused.output and refused.output.count("\n") == 1

        bare = runner.invoke(app, ["models", "promote", "fx-weak", "1", "--force"], env=WIDE)
        assert bare.exit_code == 1 and "expected a reason with force" in bare.output

        args = ["models", "promote", "fx-weak", "1", "--force", "--reason", "paper only"]
        forced = runner.invoke(app, args, env=WIDE)
        assert forced.exit_code == 0, forced.output
        assert "fx-weak@1 is now in production (forced" in forced.output

        listed = runner.invoke(app, ["models", "list"], env=WIDE)
        line = next(x for x in listed.output.splitlines() if "fx-weak" in x)
        assert "failed; forced by" in line and "paper only" in line
        versions = runner.invoke(app, ["models", "list", "fx-weak"], env=WIDE)
        assert "does not beat the majority baseline" in versions.output
        assert "paper only" in versions.output

    def test_a_model_without_a_verdict_is_unknown(self, home: Path) -> None:
        seed_platform_model(home, "fx-old", versions=1, verdict=None)
        refused = runner.invoke(app, ["models", "promote", "fx-old", "1"], env=WIDE)
        assert refused.exit_code == 1 and "no recorded verdict" in refused.output
        versions = runner.invoke(app, ["models", "list", "fx-old"], env=WIDE)
        assert "no recorded verdict" in versions.output
