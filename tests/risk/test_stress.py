"""Scenario stress tests: currency and symbol shocks on a portfolio."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainflow.risk.instruments import Instrument, Position
from chainflow.risk.stress import SCENARIOS, Scenario, stress_all, stress_portfolio

EURUSD = Instrument("EURUSD")
USDCHF = Instrument("USDCHF", quote_to_account=1 / 0.90)
EURCHF = Instrument("EURCHF", quote_to_account=1 / 0.90)
CHFJPY = Instrument("CHFJPY", price_digits=3, pip_size=0.01, quote_to_account=1 / 150.0)
US500 = Instrument("US500", contract_size=1, lot_step=0.1, min_lot=0.1)


class TestScenario:
    def test_base_currency_shock_raises_the_pair(self) -> None:
        assert Scenario("x", {"CHF": 0.15}).price_multiplier("CHFJPY") == pytest.approx(1.15)

    def test_quote_currency_shock_lowers_the_pair(self) -> None:
        assert Scenario("x", {"CHF": 0.15}).price_multiplier("USDCHF") == pytest.approx(1 / 1.15)

    def test_both_currencies_shocked(self) -> None:
        scenario = Scenario("x", {"EUR": 0.02, "USD": 0.03})
        assert scenario.price_multiplier("EURUSD") == pytest.approx(1.02 / 1.03)

    def test_untouched_pair_and_non_pair(self) -> None:
        scenario = Scenario("x", {"CHF": 0.15})
        assert scenario.price_multiplier("EURUSD") == 1.0
        assert scenario.price_multiplier("US500") == 1.0

    def test_symbol_shock_replaces_currency_shocks(self) -> None:
        scenario = Scenario("x", {"USD": 0.03, "eurusd": -0.05})
        assert scenario.price_multiplier("EURUSD") == pytest.approx(0.95)

    def test_shock_of_minus_one_or_less_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected a shock > -1 for CHF; received -1.0"):
            Scenario("x", {"CHF": -1.0})

    def test_built_in_scenarios(self) -> None:
        assert SCENARIOS["SNB 2015"].shocks == {"CHF": 0.15}
        assert SCENARIOS["USD rally"].shocks == {"USD": 0.03}
        assert all(name == scenario.name for name, scenario in SCENARIOS.items())


class TestStressPortfolio:
    def test_snb_2015_on_a_short_chf_book(self) -> None:
        positions = [
            Position("EURCHF", 2.0, 1.2010, EURCHF),  # long EURCHF: short CHF
            Position("USDCHF", -1.0, 1.0200, USDCHF),  # short USDCHF: long CHF
        ]
        prices = {"EURCHF": 1.2000, "USDCHF": 1.0150}
        result = stress_portfolio(positions, prices, SCENARIOS["SNB 2015"])
        eurchf, usdchf = result.positions
        assert eurchf.shocked_price == pytest.approx(1.2 / 1.15)
        # 2 lots x 100 000 x (1.2/1.15 − 1.2) CHF, at 1/0.90 USD per CHF.
        assert eurchf.pnl == pytest.approx(2 * 100_000 * (1.2 / 1.15 - 1.2) / 0.90)
        assert eurchf.pnl < 0 < usdchf.pnl
        assert result.total_pnl == pytest.approx(eurchf.pnl + usdchf.pnl)
        assert result.scenario == "SNB 2015"

    def test_usd_rally_hurts_long_eurusd(self) -> None:
        result = stress_portfolio(
            [Position("EURUSD", 1.0, 1.10, EURUSD)], {"EURUSD": 1.10}, SCENARIOS["USD rally"]
        )
        assert result.total_pnl == pytest.approx(100_000 * (1.10 / 1.03 - 1.10))

    def test_missing_price_falls_back_to_entry(self) -> None:
        result = stress_portfolio(
            [Position("US500", 3.0, 5000.0, US500)], {}, Scenario("crash", {"US500": -0.1})
        )
        assert result.total_pnl == pytest.approx(-1500.0)

    def test_pnl_by_symbol_sums_positions(self) -> None:
        positions = [Position("EURUSD", 1.0, 1.1, EURUSD), Position("EURUSD", 0.5, 1.2, EURUSD)]
        result = stress_portfolio(positions, {"EURUSD": 1.1}, Scenario("x", {"EUR": 0.01}))
        assert result.pnl_by_symbol["EURUSD"] == pytest.approx(1.5 * 100_000 * 0.011)

    def test_stress_all_orders_worst_first(self) -> None:
        results = stress_all([Position("USDCHF", 1.0, 0.9, USDCHF)], {"USDCHF": 0.9})
        totals = [result.total_pnl for result in results]
        assert totals == sorted(totals)
        assert results[0].scenario == "SNB 2015"

    @settings(max_examples=100, deadline=None)
    @given(
        lots=st.floats(min_value=0.01, max_value=50),
        shock=st.floats(min_value=-0.5, max_value=0.5),
        price=st.floats(min_value=0.5, max_value=2.0),
    )
    def test_long_and_short_are_mirror_images(
        self, lots: float, shock: float, price: float
    ) -> None:
        scenario = Scenario("x", {"EUR": shock})
        long = stress_portfolio([Position("EURUSD", lots, price, EURUSD)], {}, scenario)
        short = stress_portfolio([Position("EURUSD", -lots, price, EURUSD)], {}, scenario)
        assert long.total_pnl == pytest.approx(-short.total_pnl)
        assert (long.total_pnl > 0) == (shock > 0) or shock == 0 or long.total_pnl == 0
