"""What the features service publishes, and the topic builders (tokens escaped).

- ``features.p<k>.<tenant>.<symbol>.<tf>``: ``FeaturesComputed``, one per closed bar (and
  again, ``revised``, for the bars a late tick changed); ``k`` is the tenant's partition;
- ``features.regime.<tenant>.<symbol>.<tf>``: ``RegimeChanged`` when the trend or the
  volatility regime of a symbol changes;
- ``features.correlation.<tenant>.<tf>``: ``CorrelationUpdated``, the tenant's rolling
  correlation matrix and currency strength after each complete row of bars.

Tenant ids are UUIDs, so the fixed words ``regime`` and ``correlation`` never collide with
a tenant token, nor with a partition token ``p<k>``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from chainflow.core.errors import MalformedEventError
from chainflow.core.messages import Event, topic
from chainflow.core.settings.infrastructure import DEFAULT_BUS_PARTITIONS
from chainflow.hub.api import MESSAGE_ID_HEADER, partition_of, partition_token


def features_topic(
    tenant_id: str,
    symbol: str,
    timeframe: str,
    *,
    partitions: int = DEFAULT_BUS_PARTITIONS,
) -> str:
    """Return ``features.p<k>.<tenant>.<symbol>.<tf>``, ``k = partition_of(tenant,
    partitions)``: vectors are partitioned by tenant as bars are (``bridge.events.bars_topic``),
    so that one ml replica holds a tenant. Publishers pass ``partitions=bus.partitions``."""
    partition = partition_of(tenant_id, partitions=partitions)
    return topic("features", partition_token(partition), tokens=(tenant_id, symbol, timeframe))


def feature_vectors_of_partition(partition: int) -> str:
    """Return the wildcard subject of the vectors of one partition (``features.p<k>.*.*.*``)."""
    return topic("features", partition_token(partition)) + ".*.*.*"


def regime_topic(tenant_id: str, symbol: str, timeframe: str) -> str:
    return topic("features", "regime", tokens=(tenant_id, symbol, timeframe))


def first_publication(revised: bool, *identity: str) -> dict[str, str] | None:
    """Return the headers of a bar's first vector (or regime change): a message id the bus
    stores once, so the bar processed again after a redelivery is not published twice.
    Revised vectors are new versions and carry none."""
    return None if revised else {MESSAGE_ID_HEADER: "/".join(identity)}


def finite_or_none(value: float) -> float | None:
    """Return ``value``, or ``None`` for NaN/inf: published JSON is strict."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class FeaturesComputed(Event):
    """The feature vector of one closed bar; ``values[i]`` is ``names[i]`` (None in warm-up)."""

    tenant_id: str
    symbol: str
    timeframe: str
    ts: int
    feature_set: str
    fingerprint: str
    names: tuple[str, ...]
    values: tuple[float | None, ...]
    regime: dict[str, Any] | None
    revised: bool = False
    bar: dict[str, float] | None = None  # the bar's open, high, low, close, volume

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> FeaturesComputed:
        """Parse a published vector; raise ``ValueError`` for anything else."""
        try:
            raw = json.loads(data)
            return cls(
                tenant_id=str(raw["tenant_id"]),
                symbol=str(raw["symbol"]),
                timeframe=str(raw["timeframe"]),
                ts=int(raw["ts"]),
                feature_set=str(raw["feature_set"]),
                fingerprint=str(raw["fingerprint"]),
                names=tuple(raw["names"]),
                values=tuple(None if v is None else float(v) for v in raw["values"]),
                regime=raw.get("regime"),
                revised=bool(raw.get("revised", False)),
                bar=raw.get("bar"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEventError(
                f"expected a feature vector; received {data[:200]!r}: {exc}"
            ) from exc


def all_feature_vectors() -> str:
    """Return the wildcard of every tenant's vectors, any partition (it also matches
    ``features.regime`` events, which have as many tokens: consumers skip what does not
    parse as a vector)."""
    return topic("features") + ".*.*.*.*"


@dataclass(frozen=True, slots=True)
class RegimeChanged(Event):
    """The ``kind`` (``trend`` or ``volatility``) regime went from ``previous`` to ``current``."""

    tenant_id: str
    symbol: str
    timeframe: str
    ts: int
    kind: str
    previous: str | None
    current: str | None
    probabilities: dict[str, float | None]

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), allow_nan=False).encode()


def correlation_topic(tenant_id: str, timeframe: str) -> str:
    return topic("features", "correlation", tokens=(tenant_id, timeframe))


@dataclass(frozen=True, slots=True)
class CorrelationUpdated(Event):
    """A tenant's rolling correlation of bar log returns, and its currency strength."""

    tenant_id: str
    timeframe: str
    ts: int
    window: int
    symbols: tuple[str, ...]
    matrix: tuple[tuple[float | None, ...], ...]
    currency_strength: dict[str, float]

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), allow_nan=False).encode()
