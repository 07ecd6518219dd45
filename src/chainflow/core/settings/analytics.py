"""Settings of the analytics service (``CHAINFLOW_ANALYTICS_*``): rollup sync, latency sampling."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from chainflow.core.settings.areas import area

__all__ = ["AnalyticsSettings"]


class AnalyticsSettings(BaseSettings):
    """The analytics service: how often rollups catch up, how latency is sampled."""

    model_config = area("CHAINFLOW_ANALYTICS_")

    sync_interval_s: float = Field(
        default=5.0, gt=0, description="seconds between rollup catch-ups of every tenant"
    )
    latency_reservoir: int = Field(
        default=1024, ge=16, le=100_000, description="latency samples kept per tenant"
    )
    latency_seed: int = Field(default=0, description="seed of the latency reservoir sampler")
    risk_free_rate: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="annual risk-free rate of Sharpe and Sortino"
    )
    report_check_s: float = Field(
        default=60.0,
        gt=0,
        description="seconds between the scheduler's looks for due performance reports",
    )
