"""Settings from ``CHAINFLOW_*`` environment variables (and an optional ``.env`` file).

One sub-model per area, each read with its own prefix, so that the environment names are
``CHAINFLOW_<AREA>_<FIELD>`` (``CHAINFLOW_DATABASE_URL``, ``CHAINFLOW_CACHE_URL``, ...).
Nothing here is built at import time: the kernel (or the CLI) calls ``Settings()`` once.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "chainflow-dev-secret-do-not-use-in-production"  # noqa: S105


def _area(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", extra="ignore", frozen=True, populate_by_name=True
    )


class DatabaseSettings(BaseSettings):
    """Relational store: SQLite file by default, PostgreSQL via asyncpg at scale."""

    model_config = _area("CHAINFLOW_DATABASE_")

    url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default SQLite file under home"
    )
    pool_size: int = Field(default=10, ge=1, le=500)
    max_overflow: int = Field(default=20, ge=0, le=1000)
    pool_timeout_s: float = Field(default=30.0, gt=0)
    pool_recycle_s: int = Field(default=1800, ge=-1)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    echo: bool = False


class TimeSeriesSettings(BaseSettings):
    """Time-series store: DuckDB file by default, ClickHouse at scale."""

    model_config = _area("CHAINFLOW_TIMESERIES_")

    url: str | None = Field(default=None, description="duckdb:///path or clickhouse://...")
    batch_max_rows: int = Field(default=5000, ge=1)
    batch_max_delay_ms: float = Field(default=5.0, ge=0)


class CacheSettings(BaseSettings):
    """Cache, sessions and rate limits: in-process by default, Redis protocol at scale."""

    model_config = _area("CHAINFLOW_CACHE_")

    url: str = "memory://"
    key_prefix: str = "cf:"


class BusSettings(BaseSettings):
    """Event bus: in-process by default, NATS JetStream at scale."""

    model_config = _area("CHAINFLOW_BUS_")

    url: str = "memory://"
    stream: str = "CHAINFLOW"
    subject_prefix: str = "cf"
    ack_wait_s: float = Field(default=30.0, gt=0)
    max_deliver: int = Field(default=5, ge=1)
    request_timeout_s: float = Field(default=5.0, gt=0)
    stream_max_age_s: float = Field(default=7 * 86_400.0, gt=0)
    stream_replicas: int = Field(default=1, ge=1, le=5)


class VectorSettings(BaseSettings):
    model_config = _area("CHAINFLOW_VECTOR_")

    url: str = "memory://"


class LogSettings(BaseSettings):
    model_config = _area("CHAINFLOW_LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class HttpSettings(BaseSettings):
    model_config = _area("CHAINFLOW_HTTP_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="URL other processes use to reach this one (registry)"
    )
    cors_origins: list[str] = Field(default_factory=list)


class HubSettings(BaseSettings):
    model_config = _area("CHAINFLOW_HUB_")

    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    instance_ttl_s: float = Field(default=15.0, gt=0)


class FeaturesSettings(BaseSettings):
    """The features service: which feature set it computes live and how it warm-starts."""

    model_config = _area("CHAINFLOW_FEATURES_")

    feature_set: str = Field(default="fx-core@1", description="key of a built-in feature set")
    timeframes: list[str] = Field(
        default_factory=lambda: ["M1", "M5", "M15", "M30", "H1", "H4", "D1"],
        description="bar timeframes that get live features",
    )
    replay_bars: int = Field(
        default=3000, ge=100, le=200_000, description="stored bars replayed on a warm start"
    )
    correlation_window: int = Field(
        default=100, ge=3, le=5000, description="bars of the live rolling correlation"
    )
    correlation_max_symbols: int = Field(
        default=20, ge=2, le=100, description="symbols per tenant in live and requested correlation"
    )


class MlSettings(BaseSettings):
    """The ml service: which registered model serves, batching, live performance."""

    model_config = _area("CHAINFLOW_ML_")

    model: str = Field(default="fx-default", description="registry name of the served model")
    batch_max: int = Field(default=64, ge=1, le=4096, description="vectors per inference call")
    refresh_s: float = Field(default=10.0, gt=0, description="how often to re-resolve the model")
    performance_window: int = Field(default=500, ge=10, description="scored predictions kept")
    min_scored: int = Field(default=50, ge=1, description="scored before an alert can fire")
    anomaly_z: float = Field(default=6.0, gt=0, description="robust z beyond training range")
    artifacts_url: Literal["", "database"] = Field(
        default="", description="'' = files under CHAINFLOW_HOME/models; 'database' = shared"
    )


class AuthSettings(BaseSettings):
    """Tokens, sessions and verification. HS256 signs with ``CHAINFLOW_SECRET_KEY``;
    RS256/EdDSA need a PEM key pair."""

    model_config = _area("CHAINFLOW_AUTH_")

    jwt_algorithm: Literal["HS256", "RS256", "EdDSA"] = "HS256"
    jwt_private_key: SecretStr | None = Field(default=None, description="PEM, RS256/EdDSA")
    jwt_public_key: str | None = Field(default=None, description="PEM, RS256/EdDSA")
    jwt_issuer: str = "chainflow"
    access_token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_s: int = Field(default=30 * 86_400, ge=300)
    verification_token_ttl_s: int = Field(default=48 * 3600, ge=60)
    password_reset_token_ttl_s: int = Field(default=3600, ge=60)
    invitation_ttl_s: int = Field(default=7 * 86_400, ge=60)
    context_cache_ttl_s: float = Field(default=60.0, gt=0, le=3600)
    require_email_verification: bool | None = Field(
        default=None, description="default: required in prod, not in dev/test"
    )

    @model_validator(mode="after")
    def _asymmetric_needs_keys(self) -> AuthSettings:
        if self.jwt_algorithm != "HS256" and not (self.jwt_private_key and self.jwt_public_key):
            raise ValueError(
                f"CHAINFLOW_AUTH_JWT_ALGORITHM={self.jwt_algorithm} needs "
                "CHAINFLOW_AUTH_JWT_PRIVATE_KEY and CHAINFLOW_AUTH_JWT_PUBLIC_KEY (PEM)"
            )
        return self


def parse_hour_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """Parse ``"21-23,5"`` into half-open UTC hour ranges ``((21, 23), (5, 6))``.

    ``a-b`` is ``[a:00, b:00)`` and wraps past midnight when ``b < a`` (``22-2``); a single
    hour ``a`` is ``[a:00, a+1:00)``; hours are 0..24 and ``""`` is no range.
    """
    ranges: list[tuple[int, int]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        start_text, _, end_text = part.partition("-")
        try:
            start = int(start_text)
            end = int(end_text) if end_text else start + 1
        except ValueError as e:
            raise ValueError(
                f"expected hour ranges like '21-23,5' (UTC hours 0..24); received {part!r}"
            ) from e
        if not (0 <= start <= 23 and 0 <= end <= 24) or start == end:
            raise ValueError(
                f"expected a range of UTC hours 0..24 with start != end; received {part!r}"
            )
        ranges.append((start, end))
    return tuple(ranges)


class TradingSettings(BaseSettings):
    """The trading service: how it sizes the signals it issues until paper accounts exist.

    ``paper_equity`` is a notional account equity used for sizing while the paper portfolio
    (and the tenant's real balance) is not wired to the live loop yet.
    """

    model_config = _area("CHAINFLOW_TRADING_")

    paper_equity: float = Field(
        default=10_000.0, gt=0, description="notional equity (account currency) signals size on"
    )
    risk_per_trade: float = Field(
        default=0.01, gt=0, le=0.1, description="fraction of equity lost at a signal's stop"
    )
    stop_atr: float = Field(default=1.5, gt=0, le=20, description="stop distance in ATRs")
    take_profit_atr: float = Field(
        default=3.0, gt=0, le=50, description="take-profit distance in ATRs"
    )
    paper_save_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often changed paper accounts are saved"
    )
    tick_signals: bool = Field(
        default=True,
        description="score every tick on the forming bar and answer its MT5 connection",
    )
    limit_entry: bool = Field(
        default=True, description="enter with a limit inside a wide spread instead of at market"
    )
    limit_offset_spreads: float = Field(
        default=0.5, gt=0, le=1, description="how far inside the spread a limit goes (spreads)"
    )
    limit_spread_ratio: float = Field(
        default=1.5, ge=1, description="use a limit when the spread exceeds this × its median"
    )
    max_spread_ratio: float = Field(
        default=3.0, ge=1, description="no entry when the spread exceeds this × its median"
    )
    slippage_base_points: float = Field(
        default=1.0, ge=0, le=1000, description="market-order slippage on a normal spread"
    )
    spread_window: int = Field(
        default=500, ge=10, le=100_000, description="ticks in the rolling spread median"
    )
    spread_min_ticks: int = Field(
        default=20, ge=1, description="ticks before the spread median is trusted"
    )
    rollover_hour_utc: int = Field(default=21, ge=0, le=23, description="daily rollover hour")
    avoid_rollover_minutes: int = Field(
        default=10, ge=0, le=180, description="no entry this many minutes either side of rollover"
    )
    thin_hours_utc: str = Field(
        default="21-23", description="thin-liquidity UTC hours without entries: '21-23,5' or ''"
    )

    @field_validator("thin_hours_utc")
    @classmethod
    def _valid_hour_ranges(cls, value: str) -> str:
        parse_hour_ranges(value)
        return value

    @model_validator(mode="after")
    def _limit_below_refusal(self) -> TradingSettings:
        if self.limit_spread_ratio > self.max_spread_ratio:
            raise ValueError(
                "expected CHAINFLOW_TRADING_LIMIT_SPREAD_RATIO <= "
                "CHAINFLOW_TRADING_MAX_SPREAD_RATIO; "
                f"received {self.limit_spread_ratio} > {self.max_spread_ratio}"
            )
        if self.spread_min_ticks > self.spread_window:
            raise ValueError(
                "expected CHAINFLOW_TRADING_SPREAD_MIN_TICKS <= CHAINFLOW_TRADING_SPREAD_WINDOW;"
                f" received {self.spread_min_ticks} > {self.spread_window}"
            )
        return self

    @cached_property
    def thin_hour_ranges(self) -> tuple[tuple[int, int], ...]:
        """Return ``thin_hours_utc`` parsed (see ``parse_hour_ranges``)."""
        return parse_hour_ranges(self.thin_hours_utc)


class Settings(BaseSettings):
    """All of ChainFlow's settings; built once per process."""

    model_config = SettingsConfigDict(
        env_prefix="CHAINFLOW_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["dev", "test", "prod"] = "dev"
    home: Path = Path(".chainflow")
    services: str = Field(default="all", description="comma-separated service names, or all")
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)

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
