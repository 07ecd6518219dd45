"""Wire models of ``GET /api/v1/analytics/drift``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chainflow.analytics.drift.legs import LegSummary
from chainflow.analytics.drift.service import DriftReport


class CurvePointOut(BaseModel):
    ts: int
    return_pct: float


class LegOut(BaseModel):
    trades: int
    wins: int
    hit_rate: float | None
    total_return_pct: float = Field(description="sum of the trades' price returns, in %")
    mean_trade_return_pct: float | None
    pnl: float = Field(description="money P&L, sized by that side's own rule (not compared)")
    curve: list[CurvePointOut] = Field(description="cumulative price return at each exit")


class BacktestRunOut(BaseModel):
    symbol: str
    timeframe: str
    bars: int
    trades: int
    notes: list[str]


class GapOut(BaseModel):
    figure: str
    live: float | None
    backtest: float | None
    difference: float | None = Field(description="live minus backtest")
    z: float | None
    beyond_noise: bool


class DriftOut(BaseModel):
    strategy: str
    from_ts: int
    to_ts: int
    symbols: list[str]
    live: LegOut
    backtest: LegOut
    backtest_runs: list[BacktestRunOut]
    differences: list[GapOut]
    verdict: str = Field(description="consistent | drift | insufficient_data")
    summary: str


def leg_out(leg: LegSummary) -> LegOut:
    return LegOut(
        trades=leg.trades,
        wins=leg.wins,
        hit_rate=leg.hit_rate,
        total_return_pct=leg.total_return_pct,
        mean_trade_return_pct=leg.mean_return_pct,
        pnl=leg.pnl,
        curve=[CurvePointOut(ts=ts, return_pct=value) for ts, value in leg.curve],
    )


def drift_out(report: DriftReport) -> DriftOut:
    return DriftOut(
        strategy=report.strategy,
        from_ts=report.start_ms,
        to_ts=report.end_ms,
        symbols=list(report.symbols),
        live=leg_out(report.live),
        backtest=leg_out(report.backtest),
        backtest_runs=[
            BacktestRunOut(
                symbol=run.symbol,
                timeframe=run.timeframe,
                bars=run.bars,
                trades=len(run.trades),
                notes=list(run.notes),
            )
            for run in report.runs
        ],
        differences=[
            GapOut.model_validate(g, from_attributes=True) for g in report.comparison.gaps
        ],
        verdict=report.comparison.verdict,
        summary=report.comparison.summary,
    )
