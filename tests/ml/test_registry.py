"""The model registry on SQLite and PostgreSQL (a non-superuser role, so RLS applies)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from chainflow.core.auth import TIER_LIMITS, Feature, Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import InvalidInput
from chainflow.core.ids import TenantId, new_id
from chainflow.core.settings import DatabaseSettings
from chainflow.core.tenancy import TenantContext
from chainflow.ml.api import (
    ArtifactIntegrityError,
    ArtifactMissingError,
    CustomModelLimitError,
    CustomModelsNotInTierError,
    ModelNotFoundError,
    ModelPromotionRefusedError,
    ModelRegistration,
    ModelStage,
    ModelStageConflictError,
    ModelVersion,
)
from chainflow.ml.registry.artifacts import LocalArtifactStore
from chainflow.ml.registry.model_registry import ModelRegistry
from chainflow.storage.relational import Database, upgrade
from tests.fixtures.backends import unique_name
from tests.fixtures.database import ProvisionedDatabase

START_MS = 1_760_000_000_000
ENTERPRISE = TIER_LIMITS[Tier.ENTERPRISE]


@pytest.fixture(scope="module")
def migrated(module_database: ProvisionedDatabase) -> ProvisionedDatabase:
    asyncio.run(upgrade(module_database.url))
    return module_database


@pytest.fixture
async def database(migrated: ProvisionedDatabase) -> AsyncIterator[Database]:
    db = Database(migrated.url, DatabaseSettings(url=migrated.url), clock=SimulatedClock(START_MS))
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
def registry(tmp_path: Path, clock: SimulatedClock) -> ModelRegistry:
    return ModelRegistry(artifacts=LocalArtifactStore(tmp_path / "models"), clock=clock)


def make_tenant() -> TenantContext:
    return TenantContext(tenant_id=TenantId(new_id()))


PASSED = {"passed": True, "sentence": "beats both baselines (p=0.004)"}
FAILED = {
    "passed": False,
    "sentence": "does not beat the majority baseline (p=0.41): do not trade it",
}


def registration(
    name: str, family: str = "xgboost", verdict: dict[str, object] | None = PASSED
) -> ModelRegistration:
    metrics: dict[str, object] = {"oos": {"accuracy": 0.54}, "baselines": {"majority": 0.5}}
    if verdict is not None:
        metrics["verdict"] = verdict
    return ModelRegistration(
        name=name,
        family=family,
        feature_set="fx-core@1",
        feature_set_fingerprint="f" * 64,
        label={"kind": "triple_barrier", "horizon": 12},
        symbols=("EURUSD", "GBPUSD"),
        timeframe="H1",
        train_from_ts=START_MS - 86_400_000 * 365,
        train_to_ts=START_MS,
        metrics=metrics,
        created_by="test",
    )


async def register(
    database: Database,
    registry: ModelRegistry,
    name: str,
    *,
    owner: TenantContext | None = None,
    artifact: bytes = b"onnx-bytes",
    family: str = "xgboost",
    limits: object = ENTERPRISE,
    verdict: dict[str, object] | None = PASSED,
) -> ModelVersion:
    async with database.unit_of_work(owner, system=owner is None) as uow:
        return await registry.register(
            uow,
            registration(name, family, verdict),
            artifact,
            owner=owner,
            limits=limits if owner is not None else None,  # type: ignore[arg-type]
        )


async def promote(database: Database, registry: ModelRegistry, name: str, version: int) -> None:
    async with database.unit_of_work(system=True) as uow:
        await registry.promote(uow, name, version)


async def stages(database: Database, registry: ModelRegistry, name: str) -> dict[int, str]:
    async with database.unit_of_work(system=True, read_only=True) as uow:
        return {v.version: v.stage.value for v in await registry.versions(uow, name)}


class TestRegister:
    async def test_versions_increase_from_one_as_candidates(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        name = unique_name("m")
        registered = [
            await register(database, registry, name, artifact=f"v{i}".encode()) for i in range(3)
        ]
        assert [m.version for m in registered] == [1, 2, 3]
        assert {m.stage for m in registered} == {ModelStage.CANDIDATE}
        first = registered[0]
        assert first.is_platform and first.ref == f"{name}@1"
        assert first.artifact_path == f"platform/{name}/1/model.onnx"
        assert first.artifact_sha256 == hashlib.sha256(b"v0").hexdigest()
        assert first.artifact_bytes == 2
        assert first.metrics["baselines"] == {"majority": 0.5}
        assert first.symbols == ("EURUSD", "GBPUSD")

    async def test_concurrent_registrations_get_distinct_versions(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        name = unique_name("m")
        both = await asyncio.gather(*(register(database, registry, name) for _ in range(2)))
        assert sorted(m.version for m in both) == [1, 2]

    @pytest.mark.parametrize(
        ("name", "family"), [("bad name", "xgboost"), ("../up", "xgboost"), ("ok", "prophet")]
    )
    async def test_invalid_name_or_family_is_refused(
        self, database: Database, registry: ModelRegistry, name: str, family: str
    ) -> None:
        with pytest.raises(InvalidInput, match="expected a model"):
            await register(database, registry, name, family=family)

    async def test_platform_model_needs_a_system_unit_of_work(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        with pytest.raises(ValueError, match="system=True"):
            async with database.unit_of_work(make_tenant()) as uow:
                await registry.register(uow, registration(unique_name("m")), b"x")


class TestPromote:
    async def test_promote_keeps_one_production_and_archives_the_previous(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        name = unique_name("m")
        for _ in range(3):
            await register(database, registry, name)
        await promote(database, registry, name, 1)
        await promote(database, registry, name, 2)
        assert await stages(database, registry, name) == {
            1: "archived",
            2: "production",
            3: "candidate",
        }
        async with database.unit_of_work(system=True, read_only=True) as uow:
            production = await registry.production(uow, name)
        assert production is not None and production.version == 2
        assert production.promoted_at is not None

    async def test_promoting_the_production_version_is_a_conflict(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        name = unique_name("m")
        await register(database, registry, name)
        await promote(database, registry, name, 1)
        with pytest.raises(ModelStageConflictError, match="already in production"):
            await promote(database, registry, name, 1)

    async def test_unknown_version_is_not_found(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        name = unique_name("m")
        await register(database, registry, name)
        with pytest.raises(ModelNotFoundError, match=f"{name}@7"):
            await promote(database, registry, name, 7)


class TestPromotionGate:
    """A version whose verdict does not beat its baselines is promoted only by force."""

    @pytest.mark.parametrize(
        ("verdict", "status", "said"),
        [
            (FAILED, "failed", "does not beat the majority"),
            (None, "unknown", "no recorded verdict"),
        ],
    )
    async def test_refused_without_force(
        self,
        database: Database,
        registry: ModelRegistry,
        verdict: dict[str, object] | None,
        status: str,
        said: str,
    ) -> None:
        name = unique_name("gate")
        await register(database, registry, name, verdict=verdict)
        with pytest.raises(ModelPromotionRefusedError) as refused:
            await promote(database, registry, name, 1)
        assert refused.value.status == 409 and refused.value.code == "promotion_refused"
        assert said in refused.value.message and "--force --reason" in refused.value.message
        assert refused.value.details == {
            "model": f"{name}@1",
            "verdict": status,
            "sentence": refused.value.details["sentence"],
        }
        assert await stages(database, registry, name) == {1: "candidate"}

    async def test_force_needs_a_reason(self, database: Database, registry: ModelRegistry) -> None:
        name = unique_name("gate")
        await register(database, registry, name, verdict=FAILED)
        for reason in (None, "   "):
            with pytest.raises(InvalidInput, match="expected a reason with force"):
                async with database.unit_of_work(system=True) as uow:
                    await registry.promote(uow, name, 1, force=True, reason=reason)
        assert await stages(database, registry, name) == {1: "candidate"}

    async def test_forced_promotion_is_stored_and_listed(
        self, database: Database, registry: ModelRegistry, clock: SimulatedClock
    ) -> None:
        name = unique_name("gate")
        await register(database, registry, name, verdict=FAILED)
        await register(database, registry, name)  # passes: no override recorded
        async with database.unit_of_work(system=True) as uow:
            forced = await registry.promote(
                uow, name, 1, force=True, reason=" paper trading only ", by="ops"
            )
        assert forced.stage is ModelStage.PRODUCTION
        assert forced.promotion_override == {
            "reason": "paper trading only",
            "by": "ops",
            "at": clock.now().isoformat(timespec="seconds"),
            "verdict": "failed",
            "sentence": FAILED["sentence"],
        }
        async with database.unit_of_work(system=True, read_only=True) as uow:
            (summary,) = [s for s in await registry.list(uow) if s.name == name]
            listed = await registry.versions(uow, name)
        assert summary.production_version == 1
        assert summary.production_override == forced.promotion_override
        assert summary.production_verdict is not None
        assert summary.production_verdict.status.value == "failed"
        assert listed[0].promotion_override == forced.promotion_override

        async with database.unit_of_work(system=True) as uow:
            passed = await registry.promote(uow, name, 2, force=True, reason="not needed")
        assert passed.promotion_override is None  # the gate let it through on its own
        async with database.unit_of_work(system=True, read_only=True) as uow:
            (summary,) = [s for s in await registry.list(uow) if s.name == name]
        assert summary.production_override is None
        assert summary.production_verdict is not None and summary.production_verdict.passed

    async def test_rollback_is_not_gated(
        self, database: Database, registry: ModelRegistry, clock: SimulatedClock
    ) -> None:
        name = unique_name("gate")
        await register(database, registry, name, verdict=FAILED)
        await register(database, registry, name)
        async with database.unit_of_work(system=True) as uow:
            await registry.promote(uow, name, 1, force=True, reason="baseline of a test")
        clock.advance_ms(1000)
        await promote(database, registry, name, 2)
        clock.advance_ms(1000)
        async with database.unit_of_work(system=True) as uow:
            restored = await registry.rollback(uow, name)
        assert restored.version == 1 and restored.promotion_override is not None


class TestRollback:
    async def test_rollback_restores_the_previous_production(
        self, database: Database, registry: ModelRegistry, clock: SimulatedClock
    ) -> None:
        name = unique_name("m")
        for _ in range(3):
            await register(database, registry, name)
        for version in (3, 1, 2):  # not in version order: the order of promotion counts
            clock.advance_ms(1000)
            await promote(database, registry, name, version)
        clock.advance_ms(1000)
        async with database.unit_of_work(system=True) as uow:
            restored = await registry.rollback(uow, name)
        assert restored.version == 1 and restored.stage is ModelStage.PRODUCTION
        assert await stages(database, registry, name) == {
            1: "production",
            2: "archived",
            3: "archived",
        }
        clock.advance_ms(1000)
        async with database.unit_of_work(system=True) as uow:
            assert (await registry.rollback(uow, name)).version == 2  # back to before

    async def test_nothing_to_roll_back_to_is_a_conflict(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        name = unique_name("m")
        await register(database, registry, name)
        await register(database, registry, name)
        await promote(database, registry, name, 2)
        with pytest.raises(ModelStageConflictError, match="no earlier production version"):
            async with database.unit_of_work(system=True) as uow:
                await registry.rollback(uow, name)
        assert await stages(database, registry, name) == {1: "candidate", 2: "production"}

    async def test_unknown_model_is_not_found(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        with pytest.raises(ModelNotFoundError):
            async with database.unit_of_work(system=True) as uow:
                await registry.rollback(uow, unique_name("none"))


class TestArchive:
    async def test_archiving_production_leaves_none_and_twice_is_a_conflict(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        name = unique_name("m")
        await register(database, registry, name)
        await promote(database, registry, name, 1)
        async with database.unit_of_work(system=True) as uow:
            archived = await registry.archive(uow, name, 1)
            assert await registry.production(uow, name) is None
        assert archived.stage is ModelStage.ARCHIVED and archived.archived_at is not None
        with pytest.raises(ModelStageConflictError, match="already archived"):
            async with database.unit_of_work(system=True) as uow:
                await registry.archive(uow, name, 1)


class TestTenantIsolation:
    async def test_custom_model_is_visible_to_its_tenant_only(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        alice, bob = make_tenant(), make_tenant()
        platform_name, custom_name = unique_name("p"), unique_name("c")
        await register(database, registry, platform_name)
        custom = await register(database, registry, custom_name, owner=alice)
        assert custom.tenant_id == alice.tenant_id
        assert custom.artifact_path == f"{alice.tenant_id}/{custom_name}/1/model.onnx"

        async with database.unit_of_work(alice, read_only=True) as uow:
            seen_by_alice = {m.name for m in await registry.list(uow, viewer=alice)}
            assert await registry.owner_of(uow, custom_name, alice) == alice
        async with database.unit_of_work(bob, read_only=True) as uow:
            seen_by_bob = {m.name for m in await registry.list(uow, viewer=bob)}
            with pytest.raises(ModelNotFoundError):
                await registry.owner_of(uow, custom_name, bob)
            with pytest.raises(ModelNotFoundError):
                await registry.versions(uow, custom_name, owner=bob)
            assert await registry.owner_of(uow, platform_name, bob) is None
        assert {platform_name, custom_name} <= seen_by_alice
        assert platform_name in seen_by_bob and custom_name not in seen_by_bob

    async def test_a_tenant_name_means_its_own_model_over_the_platform_one(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        alice, bob = make_tenant(), make_tenant()
        name = unique_name("shared")
        await register(database, registry, name)
        await promote(database, registry, name, 1)
        await register(database, registry, name, owner=alice)
        async with database.unit_of_work(alice) as uow:
            await registry.promote(uow, name, 1, owner=alice)
            alice_production = await registry.production(uow, name, viewer=alice)
        async with database.unit_of_work(bob, read_only=True) as uow:
            bob_production = await registry.production(uow, name, viewer=bob)
        assert alice_production is not None and alice_production.tenant_id == alice.tenant_id
        assert bob_production is not None and bob_production.is_platform

    async def test_rls_lets_a_tenant_read_but_not_change_platform_rows(
        self, database: Database, registry: ModelRegistry, migrated: ProvisionedDatabase
    ) -> None:
        if migrated.backend != "postgresql":
            pytest.skip("row-level security exists on PostgreSQL only")
        alice, bob = make_tenant(), make_tenant()
        platform = await register(database, registry, unique_name("p"))
        custom = await register(database, registry, unique_name("c"), owner=bob)
        async with database.unit_of_work(alice) as uow:
            # Deliberately unfiltered: only the policies stand in the way.
            visible = set((await uow.session.execute(text("SELECT id FROM ml_models"))).scalars())
            updated = await uow.session.execute(
                text("UPDATE ml_models SET stage = 'archived' RETURNING id")
            )
            deleted = await uow.session.execute(text("DELETE FROM ml_models RETURNING id"))
            assert updated.all() == [] and deleted.all() == []
        assert platform.id in visible and custom.id not in visible
        with pytest.raises(DBAPIError, match="row-level security"):
            async with database.unit_of_work(alice) as uow:
                await uow.session.execute(
                    text(
                        "INSERT INTO ml_models (id, name, version, family, feature_set, "
                        "feature_set_fingerprint, label, symbols, timeframe, train_from_ts, "
                        "train_to_ts, metrics, artifact_path, artifact_sha256, artifact_bytes, "
                        "stage) VALUES (:id, 'forged', 1, 'xgboost', 'f', 'f', '{}', '[]', "
                        "'H1', 0, 1, '{}', 'p', 'h', 1, 'production')"
                    ),
                    {"id": new_id()},
                )
        assert (await stages(database, registry, platform.name)) == {1: "candidate"}


class TestTierGate:
    async def test_free_tier_cannot_register_a_custom_model(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        with pytest.raises(CustomModelsNotInTierError, match="custom_models"):
            await register(
                database,
                registry,
                unique_name("c"),
                owner=make_tenant(),
                limits=TIER_LIMITS[Tier.FREE],
            )

    async def test_deep_family_needs_the_deep_models_feature(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        no_deep = replace(ENTERPRISE, features=frozenset({Feature.CUSTOM_MODELS}))
        tenant = make_tenant()
        with pytest.raises(CustomModelsNotInTierError, match="deep_models"):
            await register(
                database, registry, unique_name("c"), owner=tenant, family="lstm", limits=no_deep
            )
        gbm = await register(database, registry, unique_name("c"), owner=tenant, limits=no_deep)
        assert gbm.version == 1

    async def test_custom_model_count_is_limited_but_new_versions_are_not(
        self, database: Database, registry: ModelRegistry
    ) -> None:
        one = replace(ENTERPRISE, custom_models=1)
        tenant, name = make_tenant(), unique_name("c")
        await register(database, registry, name, owner=tenant, limits=one)
        again = await register(database, registry, name, owner=tenant, limits=one)
        assert again.version == 2
        with pytest.raises(CustomModelLimitError, match="allows 1 custom models"):
            await register(database, registry, unique_name("c"), owner=tenant, limits=one)
        async with database.unit_of_work(tenant) as uow:
            for version in (1, 2):
                await registry.archive(uow, name, version, owner=tenant)
        assert await register(database, registry, unique_name("c"), owner=tenant, limits=one)


class TestArtifacts:
    async def test_read_verifies_the_hash_and_refuses_a_tampered_file(
        self, database: Database, registry: ModelRegistry, tmp_path: Path
    ) -> None:
        model = await register(database, registry, unique_name("m"), artifact=b"original")
        assert await registry.read_artifact(model) == b"original"
        file = tmp_path / "models" / model.artifact_path
        assert [p.name for p in file.parent.iterdir()] == ["model.onnx"]  # no temp files left
        file.write_bytes(b"tampered")
        with pytest.raises(ArtifactIntegrityError, match="expected " + model.artifact_sha256):
            await registry.read_artifact(model)
        file.unlink()
        with pytest.raises(ArtifactMissingError, match="is missing"):
            await registry.read_artifact(model)

    async def test_paths_outside_the_root_are_refused(self, tmp_path: Path) -> None:
        store = LocalArtifactStore(tmp_path)
        for path in ("../secret", "/etc/passwd", ""):
            with pytest.raises(InvalidInput, match="relative to the store root"):
                await store.read(path, "0" * 64)
        with pytest.raises(InvalidInput, match="owner"):
            await store.write("../x", "m", 1, b"x", uow=None)  # type: ignore[arg-type]
