"""Wire models of ``/api/v1/analytics``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class EquityPointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ts: int
    pnl: float
    equity: float
    drawdown_pct: float


class EquityOut(BaseModel):
    starting_balance: float
    final_equity: float
    max_drawdown_pct: float
    items: list[EquityPointOut]


class PeriodReturnOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ts: int
    pnl: float
    return_pct: float
    trades: int
    wins: int


class ReturnsOut(BaseModel):
    period: str
    items: list[PeriodReturnOut]


class WindowRatiosOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    window_days: int | None
    start: int | None
    end: int | None
    observations: int
    trades: int
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    return_pct: float | None
    max_drawdown_pct: float | None
    small_sample: bool
    warnings: list[str]


class RatiosOut(BaseModel):
    items: list[WindowRatiosOut]


class BreakdownRowOut(BaseModel):
    key: str
    trades: int
    wins: int
    hit_rate: float | None
    pnl: float
    gross_profit: float
    gross_loss: float
    profit_factor: float | None


class BreakdownOut(BaseModel):
    by: str
    items: list[BreakdownRowOut]


class HistogramBucketOut(BaseModel):
    le_ms: float | None
    count: int


class LatencyOut(BaseModel):
    count: int
    sampled: int
    mean_ms: float | None
    min_ms: float | None
    max_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    histogram: list[HistogramBucketOut]


class RebuildOut(BaseModel):
    trades: int
