"""Settings of the data and trading services: bridge, features, ML, trading, backtests."""

from __future__ import annotations

import math
from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from chainflow.core.settings.areas import area


class FeaturesSettings(BaseSettings):
    """The features service: which feature set it computes live and how it warm-starts."""

    model_config = area("CHAINFLOW_FEATURES_")

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
    build_processes: int = Field(
        default=1,
        ge=0,
        le=16,
        description=(
            "worker processes that replay stored bars for state builds "
            "(0: a thread of the serving process)"
        ),
    )


class MlSettings(BaseSettings):
    """The ml service: which registered model serves, batching, live performance."""

    model_config = area("CHAINFLOW_ML_")

    model: str = Field(default="fx-default", description="registry name of the served model")
    batch_max: int = Field(default=64, ge=1, le=4096, description="vectors per inference call")
    refresh_s: float = Field(default=10.0, gt=0, description="how often to re-resolve the model")
    performance_window: int = Field(default=500, ge=10, description="scored predictions kept")
    min_scored: int = Field(default=50, ge=1, description="scored before an alert can fire")
    anomaly_z: float = Field(default=6.0, gt=0, description="robust z beyond training range")
    artifacts_url: Literal["", "database"] = Field(
        default="", description="'' = files under CHAINFLOW_HOME/models; 'database' = shared"
    )
    fallback_after: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description="consecutive scored predictions below the baseline on a symbol before the "
        "model is replaced by its previous production version, else hold (0 = off)",
    )
    drift_psi: float = Field(
        default=0.25, ge=0, description="PSI above which a live feature drifts (0 = no alerts)"
    )
    retrain_every: str = Field(
        default="",
        description="retrain each tenant's own production model this often from its stored "
        "bars, e.g. 12h, 7d ('' = off)",
    )
    retrain_check_s: float = Field(
        default=60.0, gt=0, le=86_400, description="how often the retrain schedule looks"
    )

    @field_validator("retrain_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_s(value)  # raises ValueError with the accepted forms
        return value.strip().lower()

    @property
    def retrain_every_s(self) -> float | None:
        """Return the retrain period in seconds, or None when retraining is off."""
        return parse_duration_s(self.retrain_every)


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MIN_RETRAIN_S = 60


def parse_duration_s(text: str) -> float | None:
    """Parse ``"90s"``, ``"30m"``, ``"12h"``, ``"7d"``, ``"2w"`` (or bare seconds) into
    seconds; ``""``, ``"0"`` and ``"off"`` are None (off). At least a minute."""
    value = text.strip().lower()
    if value in ("", "0", "off"):
        return None
    unit = value[-1] if value[-1] in DURATION_UNITS else "s"
    number = value[:-1] if value[-1] in DURATION_UNITS else value
    try:
        seconds = float(number) * DURATION_UNITS[unit]
    except ValueError:
        seconds = float("nan")
    if not (math.isfinite(seconds) and seconds >= MIN_RETRAIN_S):
        raise ValueError(
            "expected a duration of at least a minute such as 90m, 12h, 7d or 2w (or '' for "
            f"off); received {text!r}"
        )
    return seconds


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

    model_config = area("CHAINFLOW_TRADING_")

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
    paper_stop_out_level: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description=(
            "paper accounts close their most losing position while equity < level × margin (0: off)"
        ),
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


class BacktestSettings(BaseSettings):
    """The backtest service's asynchronous jobs: concurrency, checkpoints and shutdown."""

    model_config = area("CHAINFLOW_BACKTEST_")

    job_threads: int = Field(default=1, ge=1, le=64, description="jobs computing at once")
    optimize_workers: int = Field(
        default=1, ge=1, le=256, description="processes one optimization runs its backtests in"
    )
    checkpoint_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often a running job's progress is saved"
    )
    stop_timeout_s: float = Field(
        default=10.0, ge=0, le=600, description="how long a shutdown waits for jobs to stop"
    )


class BridgeSettings(BaseSettings):
    """The data bridge's price sanity: absolute bounds, new symbols, regime changes."""

    model_config = area("CHAINFLOW_BRIDGE_")

    min_price: float = Field(default=1e-6, gt=0, description="lowest bid or ask of any symbol")
    max_price: float = Field(default=1e7, gt=0, description="highest bid or ask of any symbol")
    max_relative_spread: float = Field(
        default=0.10, gt=0, le=1, description="widest spread, as a fraction of the mid"
    )
    spike_confirmation_ms: int = Field(
        default=10_000, ge=0, description="tick time a jump to a new level must hold for"
    )
    spike_confirmation_ticks: int = Field(
        default=5, ge=2, description="ticks a jump to a new level must hold for"
    )
    new_symbol_ticks: int = Field(
        default=5, ge=1, le=100, description="first ticks of a symbol without a band held back"
    )
    new_symbol_agreement: float = Field(
        default=0.02, ge=0, le=1, description="how close (relative) those ticks' mids must be"
    )
    quarantine_ticks_per_day: int = Field(
        default=100_000, ge=0, description="ticks a tenant's feed may quarantine per UTC day"
    )

    @model_validator(mode="after")
    def _max_price_above_min_price(self) -> BridgeSettings:
        if self.max_price <= self.min_price:
            raise ValueError(
                f"CHAINFLOW_BRIDGE_MAX_PRICE must exceed CHAINFLOW_BRIDGE_MIN_PRICE "
                f"({self.min_price}); received {self.max_price}"
            )
        return self
