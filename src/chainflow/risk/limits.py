"""Pre-trade limits and the daily-loss / drawdown circuit breaker.

``check_order`` never raises for a breach: it returns an ``OrderCheck`` that allows the order
(possibly resized down to fit every cap) or refuses it, with the reasons. Percentages are
in percent (``2.0`` is 2 %). Exposure is gross: every open position counts by ``|lots|``
whatever its direction, and an order is treated as opening a new position.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from chainflow.risk.errors import InvalidRiskInputError
from chainflow.risk.instruments import (
    Instrument,
    Position,
    Side,
    notional_value,
    round_lots,
    value_per_price_unit,
)

# Absorbs float noise when comparing an equity loss with its configured limit.
_LIMIT_NOISE = 1e-9

Correlations = Mapping[tuple[str, str], float]


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Per-account risk limits; percentages in percent of equity.

    ``max_correlated_exposure`` is an account-currency notional: the order plus every open
    position whose correlation with the order's symbol exceeds ``correlation_threshold``
    (the same symbol always counts). Without a stop loss, an order is refused when
    ``require_stop_loss`` is set, and its per-trade risk is unchecked otherwise.
    """

    max_risk_per_trade_pct: float
    max_open_positions: int
    max_symbol_exposure_lots: float
    max_correlated_exposure: float
    max_daily_loss_pct: float
    max_drawdown_pct: float
    correlation_threshold: float = 0.7
    require_stop_loss: bool = True

    def __post_init__(self) -> None:
        for name in ("max_risk_per_trade_pct", "max_daily_loss_pct", "max_drawdown_pct"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= 100):
                raise InvalidRiskInputError(f"expected {name} in (0, 100]; received {value}")
        for name in ("max_symbol_exposure_lots", "max_correlated_exposure"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidRiskInputError(f"expected {name} >= 0; received {value}")
        if self.max_open_positions < 0:
            raise InvalidRiskInputError(
                f"expected max_open_positions >= 0; received {self.max_open_positions}"
            )
        if not -1 <= self.correlation_threshold <= 1:
            raise InvalidRiskInputError(
                f"expected correlation_threshold in [-1, 1]; received {self.correlation_threshold}"
            )


BreakerKind = Literal["daily_loss", "drawdown"]


class CircuitBreaker:
    """Trips on the daily loss or drawdown limit and stays tripped until reset.

    A daily-loss trip clears with ``reset_for_new_day``; a drawdown trip only with
    ``reset`` (a manual decision).
    """

    def __init__(self, max_daily_loss_pct: float, max_drawdown_pct: float) -> None:
        for name, value in (
            ("max_daily_loss_pct", max_daily_loss_pct),
            ("max_drawdown_pct", max_drawdown_pct),
        ):
            if not (math.isfinite(value) and 0 < value <= 100):
                raise InvalidRiskInputError(f"expected {name} in (0, 100]; received {value}")
        self.max_daily_loss_pct = max_daily_loss_pct
        self.max_drawdown_pct = max_drawdown_pct
        self._tripped_reason: str | None = None
        self._tripped_kind: BreakerKind | None = None

    @classmethod
    def from_limits(cls, limits: RiskLimits) -> CircuitBreaker:
        """Build a breaker with the daily-loss and drawdown limits of ``limits``."""
        return cls(limits.max_daily_loss_pct, limits.max_drawdown_pct)

    @property
    def tripped_reason(self) -> str | None:
        """Return why the breaker tripped, or None while it is not tripped."""
        return self._tripped_reason

    @property
    def tripped_kind(self) -> BreakerKind | None:
        """Return which limit tripped the breaker, or None."""
        return self._tripped_kind

    @property
    def is_tripped(self) -> bool:
        """Return whether trading is halted by this breaker."""
        return self._tripped_reason is not None

    def update(self, equity: float, day_start_equity: float, peak_equity: float) -> str | None:
        """Check the latest equity; return the trip reason if tripped (now or before)."""
        if self._tripped_reason is not None:
            return self._tripped_reason
        if _loss_reaches(equity, day_start_equity, self.max_daily_loss_pct):
            loss_pct = (day_start_equity - equity) / day_start_equity * 100
            self._trip(
                "daily_loss",
                f"daily loss {loss_pct:.2f}% reached the limit {self.max_daily_loss_pct:g}% "
                f"(equity {equity:.2f}, day start {day_start_equity:.2f})",
            )
        elif _loss_reaches(equity, peak_equity, self.max_drawdown_pct):
            drawdown_pct = (peak_equity - equity) / peak_equity * 100
            self._trip(
                "drawdown",
                f"drawdown {drawdown_pct:.2f}% reached the limit {self.max_drawdown_pct:g}% "
                f"(equity {equity:.2f}, peak {peak_equity:.2f})",
            )
        return self._tripped_reason

    def reset_for_new_day(self) -> None:
        """Clear a daily-loss trip at the start of a new trading day; keep a drawdown trip."""
        if self._tripped_kind == "daily_loss":
            self.reset()

    def reset(self) -> None:
        """Clear any trip (a manual decision)."""
        self._tripped_reason = None
        self._tripped_kind = None

    def restore_trip(self, kind: BreakerKind, reason: str) -> None:
        """Trip as a saved breaker was (a restarted process continues where it stopped)."""
        if kind not in ("daily_loss", "drawdown"):
            raise InvalidRiskInputError(
                f"expected kind 'daily_loss' or 'drawdown'; received {kind!r}"
            )
        self._trip(kind, reason)

    def _trip(self, kind: BreakerKind, reason: str) -> None:
        self._tripped_kind = kind
        self._tripped_reason = reason


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to open ``lots`` (positive) of ``instrument`` on ``side`` at ``entry_price``."""

    side: Side
    lots: float
    entry_price: float
    instrument: Instrument
    stop_loss: float | None = None

    @property
    def symbol(self) -> str:
        """Return the instrument's symbol."""
        return self.instrument.symbol


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """What the limits need to know about an account: equity, positions, breaker."""

    equity: float
    positions: Sequence[Position] = ()
    prices: Mapping[str, float] | None = None
    circuit_breaker: CircuitBreaker | None = None

    def price_of(self, position: Position) -> float:
        """Return the current price of ``position``'s symbol, else its entry price."""
        if self.prices is None:
            return position.entry_price
        return self.prices.get(position.symbol, position.entry_price)


@dataclass(frozen=True, slots=True)
class OrderCheck:
    """The outcome of a pre-trade check: allowed or not, the lots to send, and why."""

    allowed: bool
    lots: float
    reasons: tuple[str, ...]


def correlation_between(correlations: Correlations | None, first: str, second: str) -> float:
    """Return the correlation of two symbols (1.0 for the same symbol, 0.0 if unknown)."""
    if first == second:
        return 1.0
    if correlations is None:
        return 0.0
    value = correlations.get((first, second))
    if value is None:
        value = correlations.get((second, first), 0.0)
    return value


def check_order(
    order: OrderRequest,
    portfolio: PortfolioView,
    limits: RiskLimits,
    correlations: Correlations | None = None,
) -> OrderCheck:
    """Allow, resize down or refuse ``order`` against ``limits``; never raise for a breach."""
    refusal = _refusal(order, portfolio, limits)
    if refusal is not None:
        return OrderCheck(False, 0.0, (refusal,))
    instrument = order.instrument
    caps: list[tuple[float, str]] = [(instrument.max_lot, f"max lot {instrument.max_lot:g}")]

    open_lots = math.fsum(abs(p.lots) for p in portfolio.positions if p.symbol == order.symbol)
    caps.append(
        (
            limits.max_symbol_exposure_lots - open_lots,
            f"per-symbol cap {limits.max_symbol_exposure_lots:g} lots "
            f"({open_lots:g} open on {order.symbol})",
        )
    )

    budget = portfolio.equity * limits.max_risk_per_trade_pct / 100
    if order.stop_loss is not None:
        loss_per_lot = abs(order.entry_price - order.stop_loss) * value_per_price_unit(
            instrument, 1.0
        )
        if loss_per_lot > 0:
            caps.append(
                (
                    budget / loss_per_lot,
                    f"per-trade risk {limits.max_risk_per_trade_pct:g}% of equity ({budget:.2f})",
                )
            )

    correlated = _correlated_exposure(order.symbol, portfolio, limits, correlations)
    notional_per_lot = notional_value(instrument, 1.0, order.entry_price)
    caps.append(
        (
            (limits.max_correlated_exposure - correlated) / notional_per_lot,
            f"correlated exposure cap {limits.max_correlated_exposure:.2f} ({correlated:.2f} open)",
        )
    )
    return _fit(order, caps)


def _refusal(order: OrderRequest, portfolio: PortfolioView, limits: RiskLimits) -> str | None:
    breaker = portfolio.circuit_breaker
    if breaker is not None and breaker.tripped_reason is not None:
        return f"circuit breaker tripped: {breaker.tripped_reason}"
    if not (math.isfinite(order.lots) and order.lots > 0):
        return f"expected order lots > 0; received {order.lots}"
    if not (math.isfinite(order.entry_price) and order.entry_price > 0):
        return f"expected entry price > 0; received {order.entry_price}"
    if not (math.isfinite(portfolio.equity) and portfolio.equity > 0):
        return f"equity {portfolio.equity:g} is not positive"
    open_count = sum(1 for p in portfolio.positions if p.lots != 0)
    if open_count >= limits.max_open_positions:
        return f"max open positions {limits.max_open_positions} reached ({open_count} open)"
    if order.stop_loss is None:
        if limits.require_stop_loss:
            return "expected a stop loss to measure per-trade risk; received none"
        return None
    if order.stop_loss == order.entry_price:
        return "stop loss equals entry price; per-trade risk cannot be measured"
    wrong_side = (order.side == "buy" and order.stop_loss > order.entry_price) or (
        order.side == "sell" and order.stop_loss < order.entry_price
    )
    if wrong_side:
        return (
            f"expected the stop loss on the losing side of entry for a {order.side}; "
            f"received stop {order.stop_loss:g}, entry {order.entry_price:g}"
        )
    return None


def _correlated_exposure(
    symbol: str,
    portfolio: PortfolioView,
    limits: RiskLimits,
    correlations: Correlations | None,
) -> float:
    return math.fsum(
        notional_value(p.instrument, p.lots, portfolio.price_of(p))
        for p in portfolio.positions
        if p.symbol == symbol
        or correlation_between(correlations, symbol, p.symbol) > limits.correlation_threshold
    )


def _fit(order: OrderRequest, caps: Sequence[tuple[float, str]]) -> OrderCheck:
    instrument = order.instrument
    binding_lots, binding_reason = min(caps, key=lambda cap: cap[0])
    wanted = min(order.lots, binding_lots)
    # round_lots forgives float noise (a billionth of a step), so a cap is met to 1e-9.
    lots = round_lots(max(wanted, 0.0), instrument)
    is_capped = binding_lots < order.lots - instrument.lot_step * 1e-9
    if lots == 0:
        if is_capped:
            return OrderCheck(False, 0.0, (f"no room under the {binding_reason}",))
        return OrderCheck(
            False, 0.0, (f"{order.lots:g} lots is below min lot {instrument.min_lot:g}",)
        )
    reasons: list[str] = []
    if is_capped:
        reasons.append(f"resized from {order.lots:g} to {lots:g} lots: {binding_reason}")
    elif order.lots - lots > instrument.lot_step * 1e-9:
        reasons.append(f"rounded down to {lots:g} lots (lot step {instrument.lot_step:g})")
    return OrderCheck(True, lots, tuple(reasons))


def _loss_reaches(equity: float, reference_equity: float, limit_pct: float) -> bool:
    if reference_equity <= 0:
        return False
    loss = reference_equity - equity
    limit = reference_equity * limit_pct / 100
    return loss >= limit - _LIMIT_NOISE * reference_equity
