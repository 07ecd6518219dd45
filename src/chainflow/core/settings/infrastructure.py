"""Settings of the storage engines, the bus, logging, HTTP, the hub and authentication."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from chainflow.core.settings.areas import area


class DatabaseSettings(BaseSettings):
    """Relational store: SQLite file by default, PostgreSQL via asyncpg at scale."""

    model_config = area("CHAINFLOW_DATABASE_")

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

    model_config = area("CHAINFLOW_TIMESERIES_")

    url: str | None = Field(default=None, description="duckdb:///path or clickhouse://...")
    batch_max_rows: int = Field(default=5000, ge=1)
    batch_max_delay_ms: float = Field(default=5.0, ge=0)
    tick_batch_max_delay_ms: float = Field(
        default=25.0,
        ge=0,
        description="group-commit window of the ticks table: a tick's signal never waits "
        "for its store, only its ack does, and a commit's fixed cost is paid once per window",
    )


class CacheSettings(BaseSettings):
    """Cache, sessions and rate limits: in-process by default, Redis protocol at scale."""

    model_config = area("CHAINFLOW_CACHE_")

    url: str = "memory://"
    key_prefix: str = "cf:"


DEFAULT_BUS_PARTITIONS = 16


class BusSettings(BaseSettings):
    """Event bus: in-process by default, NATS JetStream at scale."""

    model_config = area("CHAINFLOW_BUS_")

    url: str = "memory://"
    stream: str = "CHAINFLOW"
    subject_prefix: str = "cf"
    ack_wait_s: float = Field(default=30.0, gt=0)
    max_deliver: int = Field(default=5, ge=1)
    request_timeout_s: float = Field(default=5.0, gt=0)
    stream_max_age_s: float = Field(default=7 * 86_400.0, gt=0)
    stream_replicas: int = Field(default=1, ge=1, le=5)
    partitions: int = Field(
        default=DEFAULT_BUS_PARTITIONS,
        ge=1,
        le=1024,
        description=(
            "partitions of keyed subjects (bars), shared out among a stateful service's "
            "replicas; the same in every process, changed only on a drained bus"
        ),
    )


class VectorSettings(BaseSettings):
    model_config = area("CHAINFLOW_VECTOR_")

    url: str = "memory://"


class LogSettings(BaseSettings):
    model_config = area("CHAINFLOW_LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class HttpSettings(BaseSettings):
    model_config = area("CHAINFLOW_HTTP_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="URL other processes use to reach this one (registry)"
    )
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="largest request body accepted (413 beyond)"
    )
    body_limits: dict[str, int] = Field(
        default_factory=dict,
        description='larger body limits by path prefix, e.g. {"/api/v1/market/aliases": 8388608}',
    )
    max_json_depth: int = Field(
        default=32, ge=1, le=1000, description="deepest JSON nesting a request body may have"
    )

    @field_validator("body_limits")
    @classmethod
    def _positive_prefix_limits(cls, value: dict[str, int]) -> dict[str, int]:
        for prefix, limit in value.items():
            if not prefix.startswith("/") or limit < 1:
                raise ValueError(
                    "body_limits must map path prefixes starting with '/' to a positive "
                    f"number of bytes; received {prefix!r}: {limit!r}"
                )
        return value


class HubSettings(BaseSettings):
    model_config = area("CHAINFLOW_HUB_")

    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    instance_ttl_s: float = Field(default=15.0, gt=0)


class AuthSettings(BaseSettings):
    """Tokens, sessions and verification. HS256 signs with ``CHAINFLOW_SECRET_KEY``;
    RS256/EdDSA need a PEM key pair."""

    model_config = area("CHAINFLOW_AUTH_")

    jwt_algorithm: Literal["HS256", "RS256", "EdDSA"] = "HS256"
    jwt_private_key: SecretStr | None = Field(default=None, description="PEM, RS256/EdDSA")
    jwt_public_key: str | None = Field(default=None, description="PEM, RS256/EdDSA")
    jwt_issuer: str = "chainflow"
    access_token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_s: int = Field(default=30 * 86_400, ge=300)
    refresh_reuse_grace_s: float = Field(
        default=10.0,
        ge=0,
        le=60,
        description="a rotated refresh token presented again this soon, its successor unused, "
        "continues the session (a lost answer, two tabs); 0: any second use revokes it",
    )
    verification_token_ttl_s: int = Field(default=48 * 3600, ge=60)
    password_reset_token_ttl_s: int = Field(default=3600, ge=60)
    invitation_ttl_s: int = Field(default=7 * 86_400, ge=60)
    context_cache_ttl_s: float = Field(default=60.0, gt=0, le=3600)
    require_email_verification: bool | None = Field(
        default=None, description="default: required in prod, not in dev/test"
    )
    # Brute-force throttling of sign-in, password reset and token redemption (users service).
    throttle_account_failures: int = Field(
        default=5, ge=1, description="failed sign-ins (or reset requests) per address per window"
    )
    throttle_account_window_s: float = Field(default=900.0, gt=0)
    throttle_account_lock_s: float = Field(
        default=60.0, gt=0, description="first lock of an address; doubles with each lock"
    )
    throttle_account_max_lock_s: float = Field(default=900.0, gt=0)
    throttle_ip_failures: int = Field(
        default=20, ge=1, description="failed sign-ins or token redemptions per client address"
    )
    throttle_ip_window_s: float = Field(default=300.0, gt=0)
    throttle_ip_lock_s: float = Field(default=300.0, gt=0, description="doubles with each lock")
    throttle_ip_max_lock_s: float = Field(default=3600.0, gt=0)
    trust_forwarded_for: bool = Field(
        default=False,
        description="take the client address from the last X-Forwarded-For entry (behind a proxy)",
    )

    @model_validator(mode="after")
    def _asymmetric_needs_keys(self) -> AuthSettings:
        if self.jwt_algorithm != "HS256" and not (self.jwt_private_key and self.jwt_public_key):
            raise ValueError(
                f"CHAINFLOW_AUTH_JWT_ALGORITHM={self.jwt_algorithm} needs "
                "CHAINFLOW_AUTH_JWT_PRIVATE_KEY and CHAINFLOW_AUTH_JWT_PUBLIC_KEY (PEM)"
            )
        return self

    @model_validator(mode="after")
    def _max_lock_covers_first_lock(self) -> AuthSettings:
        for scope in ("account", "ip"):
            first = getattr(self, f"throttle_{scope}_lock_s")
            longest = getattr(self, f"throttle_{scope}_max_lock_s")
            if longest < first:
                raise ValueError(
                    f"CHAINFLOW_AUTH_THROTTLE_{scope.upper()}_MAX_LOCK_S must be at least "
                    f"CHAINFLOW_AUTH_THROTTLE_{scope.upper()}_LOCK_S ({first}); received {longest}"
                )
        return self
