"""What the ml service publishes, and the topic builders (tokens escaped).

- ``predictions.p<k>.<tenant>.<symbol>.<tf>``: ``PredictionMade`` for every feature vector;
  ``k`` is the tenant's partition, as for the vectors (``features.p<k>...``), so that the
  trading replica holding a tenant's tick partition reads its predictions too;
- ``ml.alerts.<tenant>``: ``ModelUnderperforming`` when a model's rolling live hit rate on
  a symbol falls below its baseline, and ``ModelRecovered`` when it is back above;
  ``ModelFellBack`` when the live monitor stopped serving a model that stayed below its
  baseline (``chainflow.ml.live.actions``); ``ModelDrifting`` when the live feature
  vectors of a symbol drift from the training distribution; ``ModelRetrained`` when the
  retrain schedule trained a new version (promoted, or kept as a candidate by the gate).

Every alert is a JSON object whose ``type`` names its kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chainflow.core.messages import Event, topic
from chainflow.core.settings.infrastructure import DEFAULT_BUS_PARTITIONS
from chainflow.hub.api import partition_of, partition_token


def predictions_topic(
    tenant_id: str,
    symbol: str,
    timeframe: str,
    *,
    partitions: int = DEFAULT_BUS_PARTITIONS,
) -> str:
    """Return ``predictions.p<k>.<tenant>.<symbol>.<tf>``, ``k = partition_of(tenant,
    partitions)``. Publishers pass ``partitions=bus.partitions``."""
    partition = partition_of(tenant_id, partitions=partitions)
    return topic("predictions", partition_token(partition), tokens=(tenant_id, symbol, timeframe))


def predictions_of_partition(partition: int) -> str:
    """Return the wildcard subject of one partition's predictions (``predictions.p<k>.*.*.*``)."""
    return topic("predictions", partition_token(partition)) + ".*.*.*"


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


@dataclass(frozen=True, slots=True)
class ModelFellBack(Event):
    """The live monitor stopped serving ``model`` to the tenant after ``streak`` consecutive
    scored predictions below its baseline: ``fallback`` serves instead (the previous
    production version) or, when None, the tenant gets ``hold`` with ``reason``."""

    tenant_id: str
    model: str  # name@version no longer served
    fallback: str | None  # name@version served instead; None: hold
    reason: str  # machine code: model_underperforming
    detail: str  # one human sentence
    by: str
    symbol: str
    timeframe: str
    ts: int
    hit_rate: float
    baseline_accuracy: float
    scored: int
    streak: int
    kind = "model_fallback"

    def to_json(self) -> bytes:
        return json.dumps({"type": self.kind, **self.to_dict()}, allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class ModelDrifting(Event):
    """The recent live feature vectors of a symbol drifted from the model's training
    distribution: ``max_psi`` above the threshold, ``features`` the worst ones."""

    tenant_id: str
    model: str
    symbol: str
    timeframe: str
    ts: int
    max_psi: float
    threshold: float
    features: list[str]
    vectors: int
    kind = "model_drifting"

    def to_json(self) -> bytes:
        return json.dumps({"type": self.kind, **self.to_dict()}, allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class ModelRetrained(Event):
    """The retrain schedule trained ``model`` from the tenant's stored bars: ``promoted``
    when the promotion gate let it replace ``previous``, else kept as a candidate."""

    tenant_id: str
    model: str  # name@version trained
    previous: str  # the production version it was trained to replace
    promoted: bool
    sentence: str  # the verdict's sentence
    symbol: str
    timeframe: str
    bars: int
    ts: int
    kind = "model_retrained"

    def to_json(self) -> bytes:
        return json.dumps({"type": self.kind, **self.to_dict()}, allow_nan=False).encode()
