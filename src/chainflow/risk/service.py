"""The risk service: a tenant's portfolio risk report and what-if checks of proposed orders.

It reads the account from a ``PortfolioSource`` (the trading engine's paper desk), the
tenant's limits from a ``RiskSettingsSource`` plus the tier table, and returns from the
stored bars. Returns are read on ``H1`` when every symbol has at least
``min_observations`` aligned returns there, else on ``M5``; the answer says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chainflow.bridge.api import read_bars
from chainflow.core.auth import Tier
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.risk.errors import InvalidOrderError
from chainflow.risk.instruments import (
    Side,
    default_instrument,
    notional_value,
    value_per_price_unit,
)
from chainflow.risk.limits import CircuitBreaker, OrderRequest, PortfolioView, check_order
from chainflow.risk.portfolio import PortfolioSnapshot, PortfolioSource
from chainflow.risk.report import (
    aligned_log_returns,
    compute_drawdown,
    compute_exposure,
    compute_limits,
    compute_stress,
    compute_var,
    correlations_of,
    parametric_var_99,
    signed_values,
)
from chainflow.risk.report_types import BreakerState, PortfolioReport, ReturnsWindow
from chainflow.risk.settings_source import RiskSettingsSource, limits_for
from chainflow.risk.sizing import fixed_fractional
from chainflow.storage.api import TimeSeriesStore

# (timeframe, bars read per symbol): 30 days of H1, else 7 days of M5.
DEFAULT_WINDOWS: tuple[tuple[Timeframe, int], ...] = ((Timeframe.H1, 721), (Timeframe.M5, 2017))
PRICE_TIMEFRAMES = (Timeframe.M1, Timeframe.M5, Timeframe.H1)
_SIGN = {"buy": 1.0, "sell": -1.0}


@dataclass(frozen=True, slots=True)
class OrderProposal:
    """A proposed order; ``lots`` None asks the service to size it from the stop."""

    symbol: str
    side: str
    lots: float | None = None
    entry: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None


@dataclass(frozen=True, slots=True)
class CheckAnswer:
    """The answer of ``POST /api/v1/risk/check``.

    ``risk_pct``, ``margin`` and ``var_after`` are for ``lots`` when allowed, else for the
    requested lots (what the order would have done). VaR is the one-day 99 % parametric.
    """

    symbol: str
    side: Side
    allowed: bool
    lots: float
    requested_lots: float
    reasons: tuple[str, ...]
    entry: float
    entry_source: str
    stop_loss: float | None
    take_profit: float | None
    risk_amount: float | None
    risk_pct: float | None
    margin: float
    leverage: int
    var_before: float | None
    var_after: float | None
    var_method: str = "parametric"
    var_confidence: float = 0.99


class EmptyPortfolioSource:
    """A flat account holding ``equity`` for every tenant (until a paper desk is wired)."""

    def __init__(self, equity: float, clock: Clock, account_currency: str = "USD") -> None:
        self._equity = equity
        self._clock = clock
        self._currency = account_currency

    async def portfolio(self, tenant_id: str) -> PortfolioSnapshot:
        """Return a flat account at the configured equity."""
        e = self._equity
        return PortfolioSnapshot(tenant_id, self._currency, e, e, e, e, e, ts=self._clock.now_ms())


class RiskService:
    """Answer risk reports and order checks for one tenant at a time."""

    def __init__(
        self,
        *,
        source: PortfolioSource,
        store: TimeSeriesStore,
        settings_source: RiskSettingsSource,
        clock: Clock,
        windows: Sequence[tuple[Timeframe, int]] = DEFAULT_WINDOWS,
        min_observations: int = 30,
        paths: int = 10_000,
        seed: int = 0,
    ) -> None:
        self._source = source
        self._store = store
        self._settings = settings_source
        self._clock = clock
        self._windows = tuple(windows)
        self._min_observations = min_observations
        self._paths = paths
        self._seed = seed

    async def report(self, tenant_id: str, tier: Tier | str) -> PortfolioReport:
        """Return exposure, VaR/CVaR, stress, drawdown, limits and breaker of the tenant."""
        snapshot = await self._snapshot(tenant_id)
        settings = await self._settings.risk_settings(tenant_id)
        limits = limits_for(settings, tier, snapshot.equity)
        positions, prices = snapshot.positions, snapshot.prices
        values = signed_values(positions, prices)
        window = await self.returns_window(tenant_id, list(values)) if values else None
        drawdown = compute_drawdown(
            snapshot.equity, snapshot.peak_equity, snapshot.day_start_equity
        )
        correlations = correlations_of(window) if window and window.reason is None else {}
        return PortfolioReport(
            tenant_id=tenant_id,
            ts=snapshot.ts or self._clock.now_ms(),
            account_currency=snapshot.account_currency,
            balance=snapshot.balance,
            equity=snapshot.equity,
            exposure=compute_exposure(positions, prices, snapshot.equity),
            var=compute_var(values, window, paths=self._paths, seed=self._seed),
            stress=compute_stress(positions, prices, snapshot.equity),
            drawdown=drawdown,
            limits=compute_limits(
                positions,
                prices,
                limits,
                drawdown,
                leverage=settings.leverage,
                correlations=correlations,
            ),
            breaker=_breaker(snapshot, CircuitBreaker.from_limits(limits)),
        )

    async def check(self, tenant_id: str, tier: Tier | str, order: OrderProposal) -> CheckAnswer:
        """Size (when lots are missing) and check ``order`` against the tenant's account."""
        symbol, side = _validate_fields(order)
        snapshot = await self._snapshot(tenant_id)
        settings = await self._settings.risk_settings(tenant_id)
        limits = limits_for(settings, tier, snapshot.equity)
        entry, entry_source = await self._entry(tenant_id, symbol, order, snapshot)
        _validate_levels(side, entry, order)
        held = [p for p in snapshot.positions if p.symbol == symbol]
        instrument = (
            held[0].instrument
            if held
            else default_instrument(symbol, entry, snapshot.account_currency)
        )
        reasons: list[str] = []
        if order.lots is not None:
            requested = order.lots
        else:
            assert order.stop_loss is not None  # _validate_fields guarantees it
            sizing = fixed_fractional(
                max(snapshot.equity, 0.0),
                settings.max_risk_per_trade_pct / 100,
                entry,
                order.stop_loss,
                instrument,
            )
            requested = sizing.lots
            distance = abs(entry - order.stop_loss)
            reasons.append(
                f"sized {sizing.lots:g} lots: {settings.max_risk_per_trade_pct:g}% of equity "
                f"{snapshot.equity:.2f} at the stop {distance:.{instrument.price_digits}f} away"
            )
            reasons.extend(sizing.reasons)
        values_before = signed_values(snapshot.positions, snapshot.prices)
        window_before = await self.returns_window(tenant_id, list(values_before))
        window_after = (
            window_before
            if symbol in values_before
            else await self.returns_window(tenant_id, [*values_before, symbol])
        )
        breaker = CircuitBreaker.from_limits(limits)
        state = _breaker(snapshot, breaker)
        found: tuple[str, ...]
        if state.tripped and state.source == "account":
            allowed, lots, found = False, 0.0, (f"circuit breaker tripped: {state.reason}",)
        elif requested <= 0:
            allowed, lots, found = False, 0.0, ("no size to check (0 lots)",)
        else:
            correlations = correlations_of(window_after) if window_after.reason is None else {}
            request = OrderRequest(side, requested, entry, instrument, order.stop_loss)
            view = PortfolioView(snapshot.equity, snapshot.positions, snapshot.prices, breaker)
            result = check_order(request, view, limits, correlations)
            allowed, lots, found = result.allowed, result.lots, result.reasons
        shown_lots = lots if allowed else requested
        signed = value_per_price_unit(instrument, shown_lots) * entry * _SIGN[side]
        values_after = dict(values_before)
        values_after[symbol] = values_after.get(symbol, 0.0) + signed
        risk_amount = (
            abs(entry - order.stop_loss) * value_per_price_unit(instrument, shown_lots)
            if order.stop_loss is not None
            else None
        )
        return CheckAnswer(
            symbol=symbol,
            side=side,
            allowed=allowed,
            lots=lots,
            requested_lots=requested,
            reasons=(*reasons, *found),
            entry=entry,
            entry_source=entry_source,
            stop_loss=order.stop_loss,
            take_profit=order.take_profit,
            risk_amount=risk_amount,
            risk_pct=(
                risk_amount / snapshot.equity * 100
                if risk_amount is not None and snapshot.equity > 0
                else None
            ),
            margin=notional_value(instrument, shown_lots, entry) / settings.leverage,
            leverage=settings.leverage,
            var_before=parametric_var_99(values_before, window_before),
            var_after=parametric_var_99(values_after, window_after),
        )

    async def returns_window(self, tenant_id: str, symbols: Sequence[str]) -> ReturnsWindow:
        """Return aligned log returns of ``symbols`` on the first timeframe with enough bars.

        When none has ``min_observations`` returns, return the fullest window with a
        ``reason`` naming how many bars each symbol has.
        """
        symbols = tuple(symbols)
        end_ms = self._clock.now_ms() + 1
        best: ReturnsWindow | None = None
        counts: list[str] = []
        for timeframe, count in self._windows:
            closes = {}
            for symbol in symbols:
                bars = await read_bars(
                    self._store,
                    TenantId(tenant_id),
                    symbol,
                    timeframe,
                    end_ms=end_ms,
                    count=count,
                )
                closes[symbol] = {bar.ts: bar.close for bar in bars if bar.close > 0}
                counts.append(f"{symbol} {len(closes[symbol])} {timeframe.value}")
            window = ReturnsWindow(timeframe, symbols, aligned_log_returns(closes, symbols))
            if window.observations >= self._min_observations:
                return window
            if best is None or window.observations > best.observations:
                best = window
        assert best is not None, "expected at least one (timeframe, count) window"
        need = self._min_observations + 1
        aligned = best.observations + 1 if best.observations else 0
        reason = (
            f"expected at least {need} aligned bars of one timeframe to compute returns; "
            f"received {', '.join(counts)} ({aligned} aligned on {best.timeframe.value})"
        )
        return ReturnsWindow(best.timeframe, symbols, best.returns, reason)

    async def latest_close(self, tenant_id: str, symbol: str) -> float | None:
        """Return the close of the newest stored bar of ``symbol`` on any price timeframe."""
        newest: tuple[int, float] | None = None
        for timeframe in PRICE_TIMEFRAMES:
            bars = await read_bars(
                self._store,
                TenantId(tenant_id),
                symbol,
                timeframe,
                end_ms=self._clock.now_ms() + 1,
                count=1,
            )
            if bars and (newest is None or bars[-1].ts > newest[0]):
                newest = (bars[-1].ts, bars[-1].close)
        return newest[1] if newest else None

    async def _snapshot(self, tenant_id: str) -> PortfolioSnapshot:
        snapshot = await self._source.portfolio(tenant_id)
        if snapshot.tenant_id != tenant_id:
            raise RuntimeError(
                f"expected the portfolio of tenant {tenant_id}; the source answered the "
                f"portfolio of tenant {snapshot.tenant_id}"
            )
        return snapshot

    async def _entry(
        self, tenant_id: str, symbol: str, order: OrderProposal, snapshot: PortfolioSnapshot
    ) -> tuple[float, str]:
        if order.entry is not None:
            return order.entry, "request"
        close = await self.latest_close(tenant_id, symbol)
        if close is not None:
            return close, "last_bar"
        mark = snapshot.prices.get(symbol)
        if mark is not None:
            return mark, "mark"
        raise InvalidOrderError(
            f"expected an entry price, or stored bars of {symbol} to take it from; "
            "received neither",
            details={"field": "entry"},
        )


