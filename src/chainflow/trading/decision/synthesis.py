"""Decision synthesis: a model prediction and the market regime become a trading intent.

``synthesize`` is a pure function. It returns a ``Decision`` (buy, sell or hold, a
confidence in [0, 1] and human-readable reasons) that the risk service then sizes. Nothing
here reads a clock, a database or the network, so the backtest and the live engine share it.

The steps, in order:

1. **Gates.** A symbol outside ``TradingPreferences.allowed_symbols`` or an anomalous
   feature vector gives ``hold`` with confidence 0 and ``Decision.gate`` set.
2. **Edge.** ``edge = p(up) - p(down)``; the model leans to buy when it is positive and to
   sell when it is negative. The base confidence is the probability of that side.
3. **Bar.** The edge must reach ``min_edge`` of the risk tolerance (table below); in a
   ``high`` volatility regime the bar is multiplied by ``high_volatility_factor``.
4. **Regime.** A trend regime with the trade multiplies the confidence by
   ``REGIME_ALIGNED_FACTOR`` (1.1), one against it by ``REGIME_AGAINST_FACTOR`` (0.7);
   ``sideways`` leaves it. With a trend probability ``p`` the factor becomes
   ``1 + (factor - 1) * p``.
5. **Patterns.** Each ``name:bullish`` / ``name:bearish`` pattern that confirms the side
   adds ``PATTERN_STEP`` (0.05), each that contradicts it subtracts as much; the net change
   is capped at ``PATTERN_CAP`` (0.10) either way. Patterns without a direction are ignored.
6. **Confidence.** After clamping to [0, 1] the confidence must reach ``min_confidence``.

Thresholds per risk tolerance (``DEFAULT_THRESHOLDS``):

| risk tolerance | min edge | min confidence | high-volatility edge factor |
|---|---|---|---|
| conservative | 0.35 | 0.55 | 1.5 |
| moderate | 0.25 | 0.45 | 1.3 |
| aggressive | 0.15 | 0.35 | 1.15 |
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, get_args

from chainflow.trading.errors import InvalidDecisionInputError, InvalidStrategySettingsError

Action: TypeAlias = Literal["buy", "sell", "hold"]
RiskToleranceName: TypeAlias = Literal["conservative", "moderate", "aggressive"]
TrendLabel: TypeAlias = Literal["bull", "bear", "sideways"]
VolatilityLabel: TypeAlias = Literal["low", "normal", "high"]
Gate: TypeAlias = Literal["symbol_not_allowed", "anomaly"]

RISK_TOLERANCES: tuple[str, ...] = get_args(RiskToleranceName)
TREND_LABELS: tuple[str, ...] = get_args(TrendLabel)
VOLATILITY_LABELS: tuple[str, ...] = get_args(VolatilityLabel)

REGIME_ALIGNED_FACTOR = 1.1
REGIME_AGAINST_FACTOR = 0.7
PATTERN_STEP = 0.05
PATTERN_CAP = 0.10
PROBABILITY_SUM_TOLERANCE = 1e-3
# Comparisons against thresholds forgive float noise such as 0.45 - 0.2 = 0.25000000000000006.
COMPARISON_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class DecisionInput:
    """What the decision sees for one symbol at one bar (ml prediction + features regime).

    ``probabilities`` is ``(down, flat, up)``. ``trend_probability`` and
    ``volatility_probability`` are the probabilities of the given labels; ``None`` means
    the label is taken as certain. ``patterns`` are ml names like ``"engulfing:bullish"``.
    """

    symbol: str
    ts: int
    probabilities: tuple[float, float, float]
    model: str
    expected_volatility: float = 0.0
    momentum: float = 0.0
    trend: TrendLabel | None = None
    trend_probability: float | None = None
    volatility: VolatilityLabel | None = None
    volatility_probability: float | None = None
    patterns: tuple[str, ...] = ()
    anomaly: bool = False

    def __post_init__(self) -> None:
        if len(self.probabilities) != 3 or not all(
            math.isfinite(p) and 0.0 <= p <= 1.0 for p in self.probabilities
        ):
            raise InvalidDecisionInputError(
                "expected probabilities (down, flat, up), each in [0, 1]; "
                f"received {self.probabilities!r}"
            )
        if abs(sum(self.probabilities) - 1.0) > PROBABILITY_SUM_TOLERANCE:
            raise InvalidDecisionInputError(
                f"expected probabilities summing to 1; received {self.probabilities!r} "
                f"(sum {sum(self.probabilities):.6f})"
            )
        if self.trend is not None and self.trend not in TREND_LABELS:
            raise InvalidDecisionInputError(
                f"expected trend one of {TREND_LABELS}; received {self.trend!r}"
            )
        if self.volatility is not None and self.volatility not in VOLATILITY_LABELS:
            raise InvalidDecisionInputError(
                f"expected volatility one of {VOLATILITY_LABELS}; received {self.volatility!r}"
            )
        for field, value in (
            ("trend_probability", self.trend_probability),
            ("volatility_probability", self.volatility_probability),
        ):
            if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise InvalidDecisionInputError(
                    f"expected {field} in [0, 1] or None; received {value!r}"
                )

    @property
    def edge(self) -> float:
        """Return ``p(up) - p(down)``."""
        return self.probabilities[2] - self.probabilities[0]


class TradingSettingsFields(Protocol):
    """The fields of ``users``' ``TradingSettings`` that a decision reads."""

    @property
    def risk_tolerance(self) -> str: ...
    @property
    def allowed_symbols(self) -> tuple[str, ...]: ...
    @property
    def max_risk_per_trade_pct(self) -> float: ...
    @property
    def max_daily_loss_pct(self) -> float: ...
    @property
    def max_drawdown_pct(self) -> float: ...


