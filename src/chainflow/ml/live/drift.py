"""Live feature drift of a served model on one symbol, checked as predictions are scored.

Every ``min_scored`` scored predictions of a (tenant, model version, symbol, timeframe),
the most recent ``performance_window`` stored feature vectors of the symbol are compared
with the training distribution the model carries (``metrics.feature_stats``: quantile edges
and shares) by the population stability index, as ``GET /models/{name}/performance``
does. When the largest PSI crosses ``CHAINFLOW_ML_DRIFT_PSI`` (0.25: significant drift),
``ModelDrifting`` is published on ``ml.alerts.<tenant>`` once; it is published again only
after the drift went below the threshold and came back. ``CHAINFLOW_ML_DRIFT_PSI=0`` turns
the check off.
"""

from __future__ import annotations

import math

import numpy as np

from chainflow.core.ids import TenantId
from chainflow.features.api import get_feature_set, read_recent_vectors
from chainflow.hub.api import EventBus
from chainflow.ml.events import ModelDrifting, alerts_topic
from chainflow.ml.registry.types import ModelVersion
from chainflow.ml.training.performance import population_stability_index
from chainflow.storage.api import TimeSeriesStore

DriftKey = tuple[str, str, str, str]  # tenant, name@version, symbol, timeframe
WORST_NAMED = 5


class LiveDrift:
    """Checks the drift of each served key every ``every`` scores; alerts on crossings."""

    def __init__(
        self, *, store: TimeSeriesStore, bus: EventBus, threshold: float, every: int, window: int
    ) -> None:
        self._store = store
        self._bus = bus
        self.threshold = threshold
        self._every = max(1, every)
        self._window = window
        self._counts: dict[DriftKey, int] = {}
        self._drifting: set[DriftKey] = set()
        self.alerts = 0

    async def observe(self, key: DriftKey, version: ModelVersion, ts: int) -> None:
        """Count one score of ``key``; check the drift when ``every`` have been counted."""
        if self.threshold <= 0:
            return
        self._counts[key] = self._counts.get(key, 0) + 1
        if self._counts[key] % self._every:
            return
        psi, vectors = await self.psi(key, version)
        worst = max(psi.values(), default=math.nan)
        if not worst > self.threshold:
            self._drifting.discard(key)
            return
        if key in self._drifting:
            return
        self._drifting.add(key)
        tenant_id, ref, symbol, timeframe = key
        features = sorted((n for n, v in psi.items() if v > self.threshold), key=lambda n: -psi[n])
        event = ModelDrifting(
            tenant_id=tenant_id,
            model=ref,
            symbol=symbol,
            timeframe=timeframe,
            ts=ts,
            max_psi=round(worst, 4),
            threshold=self.threshold,
            features=features[:WORST_NAMED],
            vectors=vectors,
        )
        await self._bus.publish(alerts_topic(tenant_id), event.to_json())
        self.alerts += 1

    async def psi(self, key: DriftKey, version: ModelVersion) -> tuple[dict[str, float], int]:
        """Return the PSI per feature of the recent live vectors, and how many were read."""
        stats = version.metrics.get("feature_stats") or {}
        if not stats:
            return {}, 0
        tenant_id, _ref, symbol, timeframe = key
        feature_set = get_feature_set(version.feature_set)
        vectors = await read_recent_vectors(
            self._store,
            TenantId(tenant_id),
            symbol,
            timeframe,
            feature_set,
            end_ms=2**62,
            count=self._window,
        )
        if not vectors:
            return {}, 0
        matrix = np.array(
            [[np.nan if x is None else x for x in v.values] for v in vectors], dtype=np.float64
        )
        psi = {}
        for index, name in enumerate(feature_set.names):
            entry = stats.get(name) or {}
            if entry.get("edges") is not None and entry.get("fractions") is not None:
                value = population_stability_index(
                    entry["edges"], entry["fractions"], matrix[:, index]
                )
                if math.isfinite(value):
                    psi[name] = value
        return psi, len(vectors)
