"""``ensure_default_model``: a fresh install trains and promotes ``fx-default`` once."""

from __future__ import annotations

from pathlib import Path

from chainflow.demo.model_bars import default_model_bars
from chainflow.ml.api import ModelStage
from chainflow.ml.registry.model_registry import local_model_registry
from chainflow.ml.training.default_model import (
    DEFAULT_MODEL_NAME,
    DEMO_FORCE_REASON,
    DefaultModelRecipe,
    ensure_default_model,
)
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.serving import ModelBundle
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings


async def test_trains_and_promotes_once_then_returns_the_same_version(tmp_path: Path) -> None:
    home = tmp_path / "home"
    kernel = Kernel(embedded_settings(home), services="hub,storage")
    await kernel.start(serving=False)
    try:
        registry = local_model_registry(home, kernel.clock)
        database = kernel.infra.database
        stages: list[str] = []

        first = await ensure_default_model(
            database,
            registry,
            default_model_bars,
            progress=lambda stage, done, total: stages.append(stage),
        )
        assert first.ref == f"{DEFAULT_MODEL_NAME}@1" and first.stage == ModelStage.PRODUCTION
        assert first.is_platform and first.family == "lightgbm"
        assert first.symbols == ("EURUSD",) and first.timeframe == "M5"
        assert first.feature_set == "fx-core@1" and len(first.feature_set_fingerprint) == 64
        assert first.train_from_ts < first.train_to_ts
        assert len(first.metrics["folds"]) == 3 and "feature_stats" in first.metrics
        assert first.metrics["source"]["kind"] == "sample"
        # The demo's model trades but has no edge on the sample market: its verdict says so
        # and it is promoted by force with the demo's reason, stored with the version.
        assert first.label["kind"] == "direction"
        assert first.metrics["verdict"]["passed"] is False
        assert "do not trade it" in first.metrics["verdict"]["sentence"]
        assert first.promotion_override is not None
        assert first.promotion_override["reason"] == DEMO_FORCE_REASON
        assert stages and stages[-1] == "exported"
        bundle = ModelBundle(await registry.read_artifact(first))
        assert bundle is not None

        stages.clear()
        second = await ensure_default_model(
            database,
            registry,
            default_model_bars,
            progress=lambda stage, done, total: stages.append(stage),
        )
        assert stages == []  # no training the second time
        assert (second.id, second.version, second.stage) == (first.id, 1, ModelStage.PRODUCTION)
        async with database.unit_of_work(system=True, read_only=True) as uow:
            assert len(await registry.versions(uow, DEFAULT_MODEL_NAME)) == 1
    finally:
        await kernel.stop()


async def test_retrains_when_no_version_is_in_production(tmp_path: Path) -> None:
    home = tmp_path / "home"
    kernel = Kernel(embedded_settings(home), services="hub,storage")
    await kernel.start(serving=False)
    try:
        registry = local_model_registry(home, kernel.clock)
        database = kernel.infra.database
        first = await ensure_default_model(database, registry, default_model_bars)
        async with database.unit_of_work(system=True) as uow:
            await registry.archive(uow, DEFAULT_MODEL_NAME, first.version)
        second = await ensure_default_model(database, registry, default_model_bars)
        assert second.version == 2 and second.stage == ModelStage.PRODUCTION
        # Same recipe, same data: the deterministic sample market gives the same artifact.
        assert second.artifact_sha256 == first.artifact_sha256
    finally:
        await kernel.stop()


async def test_a_recipe_that_loses_is_promoted_by_force_and_says_why(tmp_path: Path) -> None:
    home = tmp_path / "home"
    kernel = Kernel(embedded_settings(home), services="hub,storage")
    await kernel.start(serving=False)
    try:
        registry = local_model_registry(home, kernel.clock)
        losing = DefaultModelRecipe(days=7, label=LabelSpec())  # direction over 12 bars
        model = await ensure_default_model(
            kernel.infra.database, registry, default_model_bars, recipe=losing
        )
        assert model.stage == ModelStage.PRODUCTION
        assert model.metrics["verdict"]["passed"] is False
        override = model.promotion_override
        assert override is not None and override["reason"] == DEMO_FORCE_REASON
        assert override["by"] == "default model" and override["verdict"] == "failed"
    finally:
        await kernel.stop()
