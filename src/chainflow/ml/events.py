"""What the ml service publishes, and the topic builders (tokens escaped).

- ``predictions.<tenant>.<symbol>.<tf>``: ``PredictionMade`` for every feature vector;
- ``ml.alerts.<tenant>``: ``ModelUnderperforming`` when a model's rolling live hit rate on
  a symbol falls below its baseline, and ``ModelRecovered`` when it is back above.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chainflow.core.messages import Event, topic


def predictions_topic(tenant_id: str, symbol: str, timeframe: str) -> str:
    return topic("predictions", tokens=(tenant_id, symbol, timeframe))


def all_predictions() -> str:
    """Return the wildcard subject of every tenant's predictions, every symbol and timeframe."""
    return topic("predictions") + ".>"


def alerts_topic(tenant_id: str) -> str:
    return topic("ml", "alerts", tokens=(tenant_id,))


@dataclass(frozen=True, slots=True)
class PredictionMade(Event):
    """A served model's answer for one closed bar (probabilities: down, flat, up)."""

    tenant_id: str
    symbol: str
    timeframe: str
    ts: int
    model: str  # name@version
    feature_set: str
    probabilities: dict[str, float]
    expected_volatility: float
    momentum: float
    horizon: int
    anomaly: bool
    anomaly_score: float | None
    patterns: list[str]
    latency_ms: float
    similar: dict[str, float | int | None] | None = None  # past windows like this one
    close: float | None = None  # the bar's close (bid)
    atr: float | None = None  # ATR(14) of the bars up to this one, price units

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class ModelPerformanceChanged(Event):
    """A model's rolling live hit rate on a symbol crossed its training baseline."""

    tenant_id: str
    model: str
    symbol: str
    timeframe: str
    ts: int
    hit_rate: float
    baseline_accuracy: float
    scored: int
    kind = "model_performance_changed"

    def to_json(self) -> bytes:
        return json.dumps({"type": self.kind, **self.to_dict()}).encode()


@dataclass(frozen=True, slots=True)
class ModelUnderperforming(ModelPerformanceChanged):
    """The rolling hit rate fell below the baseline."""

    kind = "model_underperforming"


@dataclass(frozen=True, slots=True)
class ModelRecovered(ModelPerformanceChanged):
    """The rolling hit rate is back at or above the baseline."""

    kind = "model_recovered"
