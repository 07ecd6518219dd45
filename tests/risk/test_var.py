"""VaR and CVaR: historical, parametric (normal) and Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from chainflow.risk.var import (
    compute_historical_var,
    compute_monte_carlo_var,
    compute_parametric_var,
)

VALUES = np.array([100_000.0, -50_000.0])
COVARIANCE = np.array([[0.0001, 0.00003], [0.00003, 0.0004]])

CONFIDENCE_PAIRS = st.tuples(
    st.floats(min_value=0.5, max_value=0.999), st.floats(min_value=0.5, max_value=0.999)
).map(sorted)
PNL_SERIES = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=200
)


class TestHistoricalVar:
    def test_hundred_losses_hand_computed(self) -> None:
        # Losses 1..100: the 95 % quantile (linear) is 95.05; the tail is 96..100, mean 98.
        pnl = -np.arange(1.0, 101.0)
        result = compute_historical_var(pnl, 0.95)
        assert result.var == pytest.approx(95.05)
        assert result.cvar == pytest.approx(98.0)
        assert result.method == "historical"

    def test_gains_give_a_negative_var(self) -> None:
        result = compute_historical_var([10.0, 20.0, 30.0], 0.5)
        assert result.var == pytest.approx(-20.0)

    @pytest.mark.parametrize("confidence", [0.0, 1.0, -0.1, 1.5, float("nan")])
    def test_confidence_outside_open_unit_interval_is_rejected(self, confidence: float) -> None:
        with pytest.raises(ValueError, match=r"expected confidence in \(0, 1\)"):
            compute_historical_var([1.0, -1.0], confidence)

    def test_empty_series_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected at least one P&L value; received none"):
            compute_historical_var([], 0.95)

    def test_nan_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected finite P&L values"):
            compute_historical_var([1.0, float("nan")], 0.95)

    @settings(max_examples=150, deadline=None)
    @given(pnl=PNL_SERIES, confidences=CONFIDENCE_PAIRS)
    def test_monotone_in_confidence_and_cvar_at_least_var(
        self, pnl: list[float], confidences: list[float]
    ) -> None:
        low, high = (compute_historical_var(pnl, c) for c in confidences)
        assert low.var <= high.var + 1e-9
        assert low.cvar <= high.cvar + 1e-6
        assert high.cvar >= high.var - 1e-9
        assert low.cvar >= low.var - 1e-9


class TestParametricVar:
    def test_single_position_is_z_sigma(self) -> None:
        # 1 000 000 with 1 % daily vol: 99 % VaR = 2.3263 x 10 000.
        result = compute_parametric_var([1_000_000.0], [[0.0001]], 0.99)
        assert result.var == pytest.approx(23_263.48, abs=0.01)
        assert result.cvar == pytest.approx(10_000 * norm.pdf(norm.ppf(0.99)) / 0.01)
        assert result.cvar == pytest.approx(26_652.14, abs=0.01)

    def test_portfolio_sigma_uses_the_covariance(self) -> None:
        # v'Σv = 1e10·1e-4 − 2·5e9·3e-5 + 2.5e9·4e-4 = 1e6 − 3e5 + 1e6 = 1.7e6.
        result = compute_parametric_var(VALUES, COVARIANCE, 0.95)
        assert result.var == pytest.approx(norm.ppf(0.95) * np.sqrt(1.7e6))

    def test_mean_return_reduces_var(self) -> None:
        result = compute_parametric_var([1_000_000.0], [[0.0001]], 0.99, mean_returns=[0.001])
        assert result.var == pytest.approx(23_263.48 - 1_000, abs=0.01)

    def test_shape_mismatch_is_rejected(self) -> None:
        with pytest.raises(ValueError, match=r"expected a covariance of shape \(2, 2\)"):
            compute_parametric_var(VALUES, [[0.0001]], 0.95)

    def test_empty_portfolio_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected a non-empty 1-D array of position values"):
            compute_parametric_var([], [], 0.95)

    def test_bad_confidence_is_rejected(self) -> None:
        with pytest.raises(ValueError, match=r"expected confidence in \(0, 1\); received 1"):
            compute_parametric_var(VALUES, COVARIANCE, 1)

    @settings(max_examples=100, deadline=None)
    @given(confidences=CONFIDENCE_PAIRS, scale=st.floats(min_value=0.01, max_value=100))
    def test_monotone_in_confidence_and_cvar_at_least_var(
        self, confidences: list[float], scale: float
    ) -> None:
        low, high = (compute_parametric_var(VALUES * scale, COVARIANCE, c) for c in confidences)
        assert low.var <= high.var
        assert low.cvar <= high.cvar
        assert high.cvar >= high.var and low.cvar >= low.var


class TestMonteCarloVar:
    def test_converges_to_parametric(self) -> None:
        parametric = compute_parametric_var(VALUES, COVARIANCE, 0.99)
        simulated = compute_monte_carlo_var(VALUES, COVARIANCE, 0.99, paths=100_000, seed=7)
        assert simulated.var == pytest.approx(parametric.var, rel=0.03)
        assert simulated.cvar == pytest.approx(parametric.cvar, rel=0.03)

    def test_same_seed_same_answer(self) -> None:
        first = compute_monte_carlo_var(VALUES, COVARIANCE, 0.95, paths=2_000, seed=3)
        second = compute_monte_carlo_var(VALUES, COVARIANCE, 0.95, paths=2_000, seed=3)
        assert first == second

    def test_zero_paths_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected paths >= 1; received 0"):
            compute_monte_carlo_var(VALUES, COVARIANCE, 0.95, paths=0)

    @settings(max_examples=40, deadline=None)
    @given(confidences=CONFIDENCE_PAIRS, seed=st.integers(min_value=0, max_value=2**32 - 1))
    def test_monotone_in_confidence_with_the_same_seed(
        self, confidences: list[float], seed: int
    ) -> None:
        low, high = (
            compute_monte_carlo_var(VALUES, COVARIANCE, c, paths=2_000, seed=seed)
            for c in confidences
        )
        assert low.var <= high.var
        assert low.cvar <= high.cvar + 1e-9
        assert high.cvar >= high.var and low.cvar >= low.var
