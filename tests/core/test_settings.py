from pathlib import Path

import pytest
from pydantic import ValidationError

from chainflow.core.settings import DEV_SECRET_KEY, Settings


class TestSettings:
    def test_defaults_need_no_environment_embedded_urls(self, tmp_path: Path) -> None:
        settings = Settings(home=tmp_path)
        assert settings.env == "dev"
        assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/chainflow.db"
        assert settings.timeseries_url == f"duckdb:///{tmp_path.resolve()}/timeseries.duckdb"
        assert settings.cache.url == "memory://"
        assert settings.bus.url == "memory://"

    def test_environment_names_are_area_prefixed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CHAINFLOW_DATABASE_URL", "postgresql+asyncpg://u:p@db:5432/cf")
        monkeypatch.setenv("CHAINFLOW_DATABASE_POOL_SIZE", "7")
        monkeypatch.setenv("CHAINFLOW_CACHE_URL", "redis://cache:6379/0")
        monkeypatch.setenv("CHAINFLOW_BUS_URL", "nats://bus:4222")
        monkeypatch.setenv("CHAINFLOW_HOME", "/srv/chainflow")
        monkeypatch.setenv("CHAINFLOW_LOG_LEVEL", "debug")
        settings = Settings()
        assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/cf"
        assert settings.database.pool_size == 7
        assert settings.cache.url == "redis://cache:6379/0"
        assert settings.bus.url == "nats://bus:4222"
        assert settings.home == Path("/srv/chainflow")
        assert settings.log.level == "DEBUG"

    def test_dotenv_file_is_read(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        (tmp_path / ".env").write_text("CHAINFLOW_CACHE_URL=redis://from-dotenv:6379/1\n")
        monkeypatch.chdir(tmp_path)
        assert Settings().cache.url == "redis://from-dotenv:6379/1"

    def test_prod_with_dev_secret_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="CHAINFLOW_SECRET_KEY must be set"):
            Settings(env="prod")

    def test_short_secret_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="at least 32 characters"):
            Settings(env="prod", secret_key="short")

    def test_secret_is_not_in_repr(self) -> None:
        settings = Settings(env="prod", secret_key="s" * 40)
        assert "s" * 40 not in repr(settings)
        assert DEV_SECRET_KEY not in repr(Settings())

    def test_invalid_pool_size_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CHAINFLOW_DATABASE_POOL_SIZE", "0")
        with pytest.raises(ValidationError, match="pool_size"):
            Settings()
