"""Settings from ``CHAINFLOW_*`` environment variables (and an optional ``.env`` file).

One sub-model per area, each read with its own prefix, so that the environment names are
``CHAINFLOW_<AREA>_<FIELD>`` (``CHAINFLOW_DATABASE_URL``, ``CHAINFLOW_CACHE_URL``, ...).
Nothing here is built at import time: the kernel (or the CLI) calls ``Settings()`` once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chainflow.core.settings.analytics import AnalyticsSettings
from chainflow.core.settings.billing import BillingSettings
from chainflow.core.settings.infrastructure import (
    AuthSettings,
    BusSettings,
    CacheSettings,
    DatabaseSettings,
    HttpSettings,
    HubSettings,
    LogSettings,
    TimeSeriesSettings,
    VectorSettings,
)
from chainflow.core.settings.notify import NotifySettings
from chainflow.core.settings.services import (
    BacktestSettings,
    BridgeSettings,
    FeaturesSettings,
    MlSettings,
    TradingSettings,
    parse_hour_ranges,
)

DEV_SECRET_KEY = "chainflow-dev-secret-do-not-use-in-production"  # noqa: S105

__all__ = [
    "DEV_SECRET_KEY",
    "Settings",
    "AnalyticsSettings",
    "AuthSettings",
    "BacktestSettings",
    "BillingSettings",
    "BridgeSettings",
    "BusSettings",
    "CacheSettings",
    "DatabaseSettings",
    "FeaturesSettings",
    "HttpSettings",
    "HubSettings",
    "LogSettings",
    "MlSettings",
    "NotifySettings",
    "TimeSeriesSettings",
    "TradingSettings",
    "VectorSettings",
    "parse_hour_ranges",
]


class Settings(BaseSettings):
    """All of ChainFlow's settings; built once per process."""

    model_config = SettingsConfigDict(
        env_prefix="CHAINFLOW_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["dev", "test", "prod"] = "dev"
    home: Path = Path(".chainflow")
    services: str = Field(default="all", description="comma-separated service names, or all")
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    shutdown_grace_s: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="how long a SIGTERM's drain and stop may take before the process exits",
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    timeseries: TimeSeriesSettings = Field(default_factory=TimeSeriesSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    vector: VectorSettings = Field(default_factory=VectorSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    hub: HubSettings = Field(default_factory=HubSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    features: FeaturesSettings = Field(default_factory=FeaturesSettings)
    ml: MlSettings = Field(default_factory=MlSettings)
    trading: TradingSettings = Field(default_factory=TradingSettings)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)

    @model_validator(mode="after")
    def _refuse_dev_secrets_outside_dev(self) -> Settings:
        if self.env != "dev" and self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            raise ValueError(
                "CHAINFLOW_SECRET_KEY must be set outside CHAINFLOW_ENV=dev; "
                "received the built-in development key"
            )
        if len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("CHAINFLOW_SECRET_KEY must be at least 32 characters long")
        return self

    @property
    def signs_with_dev_key(self) -> bool:
        """Return whether access tokens are signed with the public development key (HS256
        without ``CHAINFLOW_SECRET_KEY``): anyone can forge them, so serve on loopback only."""
        dev_key = self.secret_key.get_secret_value() == DEV_SECRET_KEY
        return dev_key and self.auth.jwt_algorithm == "HS256"

    @property
    def requires_email_verification(self) -> bool:
        """Return whether new accounts must verify their e-mail before logging in."""
        if self.auth.require_email_verification is not None:
            return self.auth.require_email_verification
        return self.env == "prod"

    @property
    def database_url(self) -> str:
        """Return the relational URL, defaulting to a SQLite file under ``home``."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.home / 'chainflow.db').resolve()}"

    @property
    def timeseries_url(self) -> str:
        """Return the time-series URL, defaulting to a DuckDB file under ``home``."""
        if self.timeseries.url:
            return self.timeseries.url
        return f"duckdb:///{(self.home / 'timeseries.duckdb').resolve()}"
