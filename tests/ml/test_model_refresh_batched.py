"""The served models' refresh round on SQLite and PostgreSQL (a non-superuser role, so RLS
applies): a constant number of SQL statements whatever the number of tenants served, and
only the tenants a change reaches are resolved again.

Statements are counted with SQLAlchemy's ``before_cursor_execute`` on the database's
engines (an observer: nothing is replaced). The fallback log is the embedded DuckDB store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from chainflow.core.clock import SimulatedClock
from chainflow.core.ids import TenantId, new_id
from chainflow.core.settings import DatabaseSettings, MlSettings, TimeSeriesSettings
from chainflow.core.tenancy import TenantContext
from chainflow.ml.api import ModelVersion
from chainflow.ml.live.model_cache import ServedModels
from chainflow.ml.registry.artifacts import LocalArtifactStore
from chainflow.ml.registry.fallback_log import Fallback, FallbackLog
from chainflow.ml.registry.model_registry import ModelRegistry
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.relational import Database, upgrade
from chainflow.storage.timeseries import open_timeseries
from tests.fixtures.backends import unique_name
from tests.fixtures.database import ProvisionedDatabase
from tests.ml.test_live_actions import constant_bundle
from tests.ml.test_registry import ENTERPRISE, START_MS, registration

REFRESH_S = 10.0
SERVED = 50
# The look of a round: the fingerprints (one statement; on PostgreSQL plus the setting of
# the system scope). The marks are one scan of the time-series store, not SQL.
LOOK_STATEMENTS = {"sqlite": 1, "postgresql": 2}


@pytest.fixture(scope="module")
def migrated(module_database: ProvisionedDatabase) -> ProvisionedDatabase:
    asyncio.run(upgrade(module_database.url))
    return module_database


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
async def database(migrated: ProvisionedDatabase, clock: SimulatedClock) -> AsyncIterator[Database]:
    db = Database(migrated.url, DatabaseSettings(url=migrated.url), clock=clock)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    opened = open_timeseries(f"duckdb:///{tmp_path / 'ts.duckdb'}", TimeSeriesSettings())
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()


@dataclass(slots=True)
class Statements:
    """The SQL statements the database's engines ran, with their parameters."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    def clear(self) -> None:
        self.seen.clear()

    def naming(self, tenant_id: str) -> list[str]:
        return [sql for sql, parameters in self.seen if tenant_id in parameters]


