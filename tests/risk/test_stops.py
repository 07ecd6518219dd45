"""ATR and structure stops."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainflow.risk.stops import atr_stops, structure_stop


class TestAtrStops:
    def test_buy_stop_below_take_profit_above(self) -> None:
        assert atr_stops("buy", 1.10000, 0.00200, price_digits=5) == (1.097, 1.106)

    def test_sell_mirrors_buy(self) -> None:
        assert atr_stops("sell", 1.10000, 0.00200, price_digits=5) == (1.103, 1.094)

    def test_rounded_to_price_digits(self) -> None:
        stop, take_profit = atr_stops(
            "buy", 150.123, 0.4567, stop_atr=2.0, take_profit_atr=2.5, price_digits=3
        )
        assert (stop, take_profit) == (149.21, 151.265)

    def test_no_take_profit(self) -> None:
        assert atr_stops("buy", 1.1, 0.002, take_profit_atr=None, price_digits=5)[1] is None

    def test_stop_at_or_below_zero_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected a stop above 0"):
            atr_stops("buy", 1.0, 1.0, price_digits=5)

    def test_bad_side_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected side 'buy' or 'sell'; received 'long'"):
            atr_stops("long", 1.0, 0.01, price_digits=5)  # type: ignore[arg-type]

    def test_non_positive_atr_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected atr > 0; received 0"):
            atr_stops("buy", 1.0, 0.0, price_digits=5)

    @settings(max_examples=150, deadline=None)
    @given(
        entry=st.floats(min_value=0.5, max_value=2.0),
        atr=st.floats(min_value=0.0001, max_value=0.05),
        side=st.sampled_from(["buy", "sell"]),
    )
    def test_levels_are_on_the_right_side(self, entry: float, atr: float, side: str) -> None:
        stop, take_profit = atr_stops(side, entry, atr, price_digits=5)  # type: ignore[arg-type]
        assert take_profit is not None
        direction = 1 if side == "buy" else -1
        assert direction * (entry - stop) >= 1.5 * atr - 1e-5
        assert direction * (take_profit - entry) >= 3.0 * atr - 1e-5
        assert round(stop, 5) == stop and round(take_profit, 5) == take_profit


class TestStructureStop:
    def test_buy_below_the_swing_low(self) -> None:
        assert structure_stop("buy", 1.1000, 1.0950, 0.0005) == 1.0945

    def test_sell_above_the_swing_high(self) -> None:
        assert structure_stop("sell", 1.1000, 1.1040, 0.0005) == 1.1045

    def test_swing_on_the_wrong_side_gives_no_stop(self) -> None:
        assert structure_stop("buy", 1.1000, 1.1010, 0.0005) is None
        assert structure_stop("sell", 1.1000, 1.1000, 0.0005) is None

    def test_negative_buffer_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected buffer >= 0; received -0.1"):
            structure_stop("buy", 1.1, 1.0, -0.1)
