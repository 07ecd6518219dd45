"""Request and response bodies of ``/api/v1/backtests``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

JobKind = Literal["backtest", "optimize", "walkforward"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]


class AccountConfig(BaseModel):
    """The simulated account (``chainflow.backtest.types.BacktestConfig``'s fields)."""

    model_config = ConfigDict(extra="forbid")

    cash: float = Field(10_000.0, gt=0)
    commission: float = Field(0.0, ge=0, lt=1, description="fraction of traded value per side")
    commission_per_lot: float = Field(0.0, ge=0)
    spread: float | None = Field(None, ge=0, description="price units; default the bars' own")
    slippage: float = Field(0.0, ge=0)
    sizing: Literal["all-in", "fixed", "risk"] = "all-in"
    size: float = Field(1.0, gt=0)
    long_only: bool = False
    leverage: float = Field(1.0, gt=0)
    stop_out_level: float = Field(0.5, ge=0)
    swap_long: float = 0.0
    swap_short: float = 0.0
    stop_loss: float | None = Field(None, gt=0)
    take_profit: float | None = Field(None, gt=0)
    risk_free_rate: float = 0.0
    periods_per_year: float | None = Field(None, gt=0)
    lot_size: float = Field(1.0, gt=0)


class RangeSpec(BaseModel):
    """``low`` to ``high`` inclusive, every ``step`` (continuous without one)."""

    model_config = ConfigDict(extra="forbid")

    low: float
    high: float
    step: float | None = Field(None, gt=0)


class BacktestJobCreate(BaseModel):
    """A backtest, optimization or walk-forward to run on the tenant's stored bars."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: JobKind = "backtest"
    symbol: str = Field(min_length=1, max_length=32, examples=["EURUSD"])
    timeframe: str = Field(min_length=2, max_length=8, examples=["M5"])
    strategy: str = Field(min_length=1, max_length=64, examples=["sma_crossover"])
    params: dict[str, Any] = Field(default_factory=dict, examples=[{"fast": 10, "slow": 30}])
    config: AccountConfig = Field(default_factory=AccountConfig)
    start: datetime | int | None = Field(
        None, alias="from", description="first bar open time (ISO 8601 or epoch ms)"
    )
    end: datetime | int | None = Field(
        None, alias="to", description="bars opened before this (ISO 8601 or epoch ms)"
    )
    engine: Literal["auto", "event", "vectorized"] = "auto"
    # optimize and walkforward: the search
    grid: dict[str, list[Any]] = Field(default_factory=dict, examples=[{"fast": [5, 10, 20]}])
    ranges: dict[str, RangeSpec] = Field(default_factory=dict)
    method: Literal["grid", "random", "bayes"] = "grid"
    trials: int | None = Field(None, ge=1, le=10_000)
    objective: str = "sharpe"
    min_trades: int = Field(1, ge=0)
    max_drawdown_pct: float | None = Field(None, gt=0)
    seed: int = 0
    # walkforward: the windows
    in_sample: int | None = Field(None, ge=10)
    out_of_sample: int | None = Field(None, ge=1)
    step: int | None = Field(None, ge=1)
    anchored: bool = False

    @model_validator(mode="after")
    def _check_kind(self) -> BacktestJobCreate:
        if self.kind == "optimize" and not (self.grid or self.ranges):
            raise ValueError("expected grid or ranges to search for kind 'optimize'; received none")
        if self.kind == "walkforward" and (self.in_sample is None or self.out_of_sample is None):
            raise ValueError(
                "expected in_sample and out_of_sample (bars) for kind 'walkforward'; "
                f"received {self.in_sample} and {self.out_of_sample}"
            )
        if self.kind != "backtest" and self.method != "grid" and self.trials is None:
            raise ValueError(f"expected trials for method {self.method!r}; received none")
        start, end = _epoch_ms(self.start), _epoch_ms(self.end)
        if start is not None and end is not None and start >= end:
            raise ValueError(
                f"expected from before to; received from {self.start} and to {self.end}"
            )
        return self


class JobCheckpoint(BaseModel):
    """How much of a search or walk-forward is saved: ``done`` of ``total`` ``unit``."""

    unit: Literal["trials", "windows"]
    done: int
    total: int


class BacktestJobRead(BaseModel):
    """A job's state; ``result`` once it succeeded (omitted from listings); ``checkpoint``
    what a resume of a ``cancelled`` or ``interrupted`` job starts from."""

    id: str
    kind: JobKind
    status: JobStatus
    progress: float
    symbol: str
    timeframe: str
    strategy: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    checkpoint: JobCheckpoint | None = None
    result: dict[str, Any] | None = Field(
        default=None,
        description=(
            "the job's result once it succeeded; for kind backtest: the metrics, the equity "
            "curve, `trade_log` (the first 1,000 closed trades, oldest first: side, size, "
            "entry and exit time and price, net P&L, commission, swap, exit reason) and "
            "`trade_log_truncated` (true when more trades closed than the log holds)"
        ),
    )


class BacktestJobPage(BaseModel):
    items: list[BacktestJobRead]


def _epoch_ms(value: datetime | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if value.tzinfo is None:  # as ``jobs.moment_ms``: a time without an offset is UTC
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)