@pytest.fixture
def statements(database: Database) -> Iterator[Statements]:
    recorded = Statements()

    def note(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        recorded.seen.append((sql, repr(parameters)))

    engines = {id(e): e.sync_engine for e in (database.engine, database.read_engine)}
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield recorded
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", note)


@dataclass(slots=True)
class Served:
    """A registry with a platform model, tenants served it, and ``own``, served its own."""

    database: Database
    registry: ModelRegistry
    clock: SimulatedClock
    models: ServedModels
    fallbacks: FallbackLog
    own: TenantContext
    others: list[str]
    name: str

    async def register(self, owner: TenantContext | None, *, promote: bool) -> ModelVersion:
        artifact = constant_bundle((0.1, 0.1, 0.8), 4)
        async with self.database.unit_of_work(owner, system=owner is None) as uow:
            version = await self.registry.register(
                uow,
                registration(self.name),
                artifact,
                owner=owner,
                limits=None if owner is None else ENTERPRISE,
            )
            if promote:
                version = await self.registry.promote(uow, self.name, version.version, owner=owner)
        return version

    async def refresh(self) -> None:
        """Let ``refresh_s`` pass and run one round to its end."""
        self.clock.advance_ms(int(REFRESH_S * 1000))
        await self.models.resolve(self.own.tenant_id)  # answered from the cache; starts it
        await self.models.refreshed()

    async def versions(self) -> dict[str, int | None]:
        served = {}
        for tenant_id in [self.own.tenant_id, *self.others]:
            model = await self.models.resolve(tenant_id)
            served[tenant_id] = None if model is None else model.version.version
        return served


async def serve(
    database: Database,
    clock: SimulatedClock,
    store: TimeSeriesStore,
    tmp_path: Path,
    *,
    tenants: int = SERVED,
) -> Served:
    name = unique_name("fx")  # the module's database is shared by its tests
    registry = ModelRegistry(artifacts=LocalArtifactStore(tmp_path / "models"), clock=clock)
    fallbacks = FallbackLog(store)
    models = ServedModels(
        registry,
        database,
        clock,
        MlSettings(model=name, refresh_s=REFRESH_S),
        fallbacks=fallbacks,
    )
    own = TenantContext(tenant_id=TenantId(new_id()))
    others = [new_id() for _ in range(tenants - 1)]
    served = Served(database, registry, clock, models, fallbacks, own, others, name)
    await served.register(None, promote=True)  # the platform's v1
    await served.register(own, promote=True)  # the tenant's own v1
    await served.versions()  # every tenant served (resolved once)
    return served


@pytest.fixture
async def served(
    database: Database, clock: SimulatedClock, store: TimeSeriesStore, tmp_path: Path
) -> Served:
    """``SERVED`` tenants served the platform model, one of them its own model too."""
    return await serve(database, clock, store, tmp_path)


def backend(database: Database) -> str:
    return database.dialect


class TestUnchanged:
    async def test_a_round_issues_the_same_statements_for_1_and_50_tenants(
        self, served: Served, statements: Statements
    ) -> None:
        statements.clear()
        await served.refresh()
        assert len(statements.seen) == LOOK_STATEMENTS[backend(served.database)], statements.seen
        assert len(served.models.tenants()) == SERVED
        assert await served.versions() == dict.fromkeys([served.own.tenant_id, *served.others], 1)

        for tenant_id in served.others[1:]:
            served.models.forget(tenant_id)  # one tenant left besides the owner
        statements.clear()
        await served.refresh()
        assert len(statements.seen) == LOOK_STATEMENTS[backend(served.database)], statements.seen

    async def test_a_new_candidate_of_the_platform_resolves_no_tenant_again(
        self, served: Served, statements: Statements
    ) -> None:
        await served.register(None, promote=False)  # v2, a candidate: production unchanged
        statements.clear()
        await served.refresh()
        assert len(statements.seen) == LOOK_STATEMENTS[backend(served.database)], statements.seen


class TestChange:
    async def test_a_promotion_of_a_tenants_own_model_reaches_it_alone(
        self, served: Served, statements: Statements
    ) -> None:
        await served.register(served.own, promote=True)  # the tenant's v2
        statements.clear()
        await served.refresh()
        versions = await served.versions()
        assert versions[served.own.tenant_id] == 2
        assert all(versions[t] == 1 for t in served.others)
        # Every other tenant appears only in the round's one look at the registry.
        for tenant_id in served.others:
            assert len(statements.naming(tenant_id)) == 1, statements.naming(tenant_id)
        assert len(statements.naming(served.own.tenant_id)) > 1

    async def test_a_promotion_of_the_platform_model_reaches_every_tenant_without_its_own(
        self, served: Served, statements: Statements
    ) -> None:
        await served.register(None, promote=True)  # the platform's v2
        statements.clear()
        await served.refresh()
        versions = await served.versions()
        assert all(versions[t] == 2 for t in served.others)
        assert versions[served.own.tenant_id] == 1  # its own model, unchanged
        # One read of the new production version for all of them, not one per tenant.
        look = LOOK_STATEMENTS[backend(served.database)]
        assert len(statements.seen) <= 2 * look + 2, statements.seen
        for tenant_id in served.others:
            assert len(statements.naming(tenant_id)) == 1

    async def test_a_rollback_of_the_platform_model_reaches_every_tenant_without_its_own(
        self,
        database: Database,
        clock: SimulatedClock,
        store: TimeSeriesStore,
        tmp_path: Path,
    ) -> None:
        served = await serve(database, clock, store, tmp_path, tenants=5)
        await served.register(None, promote=True)
        await served.refresh()
        async with database.unit_of_work(system=True) as uow:
            await served.registry.rollback(uow, served.name)
        await served.refresh()
        versions = await served.versions()
        assert all(versions[t] == 1 for t in served.others)

    async def test_a_fallback_recorded_for_a_tenant_reaches_it_alone(
        self, served: Served, statements: Statements
    ) -> None:
        fallen = served.others[0]
        await served.fallbacks.record(fallen, hold_of(served.name, served.clock.now_ms()))
        statements.clear()
        await served.refresh()
        assert await served.models.resolve(fallen) is None
        assert served.models.unavailable_reason(fallen).startswith("model_underperforming: ")
        for tenant_id in served.others[1:]:
            assert len(statements.naming(tenant_id)) == 1
            assert served.models.fallback_of(tenant_id) is None
        versions = await served.versions()
        assert all(versions[t] == 1 for t in served.others[1:])

        statements.clear()
        await served.refresh()  # the mark was seen: not resolved again
        assert len(statements.seen) == LOOK_STATEMENTS[backend(served.database)], statements.seen

    async def test_a_platform_promotion_after_a_fallback_ends_it(
        self,
        database: Database,
        clock: SimulatedClock,
        store: TimeSeriesStore,
        tmp_path: Path,
    ) -> None:
        served = await serve(database, clock, store, tmp_path, tenants=5)
        fallen = served.others[0]
        await served.fallbacks.record(fallen, hold_of(served.name, clock.now_ms()))
        await served.refresh()
        assert await served.models.resolve(fallen) is None
        clock.advance_ms(1)
        await served.register(None, promote=True)  # v2 ends the fallback of v1
        await served.refresh()
        model = await served.models.resolve(fallen)
        assert model is not None and model.version.version == 2
        assert served.models.fallback_of(fallen) is None


def hold_of(name: str, at_ms: int) -> Fallback:
    """The platform's v1 of ``name`` fallen back to hold at ``at_ms``."""
    return Fallback(
        name=name,
        at_ms=at_ms,
        from_version=1,
        to_version=0,
        reason="model_underperforming",
        detail="stayed below its baseline for 8 scored predictions",
        decided_by="test",
        market="EURUSD",
        timeframe="M5",
        hit_rate=0.0,
        baseline_accuracy=0.4,
        scored=8,
        streak=8,
    )


class TestFirstResolve:
    async def test_concurrent_first_resolves_of_a_tenant_read_the_registry_once(
        self, served: Served, statements: Statements
    ) -> None:
        """A new tenant's hello and first tick both ask for its model at once: one read,
        the same answer (before: each caller read the registry)."""
        newcomer = new_id()
        alone = TenantId(new_id())
        assert not served.models.resolved(newcomer)
        statements.clear()
        await served.models.resolve(alone)
        one_read = len(statements.naming(alone))
        assert one_read > 0 and served.models.resolved(alone)
        statements.clear()
        answers = await asyncio.gather(*(served.models.resolve(newcomer) for _ in range(3)))
        assert len(statements.naming(newcomer)) == one_read
        assert {a.version.version for a in answers if a is not None} == {1}
        assert all(a is answers[0] for a in answers) and served.models.resolved(newcomer)

    async def test_versions_of_one_artifact_share_one_loaded_bundle(self, served: Served) -> None:
        """Every tenant's copy of a model is one ONNX session (the tick path scores the
        keys of all of them with one call); another artifact loads its own."""
        platform = await served.models.resolve(served.others[0])
        own = await served.models.resolve(served.own.tenant_id)
        assert platform is not None and own is not None
        assert platform.version.id != own.version.id
        assert platform.version.artifact_sha256 == own.version.artifact_sha256
        assert own.bundle is platform.bundle

        artifact = constant_bundle((0.2, 0.2, 0.6), 4)
        async with served.database.unit_of_work(served.own) as uow:
            v2 = await served.registry.register(
                uow, registration(served.name), artifact, owner=served.own, limits=ENTERPRISE
            )
            await served.registry.promote(uow, served.name, v2.version, owner=served.own)
        served.models.forget(served.own.tenant_id)
        changed = await served.models.resolve(served.own.tenant_id)
        assert changed is not None and changed.version.version == 2
        assert changed.bundle is not platform.bundle
        probabilities = changed.bundle.predict([[0.0] * 4]).probabilities[0]
        assert [round(float(p), 6) for p in probabilities] == [0.2, 0.2, 0.6]

    async def test_tenants_resolving_at_once_share_one_loaded_model(
        self, served: Served, tmp_path: Path
    ) -> None:
        """A hundred tenants' first ticks resolve their model at once: one served model
        and one ONNX session for all of them (before: one each, and one model call each)."""
        slow = SlowArtifacts(tmp_path / "models")  # the registry's, with an object store's latency
        registry = ModelRegistry(artifacts=slow, clock=served.clock)
        fresh = ServedModels(registry, served.database, served.clock, MlSettings(model=served.name))
        answers = await asyncio.gather(*(fresh.resolve(t) for t in served.others[:20]))
        assert all(answer is answers[0] for answer in answers)
        assert answers[0] is not None and answers[0].version.version == 1
        own = await fresh.resolve(served.own.tenant_id)  # another version, the same bytes
        assert own is not None and own is not answers[0] and own.bundle is answers[0].bundle
        assert slow.reads == 1


class SlowArtifacts(LocalArtifactStore):
    """Artifacts on local disk, read with an object store's latency (and counted)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads = 0

    async def read(self, path: str, expected_sha256: str) -> bytes:
        self.reads += 1
        await asyncio.sleep(0.05)
        return await super().read(path, expected_sha256)
