"""Contract of ``storage.relational``: SQLite and PostgreSQL pass the same assertions.

PostgreSQL runs as a non-superuser role that owns a fresh database, so the row-level
security tests prove what production gets. The test-only tables live on their own
``MetaData``; the production ``Base.metadata`` is left untouched.
"""

from __future__ import annotations

import asyncio
import configparser
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, String, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import chainflow.analytics.reports.models  # noqa: F401  (report subscriptions)
import chainflow.backtest.models  # noqa: F401  (the backtest jobs)
import chainflow.bridge.models  # noqa: F401
import chainflow.hub.models  # noqa: F401  (registers the hub's tables on Base.metadata)
import chainflow.ml.models  # noqa: F401  (and the model registry's)
import chainflow.notify.models  # noqa: F401  (the notification outbox and preferences)
import chainflow.notify.telegram_bot.models  # noqa: F401  (Telegram chat bindings, link codes)
import chainflow.trading.models  # noqa: F401  (the issued signals)
import chainflow.users.models  # noqa: F401  (and the users service's)
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import ConfigurationError, DependencyUnavailable, Forbidden, NotFound
from chainflow.core.ids import TenantId, new_id
from chainflow.core.settings import DatabaseSettings
from chainflow.core.tenancy import TenantContext
from chainflow.runtime.services import SERVICES
from chainflow.storage.relational import (
    Base,
    Database,
    IdMixin,
    Repository,
    TenantOwned,
    TenantRepository,
    TimestampMixin,
    current_revision,
    disable_tenant_rls,
    enable_tenant_rls,
    head_revision,
    tables_without_tenant_rls,
    tenant_tables,
    upgrade,
)
from chainflow.storage.relational.base import NAMING_CONVENTION, TYPE_ANNOTATION_MAP
from tests.fixtures.backends import unique_name
from tests.fixtures.database import ProvisionedDatabase

START_MS = 1_700_000_000_000
UNREACHABLE_URL = "postgresql+asyncpg://u:secretpw@127.0.0.1:1/x"
REPO_ROOT = Path(__file__).resolve().parents[2]

# The newest file in storage/migrations/versions.
LATEST_MIGRATION = "0021_signals_tenant_ts_index"


class ContractBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Note(ContractBase, IdMixin, TimestampMixin, TenantOwned):
    __tablename__ = "contract_notes"

    text: Mapped[str] = mapped_column(String(200))


class Tag(ContractBase, IdMixin):
    __tablename__ = "contract_tags"

    label: Mapped[str] = mapped_column(String(50))


class NoteRepository(TenantRepository[Note]):
    pass


class TagRepository(Repository[Tag]):
    pass


def make_tenant() -> TenantContext:
    return TenantContext(tenant_id=TenantId(new_id()))


async def create_test_schema(url: str) -> None:
    database = Database(url, DatabaseSettings(url=url))
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(ContractBase.metadata.create_all)
            await connection.run_sync(enable_tenant_rls, Note.__tablename__)
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def schema_database(module_database: ProvisionedDatabase) -> ProvisionedDatabase:
    asyncio.run(create_test_schema(module_database.url))
    return module_database


@pytest.fixture
async def database(schema_database: ProvisionedDatabase) -> AsyncIterator[Database]:
    url = schema_database.url
    db = Database(url, DatabaseSettings(url=url), clock=SimulatedClock(START_MS))
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def postgresql_only(schema_database: ProvisionedDatabase) -> ProvisionedDatabase:
    if schema_database.backend != "postgresql":
        pytest.skip("row-level security exists on PostgreSQL only")
    return schema_database


async def add_notes(database: Database, tenant: TenantContext, *texts: str) -> list[Note]:
    async with database.unit_of_work(tenant) as uow:
        repository = NoteRepository(uow.session, tenant)
        return [await repository.add(Note(text=t)) for t in texts]