def _breaker(snapshot: PortfolioSnapshot, breaker: CircuitBreaker) -> BreakerState:
    if snapshot.breaker is not None:
        return BreakerState(True, snapshot.breaker, "account")
    reason = breaker.update(snapshot.equity, snapshot.day_start_equity, snapshot.peak_equity)
    return BreakerState(True, reason, "limits") if reason else BreakerState(False)


def _validate_fields(order: OrderProposal) -> tuple[str, Side]:
    symbol = order.symbol.strip().upper()
    if not symbol:
        raise InvalidOrderError(
            "expected a symbol such as 'EURUSD'; received ''", details={"field": "symbol"}
        )
    side = order.side.strip().lower()
    if side not in ("buy", "sell"):
        raise InvalidOrderError(
            f"expected side 'buy' or 'sell'; received {order.side!r}", details={"field": "side"}
        )
    for name in ("lots", "entry", "stop_loss", "take_profit"):
        value = getattr(order, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InvalidOrderError(
                f"expected {name} > 0; received {value:g}", details={"field": name}
            )
    if order.lots is None and order.stop_loss is None:
        raise InvalidOrderError(
            "expected lots, or a stop_loss to size the order from; received neither",
            details={"field": "lots"},
        )
    return symbol, "buy" if side == "buy" else "sell"


def _validate_levels(side: Side, entry: float, order: OrderProposal) -> None:
    below, above = ("below", "above") if side == "buy" else ("above", "below")
    for name, level, want in (
        ("stop_loss", order.stop_loss, below),
        ("take_profit", order.take_profit, above),
    ):
        if level is None:
            continue
        is_right = level < entry if want == "below" else level > entry
        if not is_right:
            raise InvalidOrderError(
                f"expected {name} {want} the entry {entry:g} for a {side}; received {level:g}",
                details={"field": name, "entry": entry},
            )