@dataclass(frozen=True, slots=True)
class TradingPreferences:
    """The tenant settings a decision depends on; ``allowed_symbols`` None allows all.

    The risk limits (percent of equity) cap the sizing and trip the circuit breaker.
    """

    risk_tolerance: RiskToleranceName = "moderate"
    allowed_symbols: frozenset[str] | None = None
    max_risk_per_trade_pct: float = 1.0
    max_daily_loss_pct: float = 5.0
    max_drawdown_pct: float = 20.0
    leverage: int = 50
    tier: str = "free"  # the tenant's subscription tier: caps open positions (risk)

    def __post_init__(self) -> None:
        if self.risk_tolerance not in RISK_TOLERANCES:
            raise InvalidStrategySettingsError(
                f"expected risk_tolerance one of {RISK_TOLERANCES}; "
                f"received {self.risk_tolerance!r}"
            )
        if self.allowed_symbols is not None:
            object.__setattr__(
                self, "allowed_symbols", frozenset(s.upper() for s in self.allowed_symbols)
            )

    @classmethod
    def from_settings(cls, settings: TradingSettingsFields) -> TradingPreferences:
        """Return the preferences of the users service's settings (empty symbols = all)."""
        symbols = tuple(settings.allowed_symbols)
        return cls(
            risk_tolerance=str(settings.risk_tolerance),  # type: ignore[arg-type]
            allowed_symbols=frozenset(symbols) if symbols else None,
            max_risk_per_trade_pct=float(settings.max_risk_per_trade_pct),
            max_daily_loss_pct=float(settings.max_daily_loss_pct),
            max_drawdown_pct=float(settings.max_drawdown_pct),
        )

    def allows_symbol(self, symbol: str) -> bool:
        """Return whether ``symbol`` may be traded (compared upper-cased)."""
        return self.allowed_symbols is None or symbol.upper() in self.allowed_symbols


@dataclass(frozen=True, slots=True)
class DecisionThresholds:
    """The bars one risk tolerance sets; see the table in the module docstring."""

    risk_tolerance: RiskToleranceName
    min_edge: float
    min_confidence: float
    high_volatility_factor: float = 1.0

    def __post_init__(self) -> None:
        for field, value, low, high in (
            ("min_edge", self.min_edge, 0.0, 1.0),
            ("min_confidence", self.min_confidence, 0.0, 1.0),
            ("high_volatility_factor", self.high_volatility_factor, 1.0, 10.0),
        ):
            if not (math.isfinite(value) and low <= value <= high):
                raise InvalidStrategySettingsError(
                    f"expected {field} in [{low}, {high}]; received {value!r}"
                )


DEFAULT_THRESHOLDS: dict[str, DecisionThresholds] = {
    "conservative": DecisionThresholds("conservative", 0.35, 0.55, 1.5),
    "moderate": DecisionThresholds("moderate", 0.25, 0.45, 1.3),
    "aggressive": DecisionThresholds("aggressive", 0.15, 0.35, 1.15),
}


def thresholds_for(risk_tolerance: str) -> DecisionThresholds:
    """Return the default thresholds of ``risk_tolerance``."""
    try:
        return DEFAULT_THRESHOLDS[risk_tolerance]
    except KeyError:
        raise InvalidStrategySettingsError(
            f"expected risk_tolerance one of {RISK_TOLERANCES}; received {risk_tolerance!r}"
        ) from None


@dataclass(frozen=True, slots=True)
class Decision:
    """A trading intent for one symbol at one bar, before sizing.

    ``confidence`` is the confidence in the action's side; for ``hold`` it is the
    confidence of the side the model leans to (0 when a gate decided). ``edge`` is
    ``p(up) - p(down)`` of the input. ``gate`` names the gate that forced a hold.
    """

    symbol: str
    ts: int
    model: str
    action: Action
    confidence: float
    edge: float
    reasons: tuple[str, ...]
    gate: Gate | None = None


