from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainflow import __version__
from chainflow.cli import app
from chainflow.storage.relational.migrate import head_revision
from tests.fixtures.settings import register_embedded_user

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAINFLOW_HOME", str(tmp_path / "home"))
    for name in ("DATABASE_URL", "TIMESERIES_URL", "CACHE_URL", "BUS_URL", "ENV"):
        monkeypatch.delenv(f"CHAINFLOW_{name}", raising=False)
    return tmp_path / "home"


class TestVersion:
    def test_prints_version(self) -> None:
        result = runner.invoke(app, ["version"])
        assert result.exit_code == 0 and __version__ in result.output


class TestServices:
    def test_lists_twelve_with_layer_and_status(self, home: Path) -> None:
        result = runner.invoke(app, ["services"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        for name in ("gateway", "hub", "storage", "bridge", "users", "analytics"):
            assert name in result.output
        assert "enabled" in result.output

    def test_unknown_service_fails_cleanly(self, home: Path) -> None:
        result = runner.invoke(app, ["services", "--services", "hub,nope"])
        assert result.exit_code == 1
        assert "received unknown nope" in result.output
        assert "Traceback" not in result.output


class TestDbUpgrade:
    def test_embedded_database_reaches_head(self, home: Path) -> None:
        result = runner.invoke(app, ["db", "upgrade"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert f"is at revision {head_revision()}" in result.output
        assert (home / "chainflow.db").exists()

    def test_unreachable_database_names_url_without_password(self, home: Path) -> None:
        result = runner.invoke(
            app,
            ["db", "upgrade"],
            env={
                "CHAINFLOW_DATABASE_URL": "postgresql+asyncpg://app:pw-9f8e7d@127.0.0.1:1/cf",
                "COLUMNS": "200",
            },
        )
        assert result.exit_code == 1
        assert "127.0.0.1:1" in result.output
        assert "pw-9f8e7d" not in result.output
        assert "Traceback" not in result.output


class TestServe:
    def test_invalid_setting_fails_with_variable_name(self, home: Path) -> None:
        result = runner.invoke(
            app, ["serve"], env={"CHAINFLOW_DATABASE_POOL_SIZE": "zero", "COLUMNS": "200"}
        )
        assert result.exit_code == 1
        assert "CHAINFLOW_DATABASE_POOL_SIZE" in result.output
        assert "Traceback" not in result.output

    def test_prod_without_secret_fails_cleanly(self, home: Path) -> None:
        result = runner.invoke(app, ["serve"], env={"CHAINFLOW_ENV": "prod", "COLUMNS": "200"})
        assert result.exit_code == 1
        assert "CHAINFLOW_SECRET_KEY must be set" in result.output


class TestConfig:
    def test_set_then_show(self, home: Path) -> None:
        result = runner.invoke(app, ["config", "set", "log.level", "WARNING"])
        assert result.exit_code == 0, result.output
        shown = runner.invoke(app, ["config", "show"])
        assert shown.exit_code == 0, shown.output
        assert '"WARNING"' in shown.output and '"override"' in shown.output

    def test_invalid_value_fails_cleanly(self, home: Path) -> None:
        result = runner.invoke(app, ["config", "set", "log.level", "LOUD"])
        assert result.exit_code == 1
        assert "received 'LOUD'" in result.output


class TestUsers:
    def test_set_tier_and_grant_superadmin(self, home: Path) -> None:
        register_embedded_user(home, "ops@example.com")
        tier = runner.invoke(app, ["users", "set-tier", "ops@example.com", "pro"])
        assert tier.exit_code == 0, tier.output
        assert "is now on the pro tier" in tier.output
        grant = runner.invoke(app, ["users", "grant-superadmin", "ops@example.com"])
        assert grant.exit_code == 0, grant.output

    def test_unknown_email_and_bad_tier_fail_cleanly(self, home: Path) -> None:
        register_embedded_user(home, "ops@example.com")
        missing = runner.invoke(app, ["users", "set-tier", "nobody@example.com", "pro"])
        assert missing.exit_code == 1
        assert f"no account for nobody@example.com in home {home.resolve()}" in missing.output
        bad = runner.invoke(app, ["users", "set-tier", "ops@example.com", "platinum"])
        assert bad.exit_code == 1 and "platinum" in bad.output
        assert "Traceback" not in bad.output
