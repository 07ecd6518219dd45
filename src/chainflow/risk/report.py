"""The figures of a risk report, computed from a ``PortfolioSnapshot`` and stored returns.

Pure functions over the dataclasses of ``report_types``; ``RiskService`` reads the inputs
(the account, the tenant's limits, the stored bars) and calls these.

VaR and CVaR are one-day figures in the account currency, positive for a loss:

- the inputs are the log returns of the positions' symbols on one bar timeframe, aligned
  on the timestamps every symbol has (``aligned_log_returns``);
- ``historical``: the empirical quantile of the per-bar portfolio P&L ``R v`` (``v`` the
  signed notional per symbol), scaled to a day by ``sqrt(bars per day)``;
- ``parametric``: ``z σ`` with ``σ² = vᵀ Σ v``, ``Σ`` the sample covariance of the
  returns (``ddof=1``) times bars per day, zero mean;
- ``monte_carlo``: ``paths`` seeded multivariate-normal draws from the same ``Σ``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from chainflow.risk.instruments import Position, notional_value, value_per_price_unit
from chainflow.risk.limits import RiskLimits, correlation_between
from chainflow.risk.report_types import (
    Correlation,
    DrawdownReport,
    ExposureReport,
    LimitsReport,
    LimitUse,
    ReturnsWindow,
    StressFigure,
    SymbolExposure,
    VarFigure,
    VarReport,
)
from chainflow.risk.stress import SCENARIOS, stress_portfolio
from chainflow.risk.var import (
    VarMethod,
    compute_historical_var,
    compute_monte_carlo_var,
    compute_parametric_var,
)

CONFIDENCES = (0.95, 0.99)
METHODS: tuple[VarMethod, ...] = ("historical", "parametric", "monte_carlo")


def price_of(position: Position, prices: Mapping[str, float]) -> float:
    """Return the mark of ``position``'s symbol, else its entry price."""
    return prices.get(position.symbol, position.entry_price)


def signed_values(positions: Sequence[Position], prices: Mapping[str, float]) -> dict[str, float]:
    """Return the signed notional per symbol in the account currency (negative short)."""
    values: dict[str, float] = {}
    for p in positions:
        value = value_per_price_unit(p.instrument, p.lots) * price_of(p, prices)
        values[p.symbol] = values.get(p.symbol, 0.0) + value
    return values


def compute_exposure(
    positions: Sequence[Position], prices: Mapping[str, float], equity: float
) -> ExposureReport:
    """Return exposure per symbol (in first-seen order) and the gross and net totals."""
    rows: dict[str, list[Position]] = {}
    for p in positions:
        rows.setdefault(p.symbol, []).append(p)
    symbols = []
    for symbol, held in rows.items():
        gross = math.fsum(notional_value(p.instrument, p.lots, price_of(p, prices)) for p in held)
        net = signed_values(held, prices)[symbol]
        symbols.append(
            SymbolExposure(
                symbol=symbol,
                lots=round(math.fsum(p.lots for p in held), 8),
                gross_lots=round(math.fsum(abs(p.lots) for p in held), 8),
                price=price_of(held[0], prices),
                notional=net,
                gross_notional=gross,
                share_of_equity_pct=_pct(gross, equity),
            )
        )
    gross_total = math.fsum(s.gross_notional for s in symbols)
    net_total = math.fsum(s.notional for s in symbols)
    return ExposureReport(
        tuple(symbols), gross_total, net_total, _pct(gross_total, equity), _pct(net_total, equity)
    )


def aligned_log_returns(
    closes: Mapping[str, Mapping[int, float]], symbols: Sequence[str]
) -> NDArray[np.float64]:
    """Return log returns of ``symbols`` on the bar times they all have (rows by time)."""
    if not symbols:
        return np.empty((0, 0))
    common = set(closes[symbols[0]])
    for symbol in symbols[1:]:
        common &= set(closes[symbol])
    times = sorted(common)
    if len(times) < 2:
        return np.empty((0, len(symbols)))
    levels = np.array([[closes[s][t] for s in symbols] for t in times], dtype=np.float64)
    return np.diff(np.log(levels), axis=0)


def covariance_per_day(window: ReturnsWindow) -> NDArray[np.float64]:
    """Return the sample covariance (``ddof=1``) of the window's returns over one day."""
    cov = np.atleast_2d(np.cov(window.returns, rowvar=False, ddof=1))
    return cov * window.bars_per_day


def correlations_of(window: ReturnsWindow) -> dict[tuple[str, str], float]:
    """Return the pairwise return correlations (0.0 where a series does not move)."""
    cov = np.atleast_2d(np.cov(window.returns, rowvar=False, ddof=1))
    sd = np.sqrt(np.diag(cov))
    pairs: dict[tuple[str, str], float] = {}
    for i, first in enumerate(window.symbols):
        for j in range(i + 1, len(window.symbols)):
            scale = sd[i] * sd[j]
            value = float(cov[i, j] / scale) if scale > 0 else 0.0
            pairs[(first, window.symbols[j])] = max(-1.0, min(1.0, value))
    return pairs


