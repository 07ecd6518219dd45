from pathlib import Path

import pytest
from pydantic import ValidationError

from chainflow.core.settings import DEV_SECRET_KEY, AuthSettings, Settings


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

    @pytest.mark.parametrize("env", ["prod", "test"])
    def test_dev_secret_is_refused_outside_dev(self, env: str) -> None:
        with pytest.raises(ValidationError, match="must be set outside CHAINFLOW_ENV=dev"):
            Settings(env=env)

    def test_signs_with_dev_key_only_without_a_key_on_hs256(self) -> None:
        assert Settings().signs_with_dev_key
        assert not Settings(secret_key="k" * 40).signs_with_dev_key
        private_pem, public_pem = ed25519_pems()
        eddsa = AuthSettings(
            jwt_algorithm="EdDSA", jwt_private_key=private_pem, jwt_public_key=public_pem
        )
        assert not Settings(auth=eddsa).signs_with_dev_key

    def test_backtest_settings_are_read_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert Settings().backtest.stop_timeout_s == 10.0
        monkeypatch.setenv("CHAINFLOW_BACKTEST_STOP_TIMEOUT_S", "3")
        monkeypatch.setenv("CHAINFLOW_BACKTEST_CHECKPOINT_INTERVAL_S", "2.5")
        settings = Settings()
        assert settings.backtest.stop_timeout_s == 3.0
        assert settings.backtest.checkpoint_interval_s == 2.5

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

    def test_tick_commit_window_is_read_and_a_negative_one_refused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert Settings().timeseries.tick_batch_max_delay_ms == 25.0
        monkeypatch.setenv("CHAINFLOW_TIMESERIES_TICK_BATCH_MAX_DELAY_MS", "40")
        assert Settings().timeseries.tick_batch_max_delay_ms == 40.0
        monkeypatch.setenv("CHAINFLOW_TIMESERIES_TICK_BATCH_MAX_DELAY_MS", "-1")
        with pytest.raises(ValidationError, match="tick_batch_max_delay_ms"):
            Settings()


def ed25519_pems() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


class TestAuthThrottleSettings:
    def test_defaults_and_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CHAINFLOW_AUTH_THROTTLE_ACCOUNT_FAILURES", "7")
        monkeypatch.setenv("CHAINFLOW_AUTH_TRUST_FORWARDED_FOR", "true")
        auth = AuthSettings()
        assert (auth.throttle_account_failures, auth.trust_forwarded_for) == (7, True)
        assert (auth.throttle_account_lock_s, auth.throttle_account_max_lock_s) == (60.0, 900.0)
        assert (auth.throttle_ip_failures, auth.throttle_ip_window_s) == (20, 300.0)

    def test_longest_lock_shorter_than_the_first_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="THROTTLE_IP_MAX_LOCK_S must be at least"):
            AuthSettings(throttle_ip_lock_s=600, throttle_ip_max_lock_s=300)
