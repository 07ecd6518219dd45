"""The frozen dataclasses of a risk report (``GET /api/v1/risk/portfolio``).

``chainflow.risk.report`` computes them; ``RiskService`` assembles a ``PortfolioReport``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from chainflow.core.market import Timeframe
from chainflow.risk.var import VarMethod

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class ReturnsWindow:
    """Aligned log returns (rows: bars, columns: ``symbols``) of one timeframe.

    ``reason`` says why the window cannot carry VaR (too few bars), else None.
    """

    timeframe: Timeframe
    symbols: tuple[str, ...]
    returns: NDArray[np.float64]
    reason: str | None = None

    @property
    def observations(self) -> int:
        """Return how many aligned returns the window holds."""
        return int(self.returns.shape[0])

    @property
    def bars_per_day(self) -> int:
        """Return how many bars of the timeframe make a day (the VaR horizon)."""
        return DAY_MS // self.timeframe.milliseconds


@dataclass(frozen=True, slots=True)
class SymbolExposure:
    """Net position on one symbol: signed lots and notionals in the account currency."""

    symbol: str
    lots: float
    gross_lots: float
    price: float
    notional: float
    gross_notional: float
    share_of_equity_pct: float


@dataclass(frozen=True, slots=True)
class ExposureReport:
    """Exposure per symbol and in total; percentages are of equity."""

    symbols: tuple[SymbolExposure, ...]
    gross_notional: float
    net_notional: float
    gross_pct_of_equity: float
    net_pct_of_equity: float


@dataclass(frozen=True, slots=True)
class VarFigure:
    """One method at one confidence; ``var``/``cvar`` None with ``reason`` when unknown."""

    method: VarMethod
    confidence: float
    var: float | None
    cvar: float | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Correlation:
    """Correlation of the returns of two symbols over the VaR window."""

    first: str
    second: str
    value: float


@dataclass(frozen=True, slots=True)
class VarReport:
    """VaR/CVaR figures and what they were computed from."""

    horizon_days: int
    timeframe: str | None
    observations: int
    bars_per_day: int | None
    figures: tuple[VarFigure, ...]
    correlations: tuple[Correlation, ...] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True)
class StressFigure:
    """Portfolio P&L under one scenario of ``SCENARIOS``."""

    scenario: str
    description: str
    pnl: float
    pnl_pct_of_equity: float
    pnl_by_symbol: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DrawdownReport:
    """Equity against its peak and against the start of the day."""

    equity: float
    peak_equity: float
    drawdown: float
    drawdown_pct: float
    day_start_equity: float
    daily_pnl: float
    daily_pnl_pct: float


@dataclass(frozen=True, slots=True)
class LimitUse:
    """How much of one limit is used: ``value`` of ``limit`` (``used_pct`` percent)."""

    value: float
    limit: float
    used_pct: float
    unit: str
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class LimitsReport:
    """Every limit of the tenant and its current use."""

    risk_per_trade_pct: float
    risk_per_trade_budget: float
    leverage: int
    daily_loss: LimitUse
    drawdown: LimitUse
    open_positions: LimitUse
    symbol_exposure: tuple[LimitUse, ...]
    correlated_exposure: tuple[LimitUse, ...]
    correlation_threshold: float


@dataclass(frozen=True, slots=True)
class BreakerState:
    """Whether new orders are halted, why, and who said so (the account or the limits)."""

    tripped: bool
    reason: str | None = None
    source: Literal["account", "limits"] | None = None


@dataclass(frozen=True, slots=True)
class PortfolioReport:
    """The answer of ``GET /api/v1/risk/portfolio``."""

    tenant_id: str
    ts: int
    account_currency: str
    balance: float
    equity: float
    exposure: ExposureReport
    var: VarReport
    stress: tuple[StressFigure, ...]
    drawdown: DrawdownReport
    limits: LimitsReport
    breaker: BreakerState
