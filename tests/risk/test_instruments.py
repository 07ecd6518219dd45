"""Instrument validation, currency pairs, lot rounding and position values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainflow.risk.instruments import (
    Instrument,
    Position,
    currency_pair,
    lot_steps,
    notional_value,
    pip_value,
    round_lots,
    value_per_price_unit,
)

EURUSD = Instrument("EURUSD")
USDJPY = Instrument("USDJPY", price_digits=3, pip_size=0.01, quote_to_account=1 / 150.0)
COARSE = Instrument("US500", contract_size=1, lot_step=0.1, min_lot=0.5, max_lot=50.0)

LOT_STEPS = st.sampled_from([0.01, 0.05, 0.1, 0.5, 1.0, 0.001])
SIZES = st.floats(min_value=0, max_value=500, allow_nan=False, allow_infinity=False)


class TestInstrument:
    def test_defaults_are_a_standard_fx_lot(self) -> None:
        assert (EURUSD.contract_size, EURUSD.lot_step, EURUSD.min_lot, EURUSD.max_lot) == (
            100_000,
            0.01,
            0.01,
            100.0,
        )

    def test_currencies_of_a_broker_symbol(self) -> None:
        instrument = Instrument("eurusd.a")
        assert (instrument.base_currency, instrument.quote_currency) == ("EUR", "USD")

    def test_non_pair_has_no_currencies(self) -> None:
        assert COARSE.base_currency is None
        assert currency_pair("BTC-PERP") is None

    @pytest.mark.parametrize(
        "field", ["contract_size", "lot_step", "min_lot", "max_lot", "pip_size", "quote_to_account"]
    )
    def test_non_positive_field_is_rejected(self, field: str) -> None:
        with pytest.raises(ValueError, match=f"expected {field} > 0; received 0"):
            Instrument("EURUSD", **{field: 0})

    def test_min_above_max_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected min_lot <= max_lot"):
            Instrument("EURUSD", min_lot=2, max_lot=1)

    def test_position_rejects_non_positive_entry(self) -> None:
        with pytest.raises(ValueError, match="expected entry_price > 0"):
            Position("EURUSD", 1.0, 0.0, EURUSD)


class TestRoundLots:
    @pytest.mark.parametrize(
        ("lots", "expected"),
        [
            (0.129, 0.12),
            (0.29, 0.29),  # 0.29 / 0.01 is 28.999999999999996 in floats
            (0.5700000001, 0.57),
            (0.009, 0.0),  # below min lot
            (250.0, 100.0),  # capped at max lot
            (0.0, 0.0),
            (-0.127, -0.12),  # towards zero, sign kept
        ],
    )
    def test_rounds_down_to_step_within_bounds(self, lots: float, expected: float) -> None:
        assert round_lots(lots, EURUSD) == expected

    def test_coarse_step_and_minimum(self) -> None:
        assert round_lots(0.49, COARSE) == 0.0
        assert round_lots(0.79, COARSE) == 0.7
        assert round_lots(77.7, COARSE) == 50.0

    def test_nan_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected finite lots; received nan"):
            round_lots(float("nan"), EURUSD)

    def test_lot_steps_forgives_float_noise(self) -> None:
        assert lot_steps(0.29, EURUSD) == 29
        assert lot_steps(-0.57, EURUSD) == 57

    @settings(max_examples=200, deadline=None)
    @given(lots=SIZES, step=LOT_STEPS)
    def test_idempotent_and_never_rounds_up(self, lots: float, step: float) -> None:
        instrument = Instrument("EURUSD", lot_step=step, min_lot=step, max_lot=100.0)
        rounded = round_lots(lots, instrument)
        assert round_lots(rounded, instrument) == rounded
        assert rounded <= lots + step * 1e-9
        assert rounded <= instrument.max_lot
        assert rounded == 0 or rounded >= instrument.min_lot
        # A whole number of steps, exactly as its decimal representation.
        assert rounded == round(round(rounded / step) * step, 6)

    @settings(max_examples=100, deadline=None)
    @given(lots=SIZES)
    def test_loses_less_than_one_step(self, lots: float) -> None:
        rounded = round_lots(lots, EURUSD)
        if EURUSD.min_lot <= lots <= EURUSD.max_lot:
            assert lots - rounded < EURUSD.lot_step + 1e-12


class TestValues:
    def test_value_per_price_unit_of_one_eurusd_lot(self) -> None:
        assert value_per_price_unit(EURUSD, 1.0) == 100_000
        assert pip_value(EURUSD, 1.0) == pytest.approx(10.0)

    def test_jpy_quoted_pip_value_in_usd(self) -> None:
        # 1 lot USDJPY at 150: a pip is 0.01 JPY x 100 000 = 1 000 JPY = 6.67 USD.
        assert pip_value(USDJPY, 1.0) == pytest.approx(1000 / 150)

    def test_short_value_is_negative_and_notional_is_not(self) -> None:
        assert value_per_price_unit(EURUSD, -2.0) == -200_000
        assert notional_value(EURUSD, -2.0, 1.1) == pytest.approx(220_000)
