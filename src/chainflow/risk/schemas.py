"""Wire models of the risk routes (Pydantic v2), read from the service's dataclasses.

Money is in the account currency; ``*_pct`` fields are percent (``2.0`` is 2 %).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SymbolExposureOut(_Out):
    symbol: str
    lots: float = Field(description="net signed lots (negative short)")
    gross_lots: float = Field(description="sum of |lots| of the symbol's positions")
    price: float = Field(description="current mark (entry price when no mark is known)")
    notional: float = Field(description="net signed notional in the account currency")
    gross_notional: float
    share_of_equity_pct: float = Field(description="gross notional / equity, in percent")


class ExposureOut(_Out):
    symbols: list[SymbolExposureOut]
    gross_notional: float
    net_notional: float
    gross_pct_of_equity: float
    net_pct_of_equity: float


class VarFigureOut(_Out):
    method: str = Field(description="historical | parametric | monte_carlo")
    confidence: float = Field(description="0.95 or 0.99")
    var: float | None = Field(description="one-day value at risk, positive for a loss")
    cvar: float | None = Field(description="expected shortfall beyond the VaR")
    reason: str | None = Field(None, description="why var/cvar are null")


class CorrelationOut(_Out):
    first: str
    second: str
    value: float


class VarOut(_Out):
    horizon_days: int
    timeframe: str | None = Field(description="bar timeframe of the returns (H1, else M5)")
    observations: int = Field(description="aligned log returns used")
    bars_per_day: int | None = Field(description="sqrt of this scales per-bar figures to a day")
    figures: list[VarFigureOut]
    correlations: list[CorrelationOut]
    note: str | None = None


class StressOut(_Out):
    scenario: str
    description: str
    pnl: float
    pnl_pct_of_equity: float
    pnl_by_symbol: dict[str, float]


class DrawdownOut(_Out):
    equity: float
    peak_equity: float
    drawdown: float
    drawdown_pct: float
    day_start_equity: float
    daily_pnl: float
    daily_pnl_pct: float


class LimitUseOut(_Out):
    value: float = Field(description="current use, in `unit`")
    limit: float
    used_pct: float = Field(description="value / limit, in percent")
    unit: str = Field(description="pct | positions | lots | notional")
    symbol: str | None = None


class LimitsOut(_Out):
    risk_per_trade_pct: float
    risk_per_trade_budget: float = Field(description="equity * risk_per_trade_pct / 100")
    leverage: int
    daily_loss: LimitUseOut
    drawdown: LimitUseOut
    open_positions: LimitUseOut = Field(description="open positions of the tier's maximum")
    symbol_exposure: list[LimitUseOut] = Field(description="gross lots per symbol of the cap")
    correlated_exposure: list[LimitUseOut] = Field(
        description="notional of the symbol and every symbol correlated above the threshold"
    )
    correlation_threshold: float


class BreakerOut(_Out):
    tripped: bool
    reason: str | None = None
    source: str | None = Field(None, description="account (the trading desk) or limits")


class PortfolioRiskOut(_Out):
    """The tenant's portfolio risk now."""

    tenant_id: str
    ts: int = Field(description="epoch milliseconds of the account snapshot")
    account_currency: str
    balance: float
    equity: float
    exposure: ExposureOut
    var: VarOut
    stress: list[StressOut]
    drawdown: DrawdownOut
    limits: LimitsOut
    breaker: BreakerOut


class OrderCheckIn(BaseModel):
    """A proposed order. Without ``lots`` it is sized at the tenant's per-trade risk."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=32, examples=["EURUSD"])
    side: str = Field(description="buy | sell", examples=["buy"])
    lots: float | None = Field(None, description="positive lots; sized from the stop if absent")
    entry: float | None = Field(None, description="defaults to the latest stored bar close")
    stop_loss: float | None = None
    take_profit: float | None = None


class OrderCheckOut(_Out):
    """Whether the order passes the tenant's limits now, and at what size."""

    symbol: str
    side: str
    allowed: bool
    lots: float = Field(description="lots allowed (possibly resized down); 0 when refused")
    requested_lots: float = Field(description="lots asked for, or sized from the stop")
    reasons: list[str]
    entry: float
    entry_source: str = Field(description="request | last_bar | mark")
    stop_loss: float | None
    take_profit: float | None
    risk_amount: float | None = Field(description="loss at the stop, account currency")
    risk_pct: float | None = Field(description="risk_amount / equity, in percent")
    margin: float = Field(description="notional / leverage")
    leverage: int
    var_before: float | None = Field(description="one-day 99% parametric VaR now")
    var_after: float | None = Field(description="the same with the order added")
    var_method: str
    var_confidence: float