def synthesize(
    decision_input: DecisionInput,
    preferences: TradingPreferences,
    thresholds: DecisionThresholds | None = None,
) -> Decision:
    """Return the decision for ``decision_input`` (default thresholds of the preferences)."""
    bars = thresholds or thresholds_for(preferences.risk_tolerance)
    edge = decision_input.edge

    def decided(
        action: Action, confidence: float, reasons: Iterable[str], gate: Gate | None
    ) -> Decision:
        return Decision(
            symbol=decision_input.symbol,
            ts=decision_input.ts,
            model=decision_input.model,
            action=action,
            confidence=confidence,
            edge=edge,
            reasons=tuple(reasons),
            gate=gate,
        )

    gate_reasons: list[tuple[Gate, str]] = []
    if not preferences.allows_symbol(decision_input.symbol):
        gate_reasons.append(
            ("symbol_not_allowed", f"symbol {decision_input.symbol} not in allowed symbols: hold")
        )
    if decision_input.anomaly:
        gate_reasons.append(("anomaly", "anomalous features: hold"))
    if gate_reasons:
        return decided("hold", 0.0, (text for _, text in gate_reasons), gate_reasons[0][0])

    down, _, up = decision_input.probabilities
    if edge == 0.0:
        reason = f"p(up) {up:.2f} vs p(down) {down:.2f}: no edge: hold"
        return decided("hold", 0.0, (reason,), None)
    side: Action = "buy" if edge > 0 else "sell"
    reasons: list[str] = []
    required_edge = bars.min_edge
    if decision_input.volatility == "high" and bars.high_volatility_factor != 1.0:
        required_edge = bars.min_edge * bars.high_volatility_factor
        reasons.append(
            f"volatility regime high: edge bar {bars.min_edge:.2f} × "
            f"{bars.high_volatility_factor:g} = {required_edge:.3g}"
        )
    edge_met = abs(edge) >= required_edge - COMPARISON_EPSILON
    comparison = "≥" if edge_met else "<"
    edge_reason = (
        f"p(up) {up:.2f} vs p(down) {down:.2f}: edge {abs(edge):.2f} {comparison} "
        f"{required_edge:.3g} ({bars.risk_tolerance})"
    )
    reasons.insert(0, edge_reason if edge_met else edge_reason + ": hold")

    confidence = up if side == "buy" else down
    confidence, regime_reason = _regime_adjusted(confidence, side, decision_input)
    if regime_reason:
        reasons.append(regime_reason)
    confidence, pattern_reasons = _pattern_adjusted(confidence, side, decision_input.patterns)
    reasons.extend(pattern_reasons)
    confidence = min(1.0, max(0.0, confidence))
    if not edge_met:
        return decided("hold", confidence, reasons, None)
    if confidence < bars.min_confidence - COMPARISON_EPSILON:
        reasons.append(
            f"confidence {confidence:.2f} < {bars.min_confidence:.2f} ({bars.risk_tolerance}): hold"
        )
        return decided("hold", confidence, reasons, None)
    reasons.append(
        f"confidence {confidence:.2f} ≥ {bars.min_confidence:.2f} ({bars.risk_tolerance})"
    )
    return decided(side, confidence, reasons, None)


def _regime_adjusted(
    confidence: float, side: Action, decision_input: DecisionInput
) -> tuple[float, str | None]:
    trend = decision_input.trend
    if trend is None or trend == "sideways":
        return confidence, None
    aligned = (trend == "bull") == (side == "buy")
    factor = REGIME_ALIGNED_FACTOR if aligned else REGIME_AGAINST_FACTOR
    if decision_input.trend_probability is not None:
        factor = 1.0 + (factor - 1.0) * decision_input.trend_probability
    relation = "with" if aligned else "against"
    return (
        confidence * factor,
        f"trend regime {trend} {relation} a {side}: confidence × {factor:.3g}",
    )


def _pattern_adjusted(
    confidence: float, side: Action, patterns: tuple[str, ...]
) -> tuple[float, list[str]]:
    wanted = "bullish" if side == "buy" else "bearish"
    confirming = [p for p in patterns if p.endswith(":" + wanted)]
    contradicting = [
        p for p in patterns if p.endswith((":bullish", ":bearish")) and p not in confirming
    ]
    if not confirming and not contradicting:
        return confidence, []
    change = max(
        -PATTERN_CAP, min(PATTERN_CAP, PATTERN_STEP * (len(confirming) - len(contradicting)))
    )
    reasons = []
    if confirming:
        reasons.append(f"patterns {', '.join(confirming)} confirm a {side}")
    if contradicting:
        reasons.append(f"patterns {', '.join(contradicting)} contradict a {side}")
    reasons[-1] += f": confidence {change:+.2f}"
    return confidence + change, reasons
