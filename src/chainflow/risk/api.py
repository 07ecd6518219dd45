"""Public interface of risk management: what the trading engine and the backtester import."""

from __future__ import annotations

from chainflow.risk.instruments import (
    Instrument,
    Position,
    currency_pair,
    default_instrument,
    notional_value,
    pip_value,
    quote_to_account,
    round_lots,
    value_per_price_unit,
)
from chainflow.risk.limits import (
    CircuitBreaker,
    OrderCheck,
    OrderRequest,
    PortfolioView,
    RiskLimits,
    check_order,
    correlation_between,
)
from chainflow.risk.portfolio import PortfolioSnapshot, PortfolioSource
from chainflow.risk.settings_source import TenantRiskSettings, limits_for, tier_caps
from chainflow.risk.sizing import (
    SizingResult,
    fixed_fractional,
    kelly_fraction,
    risk_contributions,
    risk_parity_weights,
    volatility_target,
)
from chainflow.risk.stops import atr_stops, structure_stop
from chainflow.risk.stress import SCENARIOS, Scenario, StressResult, stress_all, stress_portfolio
from chainflow.risk.var import (
    VarResult,
    compute_historical_var,
    compute_monte_carlo_var,
    compute_parametric_var,
)

__all__ = [
    "SCENARIOS",
    "CircuitBreaker",
    "Instrument",
    "OrderCheck",
    "OrderRequest",
    "PortfolioSnapshot",
    "PortfolioSource",
    "PortfolioView",
    "Position",
    "RiskLimits",
    "Scenario",
    "SizingResult",
    "StressResult",
    "TenantRiskSettings",
    "VarResult",
    "atr_stops",
    "check_order",
    "compute_historical_var",
    "compute_monte_carlo_var",
    "compute_parametric_var",
    "correlation_between",
    "currency_pair",
    "default_instrument",
    "quote_to_account",
    "fixed_fractional",
    "limits_for",
    "kelly_fraction",
    "notional_value",
    "pip_value",
    "risk_contributions",
    "risk_parity_weights",
    "round_lots",
    "stress_all",
    "stress_portfolio",
    "structure_stop",
    "tier_caps",
    "value_per_price_unit",
    "volatility_target",
]
