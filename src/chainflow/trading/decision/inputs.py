"""Build a ``DecisionInput`` from the ml service's prediction and the features' regime.

The protocols name the fields read, so trading depends on no ml or features type.
"""

from __future__ import annotations

import math
from typing import Protocol

from chainflow.trading.decision.synthesis import DecisionInput
from chainflow.trading.errors import InvalidDecisionInputError


class PredictionFields(Protocol):
    """The fields of ``ml``'s ``PredictionMade`` that a decision reads."""

    @property
    def symbol(self) -> str: ...
    @property
    def ts(self) -> int: ...
    @property
    def model(self) -> str: ...
    @property
    def probabilities(self) -> dict[str, float]: ...
    @property
    def expected_volatility(self) -> float: ...
    @property
    def momentum(self) -> float: ...
    @property
    def anomaly(self) -> bool: ...
    @property
    def patterns(self) -> list[str]: ...


class RegimeFields(Protocol):
    """The fields of ``features``' ``RegimeState`` that a decision reads."""

    @property
    def trend(self) -> str | None: ...
    @property
    def trend_probabilities(self) -> dict[str, float]: ...
    @property
    def volatility(self) -> str | None: ...
    @property
    def volatility_probabilities(self) -> dict[str, float]: ...


def input_from_prediction(
    prediction: PredictionFields, regime: RegimeFields | None = None
) -> DecisionInput:
    """Return the ``DecisionInput`` of an ml prediction and, when known, the bar's regimes."""
    probabilities = prediction.probabilities
    missing = {"down", "flat", "up"} - set(probabilities)
    if missing:
        raise InvalidDecisionInputError(
            f"expected probabilities keyed down, flat and up; received keys {sorted(probabilities)}"
        )
    trend = volatility = None
    trend_probability = volatility_probability = None
    if regime is not None:
        if regime.trend is not None:
            trend = str(regime.trend)
            trend_probability = _finite_or_none(regime.trend_probabilities.get(trend))
        if regime.volatility is not None:
            volatility = str(regime.volatility)
            volatility_probability = _finite_or_none(
                regime.volatility_probabilities.get(volatility)
            )
    return DecisionInput(
        symbol=prediction.symbol,
        ts=prediction.ts,
        probabilities=(probabilities["down"], probabilities["flat"], probabilities["up"]),
        model=prediction.model,
        expected_volatility=prediction.expected_volatility,
        momentum=prediction.momentum,
        trend=trend,  # type: ignore[arg-type]  # validated in __post_init__
        trend_probability=trend_probability,
        volatility=volatility,  # type: ignore[arg-type]
        volatility_probability=volatility_probability,
        patterns=tuple(prediction.patterns),
        anomaly=prediction.anomaly,
    )


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
