"""Execution planning: order type, limit price, slippage, avoidance windows, spread median."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from chainflow.core.errors import InvalidInput
from chainflow.core.settings import TradingSettings, parse_hour_ranges
from chainflow.trading.decision.execution_plan import (
    NO_ORDER,
    ExecutionPlan,
    SpreadTracker,
    is_in_rollover_window,
    plan_execution,
    thin_hour_range_at,
)
from chainflow.trading.paper.positions import PaperInstrument

EURUSD = PaperInstrument("EURUSD")
USDJPY = PaperInstrument("USDJPY", price_digits=3, pip_size=0.01, quote_to_account=1 / 150.0)
MEDIAN = 0.0001  # 10 points of EURUSD


def at(hour: int, minute: int = 0, second: int = 0) -> int:
    """Return epoch ms on Tuesday 2024-03-05 at the given UTC time."""
    moment = datetime(2024, 3, 5, hour, minute, second, tzinfo=UTC)
    return int(moment.timestamp() * 1000)


NOON = at(12)


def settings(**overrides: Any) -> TradingSettings:
    return TradingSettings(**overrides)


def plan(
    action: str = "buy",
    *,
    bid: float = 1.1,
    ask: float = 1.10014,
    ts: int = NOON,
    median: float | None = MEDIAN,
    instrument: Any = EURUSD,
    is_exit: bool = False,
    **overrides: Any,
) -> ExecutionPlan:
    return plan_execution(
        action,
        bid=bid,
        ask=ask,
        ts=ts,
        spread_median=median,
        instrument=instrument,
        settings=settings(**overrides),
        is_exit=is_exit,
    )


class TestPlanExecutionMarket:
    def test_hold_places_no_order(self) -> None:
        result = plan("hold")
        assert result == NO_ORDER
        assert result.order_type == "none" and result.avoid is None and result.reasons == ()
        assert not result.places_order

    def test_unknown_action_is_invalid_input(self) -> None:
        with pytest.raises(InvalidInput, match="expected action buy, sell or hold"):
            plan("short")

    def test_spread_below_limit_ratio_is_market_with_half_the_excess(self) -> None:
        # 14 points vs a median of 10: 1 base point + (14 - 10) / 2 = 3 points.
        result = plan("buy", bid=1.1, ask=1.10014)
        assert result.order_type == "market" and result.limit_price is None
        assert result.expected_slippage == pytest.approx(0.00003, abs=1e-12)
        assert result.expected_cost == 3.0  # 0.00003 * 100_000 * 1.0
        assert result.avoid is None and result.places_order
        assert result.reasons == (
            "spread 14.0 points, 1.4× its median of 10.0: market buy",
            "expected slippage 3.0 points (1.0 base + half the 4.0-point excess over the median)",
        )

    def test_spread_below_median_costs_only_the_base(self) -> None:
        result = plan("sell", bid=1.1, ask=1.10008)
        assert result.order_type == "market"
        assert result.expected_slippage == pytest.approx(0.00001, abs=1e-12)
        assert result.expected_cost == 1.0
        assert result.reasons[-1] == "expected slippage 1.0 points"

    def test_spread_exactly_at_limit_ratio_stays_market(self) -> None:
        result = plan("buy", bid=1.1, ask=1.10015)
        assert result.order_type == "market"
        assert result.expected_slippage == pytest.approx(0.000035, abs=1e-12)

    def test_base_points_are_configurable(self) -> None:
        result = plan("buy", bid=1.1, ask=1.10014, slippage_base_points=0.0)
        assert result.expected_slippage == pytest.approx(0.00002, abs=1e-12)

    def test_limit_entry_off_goes_market_on_a_wide_spread(self) -> None:
        # 25 points, 2.5x: 1 + 15 / 2 = 8.5 points.
        result = plan("buy", bid=1.1, ask=1.10025, limit_entry=False)
        assert result.order_type == "market"
        assert result.expected_slippage == pytest.approx(0.000085, abs=1e-12)
        assert result.expected_cost == 8.5

    def test_unknown_median_is_market_with_the_base_only(self) -> None:
        for median in (None, 0.0):
            result = plan("buy", bid=1.1, ask=1.10014, median=median)
            assert result.order_type == "market"
            assert result.expected_slippage == pytest.approx(0.00001, abs=1e-12)
            assert result.reasons == (
                "spread 14.0 points, no median yet: market buy",
                "expected slippage 1.0 points",
            )

    def test_instrument_without_contract_has_no_cost(self) -> None:
        @dataclass(frozen=True)
        class Digits:
            price_digits: int

        result = plan("buy", instrument=Digits(5))
        assert result.expected_cost is None
        assert result.expected_slippage == pytest.approx(0.00003, abs=1e-12)


class TestPlanExecutionLimit:
    def test_buy_limit_is_half_a_spread_inside_the_ask_rounded_down(self) -> None:
        # 25 points, 2.5x: 1.10025 - 0.000125 = 1.100125, rounded down to 1.10012.
        result = plan("buy", bid=1.1, ask=1.10025)
        assert result.order_type == "limit" and result.limit_price == 1.10012
        assert result.expected_slippage == 0.0 and result.expected_cost == 0.0
        assert result.avoid is None and result.places_order
        assert result.reasons == (
            "spread 25.0 points, 2.5× its median of 10.0: buy limit 1.10012, "
            "13.0 points inside the ask",
        )

    def test_sell_limit_is_half_a_spread_inside_the_bid_rounded_up(self) -> None:
        result = plan("sell", bid=1.1, ask=1.10025)
        assert result.order_type == "limit" and result.limit_price == 1.10013
        assert result.reasons == (
            "spread 25.0 points, 2.5× its median of 10.0: sell limit 1.10013, "
            "13.0 points inside the bid",
        )

    def test_three_digit_symbol_rounds_to_its_digits(self) -> None:
        # 9 points vs 4: 150.009 - 0.0045 = 150.0045 -> 150.004; 150.000 + 0.0045 -> 150.005.
        kwargs: dict[str, Any] = {"bid": 150.0, "ask": 150.009, "median": 0.004}
        buy = plan("buy", instrument=USDJPY, **kwargs)
        sell = plan("sell", instrument=USDJPY, **kwargs)
        assert (buy.limit_price, sell.limit_price) == (150.004, 150.005)
        assert buy.reasons[0].endswith("buy limit 150.004, 5.0 points inside the ask")

    def test_full_spread_offset_joins_the_far_side_and_never_crosses(self) -> None:
        buy = plan("buy", bid=1.1, ask=1.10025, limit_offset_spreads=1.0)
        sell = plan("sell", bid=1.1, ask=1.10025, limit_offset_spreads=1.0)
        assert (buy.limit_price, sell.limit_price) == (1.1, 1.10025)

    def test_one_point_spread_rounds_to_the_touch_of_the_other_side(self) -> None:
        # Spread 0.00003 vs median 0.00001 (3x): buy 1.100015 -> 1.10001; sell -> 1.10002.
        kwargs: dict[str, Any] = {"bid": 1.1, "ask": 1.10003, "median": 0.00001}
        assert plan("buy", **kwargs).limit_price == 1.10001
        assert plan("sell", **kwargs).limit_price == 1.10002

    def test_spread_exactly_at_the_refusal_ratio_is_still_a_limit(self) -> None:
        result = plan("buy", bid=1.1, ask=1.1003)
        assert result.order_type == "limit" and result.limit_price == 1.10015


class TestPlanExecutionAvoid:
    def test_spread_above_the_refusal_ratio_is_avoided(self) -> None:
        result = plan("buy", bid=1.1, ask=1.10034)
        assert result.avoid == "spread 34.0 points, 3.4× its median of 10.0: no entry"
        assert result.reasons == (result.avoid,)
        assert result.order_type == "none" and not result.places_order

    @pytest.mark.parametrize(
        ("hour", "minute", "second", "avoided"),
        [(20, 49, 59, False), (20, 50, 0, True), (21, 9, 59, True), (21, 10, 0, False)],
    )
    def test_rollover_window_edges(
        self, hour: int, minute: int, second: int, avoided: bool
    ) -> None:
        result = plan("buy", ts=at(hour, minute, second), thin_hours_utc="")
        assert (result.avoid is not None) is avoided
        assert result.order_type == ("none" if avoided else "market")

    def test_rollover_reason_names_the_time_and_window(self) -> None:
        result = plan("sell", ts=at(20, 50), thin_hours_utc="")
        assert result.avoid == "20:50 UTC is within 10 min of the 21:00 UTC rollover: no entry"

    def test_rollover_window_wraps_midnight(self) -> None:
        assert is_in_rollover_window(at(23, 55), 0, 10)
        assert is_in_rollover_window(at(0, 9, 59), 0, 10)
        assert not is_in_rollover_window(at(0, 10), 0, 10)
        assert not is_in_rollover_window(at(23, 49, 59), 0, 10)

    def test_zero_rollover_minutes_disables_the_window(self) -> None:
        assert not is_in_rollover_window(at(21), 21, 0)
        assert plan("buy", ts=at(21), thin_hours_utc="", avoid_rollover_minutes=0).places_order

    @pytest.mark.parametrize(
        ("hour", "minute", "second", "avoided"),
        [(20, 59, 59, False), (21, 0, 0, True), (22, 59, 59, True), (23, 0, 0, False)],
    )
    def test_thin_hours_edges(self, hour: int, minute: int, second: int, avoided: bool) -> None:
        result = plan("buy", ts=at(hour, minute, second), avoid_rollover_minutes=0)
        assert (result.avoid is not None) is avoided

    def test_thin_hours_reason_names_the_range(self) -> None:
        result = plan("buy", ts=at(22, 30), avoid_rollover_minutes=0)
        assert result.avoid == "22:30 UTC is in the thin-liquidity hours 21:00-23:00 UTC: no entry"

    def test_thin_hours_wrap_midnight(self) -> None:
        ranges = parse_hour_ranges("22-2")
        assert thin_hour_range_at(at(1, 59, 59), ranges) == (22, 2)
        assert thin_hour_range_at(at(22), ranges) == (22, 2)
        assert thin_hour_range_at(at(2), ranges) is None
        assert thin_hour_range_at(at(21, 59, 59), ranges) is None

    def test_rollover_is_checked_before_thin_hours(self) -> None:
        result = plan("buy", ts=at(21, 5))
        assert result.avoid is not None and "rollover" in result.avoid

    def test_invalid_quote_is_avoided(self) -> None:
        crossed = plan("buy", bid=1.1001, ask=1.1)
        assert crossed.avoid == "no valid quote (bid 1.1001, ask 1.1): no entry"
        assert plan("sell", bid=float("nan"), ask=1.1).avoid is not None


class TestPlanExecutionExit:
    @pytest.mark.parametrize("ts", [at(20, 55), at(21, 30), NOON])
    def test_exit_is_never_avoided_and_goes_at_market(self, ts: int) -> None:
        # Inside rollover / thin hours, and a spread 5x its median: 1 + 40 / 2 = 21 points.
        result = plan("sell", bid=1.1, ask=1.1005, ts=ts, is_exit=True)
        assert result.avoid is None and result.order_type == "market"
        assert result.expected_slippage == pytest.approx(0.00021, abs=1e-12)
        assert result.reasons[0] == "exit at market: never delayed"

    def test_exit_on_an_invalid_quote_still_goes_at_market(self) -> None:
        result = plan("buy", bid=1.1001, ask=1.1, is_exit=True)
        assert result.order_type == "market" and result.avoid is None
        assert result.expected_slippage == pytest.approx(0.00001, abs=1e-12)
        assert result.reasons[0] == "no valid quote (bid 1.1001, ask 1.1): exit at market"

    def test_hold_with_is_exit_still_places_no_order(self) -> None:
        assert plan("hold", is_exit=True) == NO_ORDER


class TestSpreadTracker:
    def test_median_is_none_until_min_count(self) -> None:
        tracker = SpreadTracker(window=5, min_count=3)
        tracker.update(1.1, 1.1001)
        tracker.update(1.1, 1.1003)
        assert tracker.count == 2 and tracker.median is None and tracker.mean is None
        tracker.update(1.1, 1.1002)
        assert tracker.is_ready
        assert tracker.median == pytest.approx(0.0002)
        assert tracker.mean == pytest.approx(0.0002)

    def test_even_count_median_is_the_middle_mean(self) -> None:
        tracker = SpreadTracker(window=4, min_count=1)
        for spread in (1.0, 4.0, 2.0, 10.0):
            tracker.update(100.0, 100.0 + spread)
        assert tracker.median == pytest.approx(3.0)

    def test_window_evicts_the_oldest(self) -> None:
        tracker = SpreadTracker(window=3, min_count=1)
        for spread in (9.0, 1.0, 2.0, 3.0):
            tracker.update(0.0, spread)
        assert tracker.count == 3
        assert tracker.median == 2.0 and tracker.mean == pytest.approx(2.0)

    def test_invalid_ticks_are_ignored(self) -> None:
        tracker = SpreadTracker(window=3, min_count=1)
        tracker.update(1.1, 1.0)
        tracker.update(float("nan"), 1.1)
        tracker.update(1.1, float("inf"))
        assert tracker.count == 0
        tracker.update(1.1, 1.1)
        assert tracker.median == 0.0

    def test_reset_empties_the_window(self) -> None:
        tracker = SpreadTracker(window=3, min_count=1)
        tracker.update(1.0, 1.5)
        tracker.reset()
        assert tracker.count == 0 and tracker.median is None

    @pytest.mark.parametrize("window", [1, 2, 7, 50, 500])
    def test_median_and_mean_match_numpy_over_random_windows(self, window: int) -> None:
        rng = random.Random(window)
        tracker = SpreadTracker(window=window, min_count=1)
        spreads: list[float] = []
        for _ in range(3 * window + 37):
            bid = round(rng.uniform(1.0, 1.2), 5)
            spread = round(rng.choice([rng.uniform(0, 0.0005), 0.0001, 0.00012]), 5)
            tracker.update(bid, bid + spread)
            spreads.append(bid + spread - bid)
            recent = spreads[-window:]
            assert tracker.median == float(np.median(recent))
            assert tracker.mean == pytest.approx(float(np.mean(recent)), rel=1e-9, abs=1e-15)

    def test_from_settings_uses_window_and_min_ticks(self) -> None:
        tracker = SpreadTracker.from_settings(settings(spread_window=50, spread_min_ticks=5))
        assert (tracker.window, tracker.min_count) == (50, 5)

    def test_bad_window_is_invalid_input(self) -> None:
        with pytest.raises(InvalidInput, match="received window=3, min_count=4"):
            SpreadTracker(window=3, min_count=4)


class TestSettings:
    def test_defaults(self) -> None:
        defaults = TradingSettings()
        assert defaults.limit_entry is True
        assert defaults.limit_offset_spreads == 0.5
        assert (defaults.limit_spread_ratio, defaults.max_spread_ratio) == (1.5, 3.0)
        assert (defaults.rollover_hour_utc, defaults.avoid_rollover_minutes) == (21, 10)
        assert defaults.thin_hour_ranges == ((21, 23),)
        assert (defaults.spread_window, defaults.spread_min_ticks) == (500, 20)

    def test_hour_ranges_parse_lists_singles_and_blanks(self) -> None:
        assert parse_hour_ranges("21-23, 5,22-2") == ((21, 23), (5, 6), (22, 2))
        assert parse_hour_ranges("") == ()
        assert parse_hour_ranges("0-24") == ((0, 24),)

    def test_environment_sets_thin_hours(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CHAINFLOW_TRADING_THIN_HOURS_UTC", "22-2,5")
        assert TradingSettings().thin_hour_ranges == ((22, 2), (5, 6))

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("21-x", "expected hour ranges like '21-23,5' (UTC hours 0..24); received '21-x'"),
            ("-3", "expected hour ranges like '21-23,5' (UTC hours 0..24); received '-3'"),
            ("24", "expected a range of UTC hours 0..24 with start != end; received '24'"),
            ("5-5", "expected a range of UTC hours 0..24 with start != end; received '5-5'"),
            ("21-25", "expected a range of UTC hours 0..24 with start != end; received '21-25'"),
        ],
    )
    def test_bad_thin_hours_are_refused(self, text: str, message: str) -> None:
        with pytest.raises(ValidationError, match="thin_hours_utc") as info:
            TradingSettings(thin_hours_utc=text)
        assert message in str(info.value)

    def test_limit_ratio_above_refusal_ratio_is_refused(self) -> None:
        with pytest.raises(ValidationError, match=r"received 4\.0 > 3\.0"):
            TradingSettings(limit_spread_ratio=4.0)

    def test_min_ticks_above_window_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="SPREAD_MIN_TICKS <= "):
            TradingSettings(spread_window=10, spread_min_ticks=11)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("limit_offset_spreads", 0.0),
            ("limit_offset_spreads", 1.5),
            ("max_spread_ratio", 0.5),
            ("avoid_rollover_minutes", -1),
            ("rollover_hour_utc", 24),
            ("slippage_base_points", -1.0),
        ],
    )
    def test_out_of_range_values_are_refused(self, field: str, value: float) -> None:
        with pytest.raises(ValidationError, match=field):
            TradingSettings(**{field: value})
