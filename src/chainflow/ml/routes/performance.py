"""``GET /api/v1/models/{name}/performance``: a model's live quality, from the store.

Read from the stored scores and vectors, so any process answers the same: per symbol the
rolling hit rate, Brier score and calibration of the tenant's production version of
``name``, its training baselines, and feature drift (PSI of the recent live vectors against
the training distribution stored with the model).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query

from chainflow.core.auth import Permission, Principal
from chainflow.core.errors import NotFound
from chainflow.core.market import Timeframe
from chainflow.features.api import get_feature_set, read_recent_vectors
from chainflow.gateway.api import require_permission
from chainflow.ml.live.prediction_table import SCORES_TABLE, probabilities_of, recent_rows
from chainflow.ml.live.scoring import baseline_accuracy
from chainflow.ml.registry.model_registry import ModelRegistry
from chainflow.ml.registry.types import ModelVersion
from chainflow.ml.training.performance import (
    LivePerformance,
    ScoredPrediction,
    population_stability_index,
)
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.relational import Database

Reader = Annotated[Principal, Depends(require_permission(Permission.SIGNALS_READ))]
DRIFT_VECTORS = 500


def build_performance_router(
    *, registry: ModelRegistry, database: Database, store: TimeSeriesStore, window: int
) -> APIRouter:
    router = APIRouter(prefix="/models", tags=["models"])

    @router.get("/{name}/performance", summary="Live hit rate, Brier, calibration and drift")
    async def model_performance(
        principal: Reader,
        name: str,
        symbol: Annotated[str, Query(description="e.g. EURUSD")],
        timeframe: Timeframe = Timeframe.M5,
    ) -> dict[str, Any]:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            version = await registry.production(uow, name, viewer=principal.tenant)
        if version is None:
            raise NotFound(f"expected a production version of model {name!r}; it has none")
        tracker = LivePerformance(window=window, baseline_accuracy=baseline_accuracy(version))
        symbol = symbol.strip().upper()
        for row in await recent_rows(
            store,
            SCORES_TABLE,
            principal.tenant_id,
            symbol,
            timeframe.value,
            version.ref,
            end_ms=2**62,
            count=window,
        ):
            tracker.add(ScoredPrediction(row["ts"], probabilities_of(row), row["realized"]))
        return {
            "model": version.ref,
            "symbol": symbol,
            "timeframe": timeframe.value,
            **tracker.report(),
            "training": {
                "oos": version.metrics.get("oos"),
                "baselines": version.metrics.get("baselines"),
            },
            "drift": await _drift(store, principal, symbol, timeframe, version),
        }

    return router


async def _drift(
    store: TimeSeriesStore,
    principal: Principal,
    symbol: str,
    timeframe: Timeframe,
    version: ModelVersion,
) -> dict[str, Any]:
    """PSI per feature of the recent live vectors; the largest, and which features drift."""
    stats: dict[str, Any] = version.metrics.get("feature_stats") or {}
    feature_set = get_feature_set(version.feature_set)
    vectors = await read_recent_vectors(
        store,
        principal.tenant_id,
        symbol,
        timeframe.value,
        feature_set,
        end_ms=2**62,
        count=DRIFT_VECTORS,
    )
    if not vectors or not stats:
        return {"vectors": len(vectors), "psi": {}, "max_psi": None, "drifting": []}
    matrix = np.array([v.values for v in vectors], dtype=np.float64)
    psi = {}
    for index, name in enumerate(feature_set.names):
        entry = stats.get(name)
        if entry and entry.get("edges") is not None:
            value = population_stability_index(entry["edges"], entry["fractions"], matrix[:, index])
            if np.isfinite(value):
                psi[name] = round(value, 4)
    drifting = sorted((n for n, v in psi.items() if v > 0.25), key=lambda n: -psi[n])
    return {
        "vectors": len(vectors),
        "psi": psi,
        "max_psi": max(psi.values()) if psi else None,
        "drifting": drifting,
    }
