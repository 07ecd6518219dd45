"""Pre-trade limits (check_order) and the circuit breaker."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainflow.risk.instruments import Instrument, Position, notional_value, value_per_price_unit
from chainflow.risk.limits import (
    CircuitBreaker,
    OrderRequest,
    PortfolioView,
    RiskLimits,
    check_order,
    correlation_between,
)

EURUSD = Instrument("EURUSD")
GBPUSD = Instrument("GBPUSD")
USDJPY = Instrument("USDJPY", price_digits=3, pip_size=0.01, quote_to_account=1 / 150.0)
LIMITS = RiskLimits(
    max_risk_per_trade_pct=1.0,
    max_open_positions=3,
    max_symbol_exposure_lots=2.0,
    max_correlated_exposure=500_000.0,
    max_daily_loss_pct=5.0,
    max_drawdown_pct=10.0,
)
CORRELATIONS = {("EURUSD", "GBPUSD"): 0.85, ("EURUSD", "USDJPY"): -0.4}


def buy_eurusd(lots: float, stop: float | None = 1.0950) -> OrderRequest:
    return OrderRequest("buy", lots, 1.1000, EURUSD, stop_loss=stop)


class TestCheckOrder:
    def test_order_within_every_limit_passes_unchanged(self) -> None:
        # 1 % of 100 000 = 1 000 USD; 50 pips on 1 lot = 500 USD.
        decision = check_order(buy_eurusd(1.0), PortfolioView(100_000), LIMITS)
        assert decision.allowed and decision.lots == 1.0 and decision.reasons == ()

    def test_resized_to_the_per_trade_risk(self) -> None:
        decision = check_order(buy_eurusd(1.0), PortfolioView(30_000), LIMITS)
        # Budget 300 USD over 50 pips: 0.6 lots.
        assert decision.allowed and decision.lots == 0.6
        assert decision.reasons == (
            "resized from 1 to 0.6 lots: per-trade risk 1% of equity (300.00)",
        )

    def test_resized_to_the_per_symbol_cap(self) -> None:
        portfolio = PortfolioView(1_000_000, [Position("EURUSD", -1.5, 1.1, EURUSD)])
        decision = check_order(buy_eurusd(1.0), portfolio, LIMITS)
        assert decision.lots == 0.5
        assert decision.reasons == (
            "resized from 1 to 0.5 lots: per-symbol cap 2 lots (1.5 open on EURUSD)",
        )

    def test_correlated_positions_count_toward_the_cap(self) -> None:
        # GBPUSD 3 lots at 1.25 = 375 000 correlated (0.85 > 0.7); room 125 000 / 110 000.
        portfolio = PortfolioView(
            1_000_000, [Position("GBPUSD", 3.0, 1.20, GBPUSD)], prices={"GBPUSD": 1.25}
        )
        decision = check_order(buy_eurusd(2.0), portfolio, LIMITS, CORRELATIONS)
        assert decision.allowed and decision.lots == 1.13
        assert decision.reasons == (
            "resized from 2 to 1.13 lots: correlated exposure cap 500000.00 (375000.00 open)",
        )

    def test_weakly_correlated_positions_do_not_count(self) -> None:
        portfolio = PortfolioView(1_000_000, [Position("USDJPY", 4.0, 150.0, USDJPY)])
        decision = check_order(buy_eurusd(2.0), portfolio, LIMITS, CORRELATIONS)
        assert decision.lots == 2.0

    def test_resized_to_the_instrument_max_lot(self) -> None:
        limits = RiskLimits(100.0, 3, 1_000.0, 1e12, 5.0, 10.0)
        decision = check_order(buy_eurusd(250.0), PortfolioView(1e9), limits)
        assert decision.lots == 100.0
        assert decision.reasons == ("resized from 250 to 100 lots: max lot 100",)

    def test_odd_size_is_rounded_down_to_the_lot_step(self) -> None:
        decision = check_order(buy_eurusd(0.127), PortfolioView(100_000), LIMITS)
        assert decision.lots == 0.12
        assert decision.reasons == ("rounded down to 0.12 lots (lot step 0.01)",)

    def test_refused_at_max_open_positions(self) -> None:
        positions = [Position("GBPUSD", 0.1, 1.25, GBPUSD)] * 3
        decision = check_order(buy_eurusd(0.1), PortfolioView(100_000, positions), LIMITS)
        assert not decision.allowed and decision.lots == 0.0
        assert decision.reasons == ("max open positions 3 reached (3 open)",)

    def test_refused_while_the_breaker_is_tripped(self) -> None:
        breaker = CircuitBreaker.from_limits(LIMITS)
        breaker.update(94_000, 100_000, 100_000)
        decision = check_order(
            buy_eurusd(0.1), PortfolioView(94_000, circuit_breaker=breaker), LIMITS
        )
        assert not decision.allowed
        assert decision.reasons[0].startswith("circuit breaker tripped: daily loss 6.00%")

    def test_refused_without_a_stop_loss(self) -> None:
        decision = check_order(buy_eurusd(0.1, stop=None), PortfolioView(100_000), LIMITS)
        assert decision.reasons == (
            "expected a stop loss to measure per-trade risk; received none",
        )

    def test_refused_with_a_stop_on_the_wrong_side(self) -> None:
        decision = check_order(buy_eurusd(0.1, stop=1.1050), PortfolioView(100_000), LIMITS)
        assert not decision.allowed and "losing side" in decision.reasons[0]

    def test_refused_when_no_room_is_left(self) -> None:
        portfolio = PortfolioView(1_000_000, [Position("EURUSD", 2.0, 1.1, EURUSD)])
        decision = check_order(buy_eurusd(0.5), portfolio, LIMITS)
        assert decision == check_order(buy_eurusd(0.5), portfolio, LIMITS)
        assert not decision.allowed
        assert decision.reasons == ("no room under the per-symbol cap 2 lots (2 open on EURUSD)",)

    def test_bad_order_size_is_a_refusal_not_an_exception(self) -> None:
        decision = check_order(buy_eurusd(-1.0), PortfolioView(100_000), LIMITS)
        assert not decision.allowed and decision.reasons == (
            "expected order lots > 0; received -1.0",
        )

    def test_correlation_lookup_is_symmetric(self) -> None:
        assert correlation_between(CORRELATIONS, "GBPUSD", "EURUSD") == 0.85
        assert correlation_between(None, "EURUSD", "EURUSD") == 1.0
        assert correlation_between(CORRELATIONS, "EURUSD", "AUDUSD") == 0.0

    def test_limits_reject_a_percentage_out_of_range(self) -> None:
        with pytest.raises(ValueError, match=r"expected max_drawdown_pct in \(0, 100\]"):
            RiskLimits(1.0, 3, 2.0, 1e6, 5.0, 150.0)


POSITIONS = st.lists(
    st.builds(
        Position,
        symbol=st.sampled_from(["EURUSD", "GBPUSD", "USDJPY"]),
        lots=st.floats(min_value=-3, max_value=3).map(lambda lots: round(lots, 2)),
        entry_price=st.just(1.2),
        instrument=st.just(EURUSD),
    ),
    max_size=6,
)
PROPERTY_LIMITS = st.builds(
    RiskLimits,
    max_risk_per_trade_pct=st.floats(min_value=0.1, max_value=5),
    max_open_positions=st.integers(min_value=0, max_value=8),
    max_symbol_exposure_lots=st.floats(min_value=0, max_value=10),
    max_correlated_exposure=st.floats(min_value=0, max_value=2_000_000),
    max_daily_loss_pct=st.just(5.0),
    max_drawdown_pct=st.just(10.0),
)


@settings(max_examples=200, deadline=None)
@given(
    limits=PROPERTY_LIMITS,
    positions=POSITIONS,
    equity=st.floats(min_value=1_000, max_value=1_000_000),
    lots=st.floats(min_value=0.01, max_value=20),
    stop_distance=st.floats(min_value=0.0005, max_value=0.02),
    side=st.sampled_from(["buy", "sell"]),
)
def test_an_allowed_order_never_exceeds_any_limit(
    limits: RiskLimits,
    positions: list[Position],
    equity: float,
    lots: float,
    stop_distance: float,
    side: str,
) -> None:
    entry = 1.1
    stop = entry - stop_distance if side == "buy" else entry + stop_distance
    order = OrderRequest(side, lots, entry, EURUSD, stop_loss=stop)  # type: ignore[arg-type]
    decision = check_order(order, PortfolioView(equity, positions), limits, CORRELATIONS)
    if not decision.allowed:
        assert decision.lots == 0.0 and decision.reasons
        return
    tolerance = 1e-9
    assert 0 < decision.lots <= min(lots, EURUSD.max_lot)
    assert sum(1 for p in positions if p.lots != 0) < limits.max_open_positions
    symbol_lots = sum(abs(p.lots) for p in positions if p.symbol == "EURUSD") + decision.lots
    assert symbol_lots <= limits.max_symbol_exposure_lots + tolerance
    risk = decision.lots * stop_distance * value_per_price_unit(EURUSD, 1.0)
    assert risk <= equity * limits.max_risk_per_trade_pct / 100 * (1 + tolerance)
    correlated = sum(
        notional_value(p.instrument, p.lots, p.entry_price)
        for p in positions
        if correlation_between(CORRELATIONS, "EURUSD", p.symbol) > limits.correlation_threshold
    ) + notional_value(EURUSD, decision.lots, entry)
    assert correlated <= limits.max_correlated_exposure * (1 + tolerance) + tolerance


class TestCircuitBreaker:
    def test_trips_on_daily_loss_and_stays_tripped(self) -> None:
        breaker = CircuitBreaker(5.0, 10.0)
        assert breaker.update(96_000, 100_000, 100_000) is None
        reason = breaker.update(95_000, 100_000, 100_000)
        assert reason == (
            "daily loss 5.00% reached the limit 5% (equity 95000.00, day start 100000.00)"
        )
        assert breaker.update(99_000, 100_000, 100_000) == reason
        assert breaker.is_tripped and breaker.tripped_kind == "daily_loss"

    def test_new_day_clears_a_daily_loss_trip(self) -> None:
        breaker = CircuitBreaker(5.0, 10.0)
        breaker.update(94_000, 100_000, 100_000)
        breaker.reset_for_new_day()
        assert not breaker.is_tripped

    def test_drawdown_trip_survives_a_new_day(self) -> None:
        breaker = CircuitBreaker(5.0, 10.0)
        reason = breaker.update(108_000, 110_000, 120_000)
        assert reason is not None and reason.startswith("drawdown 10.00% reached the limit 10%")
        breaker.reset_for_new_day()
        assert breaker.tripped_reason == reason
        breaker.reset()
        assert breaker.tripped_reason is None

    @settings(max_examples=200, deadline=None)
    @given(
        day_start=st.floats(min_value=100, max_value=1e9),
        limit_pct=st.floats(min_value=0.1, max_value=50),
    )
    def test_trips_at_exactly_the_configured_loss(self, day_start: float, limit_pct: float) -> None:
        below = CircuitBreaker(limit_pct, 100.0)
        assert below.update(day_start * (1 - limit_pct / 100 * 0.999), day_start, day_start) is None
        breaker = CircuitBreaker(limit_pct, 100.0)
        at_limit = day_start * (1 - limit_pct / 100)
        reason = breaker.update(at_limit, day_start, day_start)
        assert reason is not None and reason.startswith("daily loss")
        assert breaker.update(day_start * 2, day_start, day_start * 2) == reason
