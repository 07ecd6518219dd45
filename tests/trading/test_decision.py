"""Decision synthesis: edge, thresholds per risk tolerance, regimes, patterns and gates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainflow.features.regimes import RegimeState, TrendRegime, VolatilityRegime
from chainflow.ml.events import PredictionMade
from chainflow.trading.decision.inputs import input_from_prediction
from chainflow.trading.decision.synthesis import (
    COMPARISON_EPSILON,
    DEFAULT_THRESHOLDS,
    DecisionInput,
    DecisionThresholds,
    TradingPreferences,
    synthesize,
    thresholds_for,
)
from chainflow.users.api import RiskTolerance
from chainflow.users.trading_rules import default_trading_settings

MODERATE = TradingPreferences("moderate")


def make_input(
    probabilities: tuple[float, float, float] = (0.21, 0.27, 0.52), **fields: object
) -> DecisionInput:
    values: dict[str, object] = {
        "symbol": "EURUSD",
        "ts": 1_700_000_000_000,
        "probabilities": probabilities,
        "model": "gbm@3",
    }
    values.update(fields)
    return DecisionInput(**values)  # type: ignore[arg-type]


class TestEdge:
    def test_clear_up_edge_buys_with_p_up_as_confidence(self) -> None:
        decision = synthesize(make_input(), MODERATE)
        assert decision.action == "buy"
        assert decision.confidence == pytest.approx(0.52)
        assert decision.edge == pytest.approx(0.31)
        assert decision.gate is None
        assert decision.reasons == (
            "p(up) 0.52 vs p(down) 0.21: edge 0.31 ≥ 0.25 (moderate)",
            "confidence 0.52 ≥ 0.45 (moderate)",
        )
        assert (decision.symbol, decision.ts, decision.model) == (
            "EURUSD",
            1_700_000_000_000,
            "gbm@3",
        )

    def test_clear_down_edge_sells_with_p_down_as_confidence(self) -> None:
        decision = synthesize(make_input((0.55, 0.25, 0.20)), MODERATE)
        assert decision.action == "sell"
        assert decision.confidence == pytest.approx(0.55)
        assert decision.edge == pytest.approx(-0.35)

    def test_small_edge_holds_naming_the_threshold(self) -> None:
        decision = synthesize(make_input((0.30, 0.30, 0.40)), MODERATE)
        assert decision.action == "hold"
        assert (
            decision.reasons[0] == "p(up) 0.40 vs p(down) 0.30: edge 0.10 < 0.25 (moderate): hold"
        )
        assert decision.confidence == pytest.approx(0.40)

    def test_flat_dominant_prediction_holds_on_low_confidence(self) -> None:
        decision = synthesize(make_input((0.05, 0.65, 0.30)), MODERATE)
        assert decision.action == "hold"
        assert decision.reasons[-1] == "confidence 0.30 < 0.45 (moderate): hold"

    def test_no_edge_holds(self) -> None:
        decision = synthesize(make_input((0.3, 0.4, 0.3)), MODERATE)
        assert decision.action == "hold"
        assert decision.confidence == 0.0
        assert decision.reasons == ("p(up) 0.30 vs p(down) 0.30: no edge: hold",)

    def test_risk_tolerances_differ_on_the_same_input(self) -> None:
        decision_input = make_input((0.22, 0.35, 0.43))
        actions = {
            tolerance: synthesize(decision_input, TradingPreferences(tolerance)).action  # type: ignore[arg-type]
            for tolerance in ("conservative", "moderate", "aggressive")
        }
        assert actions == {"conservative": "hold", "moderate": "hold", "aggressive": "buy"}

    def test_explicit_thresholds_override_the_tolerance_defaults(self) -> None:
        strict = DecisionThresholds("moderate", min_edge=0.40, min_confidence=0.45)
        decision = synthesize(make_input(), MODERATE, strict)
        assert decision.action == "hold"
        assert "edge 0.31 < 0.4 (moderate): hold" in decision.reasons[0]


class TestRegime:
    def test_trend_against_the_trade_multiplies_confidence_by_0_7(self) -> None:
        decision_input = make_input((0.20, 0.20, 0.60), trend="bear")
        aggressive = synthesize(decision_input, TradingPreferences("aggressive"))
        assert aggressive.action == "buy"
        assert aggressive.confidence == pytest.approx(0.60 * 0.7)
        assert "trend regime bear against a buy: confidence × 0.7" in aggressive.reasons
        moderate = synthesize(decision_input, MODERATE)
        assert moderate.action == "hold"
        assert moderate.reasons[-1] == "confidence 0.42 < 0.45 (moderate): hold"

    def test_trend_with_the_trade_multiplies_confidence_by_1_1(self) -> None:
        decision = synthesize(make_input((0.60, 0.20, 0.20), trend="bear"), MODERATE)
        assert decision.action == "sell"
        assert decision.confidence == pytest.approx(0.66)
        assert "trend regime bear with a sell: confidence × 1.1" in decision.reasons

    def test_trend_probability_scales_the_factor(self) -> None:
        decision_input = make_input((0.20, 0.20, 0.60), trend="bear", trend_probability=0.5)
        decision = synthesize(decision_input, MODERATE)
        assert decision.confidence == pytest.approx(0.60 * 0.85)
        assert decision.action == "buy"

    def test_sideways_trend_leaves_confidence(self) -> None:
        decision = synthesize(make_input(trend="sideways"), MODERATE)
        assert decision.confidence == pytest.approx(0.52)

    def test_high_volatility_raises_the_edge_bar(self) -> None:
        decision = synthesize(make_input(volatility="high"), MODERATE)
        assert decision.action == "hold"
        assert (
            decision.reasons[0] == "p(up) 0.52 vs p(down) 0.21: edge 0.31 < 0.325 (moderate): hold"
        )
        assert "volatility regime high: edge bar 0.25 × 1.3 = 0.325" in decision.reasons
        assert synthesize(make_input(volatility="normal"), MODERATE).action == "buy"


class TestPatterns:
    def test_confirming_patterns_add_to_confidence(self) -> None:
        decision = synthesize(make_input(patterns=("engulfing:bullish",)), MODERATE)
        assert decision.confidence == pytest.approx(0.57)
        assert "patterns engulfing:bullish confirm a buy: confidence +0.05" in decision.reasons

    def test_pattern_change_is_capped(self) -> None:
        patterns = ("engulfing:bullish", "double_bottom:bullish", "hammer:bullish")
        decision = synthesize(make_input(patterns=patterns), MODERATE)
        assert decision.confidence == pytest.approx(0.62)

    def test_contradicting_pattern_subtracts_and_undirected_patterns_are_ignored(self) -> None:
        patterns = ("double_top:bearish", "doji")
        decision = synthesize(make_input(patterns=patterns), MODERATE)
        assert decision.confidence == pytest.approx(0.47)
        assert "patterns double_top:bearish contradict a buy: confidence -0.05" in decision.reasons


class TestGates:
    def test_anomaly_holds(self) -> None:
        decision = synthesize(make_input(anomaly=True), MODERATE)
        assert decision.action == "hold"
        assert decision.confidence == 0.0
        assert decision.gate == "anomaly"
        assert decision.reasons == ("anomalous features: hold",)

    def test_symbol_not_allowed_holds(self) -> None:
        preferences = TradingPreferences("moderate", frozenset({"gbpusd"}))
        decision = synthesize(make_input(), preferences)
        assert decision.action == "hold"
        assert decision.gate == "symbol_not_allowed"
        assert decision.reasons == ("symbol EURUSD not in allowed symbols: hold",)

    def test_allowed_symbols_compare_upper_cased(self) -> None:
        preferences = TradingPreferences("moderate", frozenset({"eurusd"}))
        assert synthesize(make_input(), preferences).action == "buy"

    def test_both_gates_are_reported(self) -> None:
        preferences = TradingPreferences("moderate", frozenset({"GBPUSD"}))
        decision = synthesize(make_input(anomaly=True), preferences)
        assert decision.gate == "symbol_not_allowed"
        assert len(decision.reasons) == 2


class TestInputs:
    @pytest.mark.parametrize(
        "probabilities", [(0.5, 0.5, 0.5), (-0.1, 0.6, 0.5), (float("nan"), 0.5, 0.5)]
    )
    def test_bad_probabilities_are_rejected(self, probabilities: tuple[float, ...]) -> None:
        with pytest.raises(ValueError, match="expected probabilities"):
            make_input(probabilities)  # type: ignore[arg-type]

    def test_unknown_labels_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected trend one of"):
            make_input(trend="up")
        with pytest.raises(ValueError, match="expected risk_tolerance one of"):
            TradingPreferences("reckless")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="expected risk_tolerance one of"):
            thresholds_for("reckless")

    def test_preferences_from_users_settings(self) -> None:
        settings = default_trading_settings(RiskTolerance.CONSERVATIVE)
        preferences = TradingPreferences.from_settings(settings)
        assert preferences == TradingPreferences(
            "conservative",
            None,
            max_risk_per_trade_pct=settings.max_risk_per_trade_pct,
            max_daily_loss_pct=settings.max_daily_loss_pct,
            max_drawdown_pct=settings.max_drawdown_pct,
        )
        assert preferences.max_risk_per_trade_pct < TradingPreferences().max_risk_per_trade_pct

    def test_input_from_ml_prediction_and_features_regime(self) -> None:
        prediction = PredictionMade(
            tenant_id="t1",
            symbol="EURUSD",
            timeframe="M5",
            ts=1_000,
            model="gbm@3",
            feature_set="core",
            probabilities={"down": 0.2, "flat": 0.3, "up": 0.5},
            expected_volatility=0.001,
            momentum=0.4,
            horizon=3,
            anomaly=False,
            anomaly_score=None,
            patterns=["engulfing:bullish"],
            latency_ms=1.0,
        )
        regime = RegimeState(
            ts=1_000,
            trend=TrendRegime.BULL,
            trend_probabilities={"bull": 0.8, "bear": 0.1, "sideways": 0.1},
            volatility=VolatilityRegime.HIGH,
            volatility_probabilities={"low": 0.0, "normal": 0.3, "high": 0.7},
        )
        decision_input = input_from_prediction(prediction, regime)
        assert decision_input == DecisionInput(
            symbol="EURUSD",
            ts=1_000,
            probabilities=(0.2, 0.3, 0.5),
            model="gbm@3",
            expected_volatility=0.001,
            momentum=0.4,
            trend="bull",
            trend_probability=0.8,
            volatility="high",
            volatility_probability=0.7,
            patterns=("engulfing:bullish",),
            anomaly=False,
        )
        assert input_from_prediction(prediction).trend is None


@st.composite
def decision_inputs(draw: st.DrawFn) -> DecisionInput:
    weights = draw(st.tuples(*[st.floats(0.0, 1.0) for _ in range(3)]))
    total = sum(weights)
    probabilities = (1 / 3, 1 / 3, 1 / 3) if total == 0 else tuple(w / total for w in weights)
    return make_input(
        probabilities,  # type: ignore[arg-type]
        trend=draw(st.sampled_from([None, "bull", "bear", "sideways"])),
        trend_probability=draw(st.none() | st.floats(0.0, 1.0)),
        volatility=draw(st.sampled_from([None, "low", "normal", "high"])),
        patterns=tuple(
            draw(st.lists(st.sampled_from(["a:bullish", "b:bearish", "c:bullish", "doji"])))
        ),
        anomaly=draw(st.booleans()),
    )


tolerances = st.sampled_from(sorted(DEFAULT_THRESHOLDS))


class TestProperties:
    @given(decision_inputs(), tolerances)
    def test_confidence_is_always_in_unit_interval(
        self, decision_input: DecisionInput, tolerance: str
    ) -> None:
        decision = synthesize(decision_input, TradingPreferences(tolerance))  # type: ignore[arg-type]
        assert 0.0 <= decision.confidence <= 1.0
        assert decision.reasons

    @given(decision_inputs(), tolerances)
    def test_hold_whenever_the_edge_is_below_the_threshold(
        self, decision_input: DecisionInput, tolerance: str
    ) -> None:
        thresholds = thresholds_for(tolerance)
        decision = synthesize(decision_input, TradingPreferences(tolerance))  # type: ignore[arg-type]
        if abs(decision_input.edge) < thresholds.min_edge - COMPARISON_EPSILON:
            assert decision.action == "hold"
        if decision.action != "hold":
            assert decision.confidence >= thresholds.min_confidence - COMPARISON_EPSILON
            assert (decision.action == "buy") == (decision_input.edge > 0)