def compute_var(
    values: Mapping[str, float],
    window: ReturnsWindow | None,
    *,
    paths: int = 10_000,
    seed: int = 0,
) -> VarReport:
    """Return one-day VaR and CVaR at ``CONFIDENCES`` by every method (see the module)."""
    if not values:
        zeros = tuple(VarFigure(m, c, 0.0, 0.0) for m in METHODS for c in CONFIDENCES)
        return VarReport(1, None, 0, None, zeros, note="no open positions; nothing at risk")
    if window is None or window.reason is not None:
        reason = window.reason if window is not None else "no stored bars to compute returns"
        unknown = tuple(VarFigure(m, c, None, None, reason) for m in METHODS for c in CONFIDENCES)
        timeframe = window.timeframe.value if window is not None else None
        observations = window.observations if window is not None else 0
        return VarReport(1, timeframe, observations, None, unknown, note=reason)
    v = np.array([values[s] for s in window.symbols], dtype=np.float64)
    per_bar_pnl = window.returns @ v
    cov = covariance_per_day(window)
    scale = math.sqrt(window.bars_per_day)
    figures = []
    for confidence in CONFIDENCES:
        historical = compute_historical_var(per_bar_pnl, confidence)
        figures.append(
            VarFigure("historical", confidence, historical.var * scale, historical.cvar * scale)
        )
    for confidence in CONFIDENCES:
        parametric = compute_parametric_var(v, cov, confidence)
        figures.append(VarFigure("parametric", confidence, parametric.var, parametric.cvar))
    for confidence in CONFIDENCES:
        simulated = compute_monte_carlo_var(v, cov, confidence, paths=paths, seed=seed)
        figures.append(VarFigure("monte_carlo", confidence, simulated.var, simulated.cvar))
    correlations = tuple(Correlation(a, b, c) for (a, b), c in correlations_of(window).items())
    return VarReport(
        1,
        window.timeframe.value,
        window.observations,
        window.bars_per_day,
        tuple(figures),
        correlations,
    )


def parametric_var_99(values: Mapping[str, float], window: ReturnsWindow | None) -> float | None:
    """Return the one-day 99 % parametric VaR of ``values`` (0 when flat, None if unknown)."""
    if not values:
        return 0.0
    if window is None or window.reason is not None:
        return None
    v = np.array([values.get(s, 0.0) for s in window.symbols], dtype=np.float64)
    return compute_parametric_var(v, covariance_per_day(window), 0.99).var


def compute_stress(
    positions: Sequence[Position], prices: Mapping[str, float], equity: float
) -> tuple[StressFigure, ...]:
    """Return the P&L of every scenario in ``SCENARIOS`` (table order)."""
    figures = []
    for scenario in SCENARIOS.values():
        result = stress_portfolio(positions, prices, scenario)
        figures.append(
            StressFigure(
                scenario.name,
                scenario.description,
                result.total_pnl,
                _pct(result.total_pnl, equity),
                dict(result.pnl_by_symbol),
            )
        )
    return tuple(figures)


def compute_drawdown(equity: float, peak_equity: float, day_start_equity: float) -> DrawdownReport:
    """Return the drawdown from the peak and the P&L since the start of the day."""
    peak = max(peak_equity, equity)
    drawdown = peak - equity
    daily = equity - day_start_equity
    return DrawdownReport(
        equity,
        peak,
        drawdown,
        _pct(drawdown, peak),
        day_start_equity,
        daily,
        _pct(daily, day_start_equity),
    )


def compute_limits(
    positions: Sequence[Position],
    prices: Mapping[str, float],
    limits: RiskLimits,
    drawdown: DrawdownReport,
    *,
    leverage: int,
    correlations: Mapping[tuple[str, str], float],
) -> LimitsReport:
    """Return each limit of ``limits`` with its current use by the account."""
    daily_loss_pct = max(0.0, -drawdown.daily_pnl_pct)
    open_count = sum(1 for p in positions if p.lots != 0)
    symbols = list(dict.fromkeys(p.symbol for p in positions))
    symbol_uses = []
    correlated_uses = []
    for symbol in symbols:
        lots = math.fsum(abs(p.lots) for p in positions if p.symbol == symbol)
        symbol_uses.append(_use(lots, limits.max_symbol_exposure_lots, "lots", symbol))
        correlated = math.fsum(
            notional_value(p.instrument, p.lots, price_of(p, prices))
            for p in positions
            if p.symbol == symbol
            or correlation_between(correlations, symbol, p.symbol) > limits.correlation_threshold
        )
        correlated_uses.append(_use(correlated, limits.max_correlated_exposure, "notional", symbol))
    return LimitsReport(
        risk_per_trade_pct=limits.max_risk_per_trade_pct,
        risk_per_trade_budget=drawdown.equity * limits.max_risk_per_trade_pct / 100,
        leverage=leverage,
        daily_loss=_use(daily_loss_pct, limits.max_daily_loss_pct, "pct"),
        drawdown=_use(drawdown.drawdown_pct, limits.max_drawdown_pct, "pct"),
        open_positions=_use(open_count, limits.max_open_positions, "positions"),
        symbol_exposure=tuple(symbol_uses),
        correlated_exposure=tuple(correlated_uses),
        correlation_threshold=limits.correlation_threshold,
    )


def _use(value: float, limit: float, unit: str, symbol: str | None = None) -> LimitUse:
    return LimitUse(value, limit, _pct(value, limit), unit, symbol)


def _pct(value: float, of: float) -> float:
    return value / of * 100 if of > 0 else 0.0
