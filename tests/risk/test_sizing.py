"""Position sizing: fixed fractional, volatility target, Kelly, risk parity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainflow.risk.instruments import Instrument
from chainflow.risk.sizing import (
    equal_risk_contribution_weights,
    fixed_fractional,
    inverse_volatility_weights,
    kelly_fraction,
    risk_contributions,
    risk_parity_weights,
    volatility_target,
)

EURUSD = Instrument("EURUSD")
USDJPY = Instrument("USDJPY", price_digits=3, pip_size=0.01, quote_to_account=1 / 150.0)

EQUITIES = st.floats(min_value=100, max_value=10_000_000)
FRACTIONS = st.floats(min_value=0.0001, max_value=0.05)
STOP_DISTANCES = st.floats(min_value=0.0001, max_value=0.05)


class TestFixedFractional:
    def test_one_percent_of_ten_thousand_with_a_twenty_pip_stop(self) -> None:
        # Risk 100 USD; 20 pips on 1 lot is 200 USD, so 0.5 lots.
        result = fixed_fractional(10_000, 0.01, 1.1000, 1.0980, EURUSD)
        assert result.lots == 0.5
        assert result.risk_amount == pytest.approx(100.0)
        assert result.reasons == ()

    def test_rounds_down_and_says_so(self) -> None:
        # Risk 100 USD over 30 pips: 0.3333 lots, rounded down to 0.33.
        result = fixed_fractional(10_000, 0.01, 1.1000, 1.0970, EURUSD)
        assert result.lots == 0.33
        assert result.unrounded_lots == pytest.approx(1 / 3)
        assert result.risk_amount == pytest.approx(99.0)
        assert result.reasons == ("rounded down to 0.33 lots (lot step 0.01)",)

    def test_short_with_stop_above_entry(self) -> None:
        assert fixed_fractional(10_000, 0.01, 1.0980, 1.1000, EURUSD).lots == 0.5

    def test_jpy_quoted_converts_to_account_currency(self) -> None:
        # 50 pips on USDJPY at 150: 0.5 JPY x 100 000 / 150 = 333.33 USD per lot.
        result = fixed_fractional(10_000, 0.02, 150.00, 149.50, USDJPY)
        assert result.lots == 0.6
        assert result.risk_amount == pytest.approx(200.0)

    def test_capped_at_max_lot(self) -> None:
        result = fixed_fractional(100_000_000, 0.02, 1.1000, 1.0990, EURUSD)
        assert result.lots == 100.0
        assert result.reasons == ("capped at max lot 100 (wanted 20000 lots)",)

    def test_below_min_lot_is_zero_with_reason(self) -> None:
        result = fixed_fractional(100, 0.01, 1.1000, 1.0900, EURUSD)
        assert result.lots == 0.0
        assert result.reasons == ("below min lot 0.01 (wanted 0.001 lots); no position",)

    def test_zero_stop_distance_is_a_value(self) -> None:
        result = fixed_fractional(10_000, 0.01, 1.1, 1.1, EURUSD)
        assert (result.lots, result.reasons) == (0.0, ("stop equals entry; cannot size",))

    def test_no_equity_is_a_value(self) -> None:
        assert fixed_fractional(-5, 0.01, 1.1, 1.09, EURUSD).lots == 0.0

    def test_risk_fraction_out_of_range_is_rejected(self) -> None:
        with pytest.raises(ValueError, match=r"expected risk_fraction in \[0, 1\]; received 1.5"):
            fixed_fractional(10_000, 1.5, 1.1, 1.09, EURUSD)

    @settings(max_examples=150, deadline=None)
    @given(
        equity=EQUITIES,
        fraction=FRACTIONS,
        distance=STOP_DISTANCES,
        multiplier=st.floats(min_value=0.1, max_value=10),
    )
    def test_unrounded_lots_scale_linearly_with_the_budget(
        self, equity: float, fraction: float, distance: float, multiplier: float
    ) -> None:
        base = fixed_fractional(equity, fraction / 10, 1.2, 1.2 - distance, EURUSD)
        scaled = fixed_fractional(equity, fraction / 10 * multiplier, 1.2, 1.2 - distance, EURUSD)
        assert scaled.unrounded_lots == pytest.approx(base.unrounded_lots * multiplier, rel=1e-9)

    @settings(max_examples=150, deadline=None)
    @given(equity=EQUITIES, fraction=FRACTIONS, distance=STOP_DISTANCES)
    def test_never_exceeds_the_budget_or_max_lot(
        self, equity: float, fraction: float, distance: float
    ) -> None:
        result = fixed_fractional(equity, fraction, 1.2, 1.2 + distance, EURUSD)
        assert 0 <= result.lots <= EURUSD.max_lot
        assert result.lots <= result.unrounded_lots * (1 + 1e-9)
        assert result.risk_amount <= equity * fraction * (1 + 1e-9)


class TestVolatilityTarget:
    def test_one_atr_moves_the_target_fraction(self) -> None:
        # ATR 0.0050 on 1 lot = 500 USD; target 1 % of 50 000 = 500 USD, so 1 lot.
        result = volatility_target(50_000, 0.01, 0.0050, 1.1000, EURUSD)
        assert result.lots == 1.0
        assert result.risk_amount == pytest.approx(500.0)

    def test_zero_atr_is_a_value(self) -> None:
        result = volatility_target(50_000, 0.01, 0.0, 1.1, EURUSD)
        assert result.lots == 0.0
        assert result.reasons == ("ATR is zero; cannot size by volatility",)

    @settings(max_examples=100, deadline=None)
    @given(equity=EQUITIES, target=FRACTIONS, atr=STOP_DISTANCES)
    def test_never_exceeds_target_or_max_lot(
        self, equity: float, target: float, atr: float
    ) -> None:
        result = volatility_target(equity, target, atr, 1.2, EURUSD)
        assert 0 <= result.lots <= EURUSD.max_lot
        assert result.risk_amount <= equity * target * (1 + 1e-9)


class TestKellyFraction:
    def test_half_kelly_of_a_coin_with_two_to_one_payoff(self) -> None:
        # f* = 0.5 - 0.5 / 2 = 0.25; half Kelly 0.125.
        assert kelly_fraction(0.5, 2.0) == pytest.approx(0.125)

    def test_capped(self) -> None:
        assert kelly_fraction(0.9, 3.0, fraction=1.0) == 0.25

    def test_probability_out_of_range_is_rejected(self) -> None:
        with pytest.raises(ValueError, match=r"expected p_win in \[0, 1\]; received 1.2"):
            kelly_fraction(1.2, 1.0)

    @settings(max_examples=150, deadline=None)
    @given(
        p_win=st.floats(min_value=0, max_value=1), payoff=st.floats(min_value=0.01, max_value=100)
    )
    def test_zero_without_edge_and_bounded_by_cap(self, p_win: float, payoff: float) -> None:
        result = kelly_fraction(p_win, payoff)
        if p_win * payoff - (1 - p_win) <= 0:
            assert result == 0.0
        assert 0.0 <= result <= 0.25


class TestRiskParity:
    def test_inverse_volatility(self) -> None:
        weights = inverse_volatility_weights([0.1, 0.2, 0.4])
        np.testing.assert_allclose(weights, [4 / 7, 2 / 7, 1 / 7])

    def test_diagonal_covariance_equals_inverse_volatility(self) -> None:
        vols = np.array([0.1, 0.2, 0.4])
        np.testing.assert_allclose(
            risk_parity_weights(np.diag(vols**2)), risk_parity_weights(vols), rtol=1e-8
        )

    def test_two_correlated_assets_have_equal_contributions(self) -> None:
        # For two assets ERC is inverse-vol whatever the correlation: 0.6 / 0.4.
        cov = np.array([[0.04, 0.01], [0.01, 0.09]])
        weights = equal_risk_contribution_weights(cov)
        np.testing.assert_allclose(weights, [0.6, 0.4], rtol=1e-8)
        np.testing.assert_allclose(risk_contributions(weights, cov), [0.5, 0.5], rtol=1e-8)

    def test_three_correlated_assets_have_equal_contributions(self) -> None:
        vols = np.array([0.1, 0.15, 0.3])
        corr = np.array([[1.0, 0.8, 0.2], [0.8, 1.0, 0.3], [0.2, 0.3, 1.0]])
        cov = corr * np.outer(vols, vols)
        weights = equal_risk_contribution_weights(cov)
        assert weights.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(risk_contributions(weights, cov), [1 / 3] * 3, rtol=1e-6)
        # Correlation moves weight away from plain inverse-vol.
        assert not np.allclose(weights, inverse_volatility_weights(vols), rtol=1e-3)

    def test_asymmetric_covariance_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected a symmetric covariance matrix"):
            risk_parity_weights([[0.04, 0.02], [0.01, 0.09]])

    def test_non_positive_volatility_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected finite positive volatilities"):
            risk_parity_weights([0.1, 0.0])

    @settings(max_examples=60, deadline=None)
    @given(
        vols=st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=2, max_size=5),
        rho=st.floats(min_value=-0.2, max_value=0.9),
    )
    def test_contributions_are_equal_for_any_constant_correlation(
        self, vols: list[float], rho: float
    ) -> None:
        n = len(vols)
        assume(rho > -1 / (n - 1) + 0.05)
        corr = np.full((n, n), rho) + (1 - rho) * np.eye(n)
        cov = corr * np.outer(vols, vols)
        weights = equal_risk_contribution_weights(cov)
        assert np.all(weights > 0)
        np.testing.assert_allclose(risk_contributions(weights, cov), [1 / n] * n, rtol=1e-6)