class TestDatabase:
    def test_unsupported_scheme_raises_configuration_error_without_password(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            Database("mysql+aiomysql://app:hunter2@db:3306/cf", DatabaseSettings())
        message = caught.value.message
        assert "mysql+aiomysql://app:***@db:3306/cf" in message and "hunter2" not in message
        assert "sqlite+aiosqlite" in message and "postgresql+asyncpg" in message

    @pytest.mark.parametrize(
        ("url", "dialect"),
        [("sqlite:///x.db", "sqlite"), ("postgres://u@h/d", "postgresql")],
    )
    def test_bare_scheme_selects_the_async_driver(self, url: str, dialect: str) -> None:
        database = Database(url, DatabaseSettings())
        assert database.dialect == dialect
        assert database.engine.url.get_driver_name() in ("aiosqlite", "asyncpg")

    async def test_unreachable_server_raises_dependency_unavailable_without_password(
        self,
    ) -> None:
        database = Database(UNREACHABLE_URL, DatabaseSettings(connect_timeout_s=2))
        try:
            with pytest.raises(DependencyUnavailable) as caught:
                await database.check_connection()
            report = await database.health()
        finally:
            await database.dispose()
        assert "127.0.0.1:1" in caught.value.message
        assert "secretpw" not in caught.value.message
        assert not report.ok and "secretpw" not in str(report.to_dict())

    async def test_unusable_sqlite_path_raises_dependency_unavailable(self, tmp_path: Path) -> None:
        (tmp_path / "a-file").write_text("not a directory")
        url = f"sqlite+aiosqlite:///{tmp_path / 'a-file' / 'sub' / 'db.sqlite'}"
        database = Database(url, DatabaseSettings())
        try:
            with pytest.raises(DependencyUnavailable, match="is unreachable"):
                await database.check_connection()
        finally:
            await database.dispose()

    async def test_sqlite_creates_directory_and_uses_wal_and_foreign_keys(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "nested" / "dir" / "db.sqlite"
        database = Database(f"sqlite+aiosqlite:///{path}", DatabaseSettings())
        try:
            await database.check_connection()
            async with database.engine.connect() as connection:
                journal_mode = await connection.scalar(text("PRAGMA journal_mode"))
                foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
        finally:
            await database.dispose()
        assert path.exists()
        assert (journal_mode, foreign_keys) == ("wal", 1)

    async def test_health_reports_backend_latency_and_url(
        self, database: Database, schema_database: ProvisionedDatabase
    ) -> None:
        report = await database.health()
        assert report.ok and report.name == "database"
        assert report.backend == schema_database.backend
        assert report.latency_ms is not None and report.latency_ms >= 0
        assert "pw_" not in report.extra["url"]

    async def test_health_reports_rls_enforced_only_for_the_application_role(
        self, database: Database, postgresql_only: ProvisionedDatabase
    ) -> None:
        assert postgresql_only.superuser_url is not None
        superuser = Database(postgresql_only.superuser_url, DatabaseSettings())
        try:
            superuser_report = await superuser.health()
        finally:
            await superuser.dispose()
        assert superuser_report.extra["rls_enforced"] is False
        assert (await database.health()).extra["rls_enforced"] is True


class TestUnitOfWork:
    async def test_clean_exit_commits(self, database: Database) -> None:
        tenant = make_tenant()
        [note] = await add_notes(database, tenant, "kept")
        async with database.unit_of_work(tenant) as uow:
            assert (await NoteRepository(uow.session, tenant).get_one(note.id)).text == "kept"

    async def test_exception_rolls_back(self, database: Database) -> None:
        tenant = make_tenant()
        with pytest.raises(RuntimeError, match="boom"):
            async with database.unit_of_work(tenant) as uow:
                await NoteRepository(uow.session, tenant).add(Note(text="lost"))
                raise RuntimeError("boom")
        async with database.unit_of_work(tenant) as uow:
            assert await NoteRepository(uow.session, tenant).count() == 0

    async def test_after_commit_runs_after_the_commit_is_visible(self, database: Database) -> None:
        tenant = make_tenant()
        seen: list[int] = []

        async def count_from_a_new_transaction() -> None:
            async with database.unit_of_work(tenant) as other:
                seen.append(await NoteRepository(other.session, tenant).count())

        async with database.unit_of_work(tenant) as uow:
            await NoteRepository(uow.session, tenant).add(Note(text="x"))
            uow.after_commit(count_from_a_new_transaction)
            assert seen == []
        assert seen == [1]

    async def test_after_commit_is_dropped_on_rollback(self, database: Database) -> None:
        tenant = make_tenant()
        ran: list[str] = []

        async def record() -> None:
            ran.append("ran")

        with pytest.raises(ValueError):
            async with database.unit_of_work(tenant) as uow:
                uow.after_commit(record)
                raise ValueError("abort")
        assert ran == []

    async def test_failing_callback_does_not_stop_the_others(self, database: Database) -> None:
        ran: list[str] = []

        async def fail() -> None:
            raise LookupError("bus down")

        async def record() -> None:
            ran.append("second")

        with pytest.raises(LookupError, match="bus down"):
            async with database.unit_of_work() as uow:
                uow.after_commit(fail)
                uow.after_commit(record)
        assert ran == ["second"]

    async def test_session_outside_the_block_raises(self, database: Database) -> None:
        uow = database.unit_of_work()
        with pytest.raises(RuntimeError, match="not open"):
            _ = uow.session
        async with uow:
            pass
        with pytest.raises(RuntimeError, match="single use"):
            async with uow:
                pass

    async def test_timestamps_come_from_the_injected_clock(self, database: Database) -> None:
        tenant = make_tenant()
        [note] = await add_notes(database, tenant, "v1")
        assert note.created_at.timestamp() * 1000 == START_MS
        assert note.created_at.tzinfo is not None
        async with database.unit_of_work(tenant) as uow:
            repository = NoteRepository(uow.session, tenant)
            assert await repository.update_by_id(note.id, {"text": "v2"})
            loaded = await repository.get_one(note.id)
        assert loaded.text == "v2" and loaded.updated_at.tzinfo is not None


class TestRepository:
    async def test_add_get_delete_and_pages(self, database: Database) -> None:
        async with database.unit_of_work() as uow:
            repository = TagRepository(uow.session)
            tags = [await repository.add(Tag(label=f"t{i}")) for i in range(3)]
            assert (await repository.get(tags[0].id)) is tags[0]
            await repository.delete(tags[0])
            assert await repository.get(tags[0].id) is None
            first = await repository.list(limit=1, after=tags[0].id)
            assert [t.id for t in first.items] == [tags[1].id] and first.has_more

    def test_tenant_owned_model_refused(self) -> None:
        with pytest.raises(TypeError, match="tenant-owned"):

            class WrongRepository(Repository[Note]):
                pass


class TestTenantRepository:
    async def test_each_tenant_sees_only_its_rows(self, database: Database) -> None:
        alice, bob = make_tenant(), make_tenant()
        [alices] = await add_notes(database, alice, "a")
        [bobs] = await add_notes(database, bob, "b")
        async with database.unit_of_work(alice) as uow:
            repository = NoteRepository(uow.session, alice)
            assert alices.tenant_id == alice.tenant_id
            assert (await repository.get(alices.id)) is not None
            assert await repository.get(bobs.id) is None
            with pytest.raises(NotFound):
                await repository.get_one(bobs.id)
            assert [n.id for n in (await repository.list()).items] == [alices.id]

    async def test_keyset_pages_cover_every_row_once(self, database: Database) -> None:
        tenant = make_tenant()
        notes = await add_notes(database, tenant, *(f"n{i}" for i in range(5)))
        await add_notes(database, make_tenant(), "other")
        seen: list[str] = []
        async with database.unit_of_work(tenant) as uow:
            repository, after = NoteRepository(uow.session, tenant), None
            while True:
                page = await repository.list(limit=2, after=after)
                seen += [n.id for n in page.items]
                if not page.has_more:
                    break
                after = page.next_cursor
        assert seen == sorted(n.id for n in notes)

    async def test_update_and_delete_cannot_touch_another_tenants_row(
        self, database: Database
    ) -> None:
        alice, bob = make_tenant(), make_tenant()
        [bobs] = await add_notes(database, bob, "bob's")
        async with database.unit_of_work(alice) as uow:
            repository = NoteRepository(uow.session, alice)
            assert await repository.update_by_id(bobs.id, {"text": "hacked"}) is False
            assert await repository.delete_by_id(bobs.id) is False
            with pytest.raises(Forbidden):
                await repository.delete(bobs)
        async with database.unit_of_work(bob) as uow:
            assert (await NoteRepository(uow.session, bob).get_one(bobs.id)).text == "bob's"

    async def test_adding_a_row_of_another_tenant_is_refused(self, database: Database) -> None:
        alice, bob = make_tenant(), make_tenant()
        with pytest.raises(Forbidden, match="tenant"):
            async with database.unit_of_work(alice) as uow:
                await NoteRepository(uow.session, alice).add(
                    Note(text="x", tenant_id=bob.tenant_id)
                )

    def test_non_tenant_model_refused_at_class_definition(self) -> None:
        with pytest.raises(TypeError, match="tenant-owned"):

            class WrongRepository(TenantRepository[Tag]):
                pass

    async def test_construction_requires_a_tenant_context(self, database: Database) -> None:
        async with database.unit_of_work() as uow:
            with pytest.raises(TypeError, match="requires a TenantContext"):
                NoteRepository(uow.session, "tenant-id")  # type: ignore[arg-type]

    async def test_unit_of_work_of_another_tenant_is_refused(self, database: Database) -> None:
        async with database.unit_of_work(make_tenant()) as uow:
            with pytest.raises(ValueError, match="opened for the same tenant"):
                NoteRepository(uow.session, make_tenant())

    def test_tenant_tables_lists_only_tenant_owned_tables(self) -> None:
        assert tenant_tables(ContractBase.metadata) == {Note.__tablename__}
        assert tenant_tables(Base.metadata) == {
            "users",
            "refresh_tokens",
            "one_time_tokens",
            "api_keys",
            "invitations",
            "tenant_trading_settings",
            "symbol_aliases",
            "ml_models",
            "signals",
            "backtest_jobs",
            "paper_accounts",
            "notification_outbox",
            "notification_preferences",
            "notification_digest_items",
            "notification_templates",
            "notification_devices",
            "notification_known_addresses",
            "notification_terminals",
            "billing_orders",
            "billing_subscriptions",
            "billing_invoice_counters",
            "billing_invoices",
            "billing_coupon_redemptions",
            "billing_tier_grants",
            "telegram_bindings",
            "telegram_link_codes",
            "analytics_report_subscriptions",
        }


async def select_every_note(session: AsyncSession) -> list[Note]:
    # Deliberately no tenant filter: only row-level security stands in the way.
    return list((await session.execute(select(Note))).scalars().all())


class TestRowLevelSecurity:
    async def test_unfiltered_select_sees_only_the_tenant_of_the_unit_of_work(
        self, database: Database, postgresql_only: ProvisionedDatabase
    ) -> None:
        alice, bob = make_tenant(), make_tenant()
        await add_notes(database, alice, "a1", "a2")
        await add_notes(database, bob, "b1")
        async with database.unit_of_work(alice) as uow:
            notes = await select_every_note(uow.session)
        assert sorted(n.text for n in notes) == ["a1", "a2"]

    async def test_unfiltered_select_without_tenant_sees_nothing(
        self, database: Database, postgresql_only: ProvisionedDatabase
    ) -> None:
        await add_notes(database, make_tenant(), "hidden")
        async with database.unit_of_work() as uow:
            assert await select_every_note(uow.session) == []

    async def test_insert_for_another_tenant_is_rejected_by_the_policy(
        self, database: Database, postgresql_only: ProvisionedDatabase
    ) -> None:
        alice, bob = make_tenant(), make_tenant()
        with pytest.raises(DBAPIError, match="row-level security"):
            async with database.unit_of_work(alice) as uow:
                uow.session.add(Note(text="forged", tenant_id=bob.tenant_id))
                await uow.session.flush()

    async def test_unfiltered_update_cannot_reach_another_tenant(
        self, database: Database, postgresql_only: ProvisionedDatabase
    ) -> None:
        alice, bob = make_tenant(), make_tenant()
        [bobs] = await add_notes(database, bob, "intact")
        async with database.unit_of_work(alice) as uow:
            await uow.session.execute(text(f"UPDATE {Note.__tablename__} SET text = 'hacked'"))
        async with database.unit_of_work(bob) as uow:
            assert (await NoteRepository(uow.session, bob).get_one(bobs.id)).text == "intact"

    async def test_system_unit_of_work_sees_every_tenant(
        self, database: Database, postgresql_only: ProvisionedDatabase
    ) -> None:
        alice, bob = make_tenant(), make_tenant()
        written = await add_notes(database, alice, "a") + await add_notes(database, bob, "b")
        async with database.unit_of_work(system=True) as uow:
            visible = {n.id for n in await select_every_note(uow.session)}
        assert {n.id for n in written} <= visible

    async def test_enable_and_disable_toggle_the_policy(
        self, database: Database, postgresql_only: ProvisionedDatabase
    ) -> None:
        scratch = unique_name("rls")
        async with database.engine.begin() as connection:
            await connection.execute(text(f"CREATE TABLE {scratch} (tenant_id text)"))
            await connection.run_sync(
                lambda c: enable_tenant_rls(Operations(MigrationContext.configure(c)), scratch)
            )
            enabled = await connection.run_sync(
                tables_without_tenant_rls, [Note.__tablename__, scratch, Tag.__tablename__]
            )
            await connection.run_sync(disable_tenant_rls, scratch)
            disabled = await connection.run_sync(tables_without_tenant_rls, [scratch])
            await connection.execute(text(f"DROP TABLE {scratch}"))
        assert enabled == [Tag.__tablename__]
        assert disabled == [scratch]


class TestMigrations:
    async def test_upgrade_creates_the_schema_at_head(
        self, fresh_database: ProvisionedDatabase
    ) -> None:
        assert await current_revision(fresh_database.url) is None
        await upgrade(fresh_database.url)
        assert await current_revision(fresh_database.url) == head_revision() == LATEST_MIGRATION
        database = Database(fresh_database.url, DatabaseSettings())
        try:
            async with database.engine.connect() as connection:
                tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        finally:
            await database.dispose()
        assert {"hub_config_overrides", "alembic_version"} <= set(tables)

    async def test_upgrade_twice_is_idempotent(self, fresh_database: ProvisionedDatabase) -> None:
        await upgrade(fresh_database.url)
        await upgrade(fresh_database.url)
        assert await current_revision(fresh_database.url) == head_revision()

    async def test_migrated_schema_matches_the_models(
        self, fresh_database: ProvisionedDatabase
    ) -> None:
        await upgrade(fresh_database.url)
        database = Database(fresh_database.url, DatabaseSettings())
        try:
            async with database.engine.connect() as connection:
                differences = await connection.run_sync(
                    lambda c: compare_metadata(
                        MigrationContext.configure(c, opts={"compare_type": True}),
                        Base.metadata,
                    )
                )
            async with database.engine.connect() as connection:
                missing_rls = await connection.run_sync(
                    tables_without_tenant_rls, tenant_tables(Base.metadata)
                )
        finally:
            await database.dispose()
        assert differences == [] and missing_rls == []

    def test_developer_alembic_ini_imports_every_service_models(self) -> None:
        ini = configparser.ConfigParser()
        ini.read(REPO_ROOT / "alembic.ini")
        listed = set(ini.get("alembic", "model_modules").split())
        assert listed == {spec.models for spec in SERVICES if spec.models}
