"""The time-series table of a feature set's vectors: one row per (tenant, symbol, timeframe, bar).

Table ``features_<name>_v<version>`` (``fx-core@1`` → ``features_fx_core_v1``) has one
FLOAT64 column per feature (NaN in warm-up), the feature set's fingerprint, and the regime
columns. Wide rather than one JSON column, so training datasets and analytics read the
columns they need. A revised bar appends a new row for the same key: readers keep the row
with the highest ``computed_ms`` of each ts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chainflow.core.ids import TenantId
from chainflow.features.regimes import RegimeState, TrendRegime, VolatilityRegime
from chainflow.features.sets import FeatureSet
from chainflow.storage.api import (
    ColumnSpec,
    ColumnType,
    TableSpec,
    TimeSeriesStore,
    scan_latest_per_ts,
)

TREND_LABELS = tuple(regime.value for regime in TrendRegime)
VOLATILITY_LABELS = tuple(regime.value for regime in VolatilityRegime)


def column_name(feature: str) -> str:
    """Return the column of feature ``feature``: lower case, other characters as ``_``."""
    return "f_" + re.sub(r"[^a-z0-9_]", "_", feature.lower())


def feature_table(feature_set: FeatureSet) -> TableSpec:
    """Return the table of ``feature_set``'s vectors."""
    name = re.sub(r"[^a-z0-9_]", "_", feature_set.name.lower())
    columns = [
        ColumnSpec("timeframe", ColumnType.STRING),
        ColumnSpec("fingerprint", ColumnType.STRING),
        ColumnSpec("computed_ms", ColumnType.INT64),
        ColumnSpec("trend", ColumnType.STRING),
        ColumnSpec("volatility", ColumnType.STRING),
        *(ColumnSpec(f"p_{label}", ColumnType.FLOAT64) for label in TREND_LABELS),
        *(ColumnSpec(f"p_vol_{label}", ColumnType.FLOAT64) for label in VOLATILITY_LABELS),
        *(ColumnSpec(column_name(feature), ColumnType.FLOAT64) for feature in feature_set.names),
    ]
    return TableSpec(f"features_{name}_v{feature_set.version}", tuple(columns))


@dataclass(frozen=True, slots=True)
class StoredVector:
    """One stored feature vector with its regime, as read back."""

    symbol: str
    timeframe: str
    ts: int
    values: tuple[float, ...]
    regime: dict[str, Any] | None


def vector_row(
    tenant_id: TenantId,
    symbol: str,
    timeframe: str,
    ts: int,
    feature_set: FeatureSet,
    values: Sequence[float],
    regime: RegimeState | None,
    computed_ms: int,
) -> dict[str, Any]:
    """Return the row of one vector for ``feature_table(feature_set)``."""
    row: dict[str, Any] = {
        "tenant_id": tenant_id,
        "symbol": symbol,
        "ts": ts,
        "timeframe": timeframe,
        "fingerprint": feature_set.fingerprint,
        "computed_ms": computed_ms,
        "trend": _label(regime.trend if regime else None),
        "volatility": _label(regime.volatility if regime else None),
    }
    trend_p = regime.trend_probabilities if regime else {}
    vol_p = regime.volatility_probabilities if regime else {}
    for label in TREND_LABELS:
        row[f"p_{label}"] = _prob(trend_p.get(label))
    for label in VOLATILITY_LABELS:
        row[f"p_vol_{label}"] = _prob(vol_p.get(label))
    for feature, value in zip(feature_set.names, values, strict=True):
        row[column_name(feature)] = float(value)
    return row


def vector_from_row(feature_set: FeatureSet, row: Mapping[str, Any]) -> StoredVector:
    """Return the vector and regime a row of ``feature_table(feature_set)`` holds."""
    regime: dict[str, Any] | None = None
    if row["trend"] or row["volatility"]:
        regime = {
            "ts": row["ts"],
            "trend": row["trend"] or None,
            "trend_probabilities": {k: _none(row[f"p_{k}"]) for k in TREND_LABELS},
            "volatility": row["volatility"] or None,
            "volatility_probabilities": {k: _none(row[f"p_vol_{k}"]) for k in VOLATILITY_LABELS},
        }
    values = tuple(float(row[column_name(feature)]) for feature in feature_set.names)
    return StoredVector(row["symbol"], row["timeframe"], row["ts"], values, regime)


async def read_latest_vector(
    store: TimeSeriesStore,
    tenant_id: TenantId,
    symbol: str,
    timeframe: str,
    feature_set: FeatureSet,
) -> StoredVector | None:
    """Return the newest stored vector of one symbol and timeframe, or ``None``."""
    latest = await read_recent_vectors(
        store, tenant_id, symbol, timeframe, feature_set, end_ms=2**62, count=1
    )
    return latest[0] if latest else None


def _label(value: object) -> str:
    return "" if value is None else str(getattr(value, "value", value))


def _prob(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _none(value: float) -> float | None:
    return value if math.isfinite(value) else None


async def read_recent_vectors(
    store: TimeSeriesStore,
    tenant_id: TenantId,
    symbol: str,
    timeframe: str,
    feature_set: FeatureSet,
    *,
    end_ms: int,
    count: int,
) -> list[StoredVector]:
    """Return the latest ``count`` stored vectors of bars opened before ``end_ms``, by ts.

    A bar stored more than once (revisions, redeliveries) counts once, with its newest row.
    """
    spec = feature_table(feature_set)
    await store.ensure_table(spec)
    rows = await scan_latest_per_ts(
        store,
        spec.name,
        tenant_id=tenant_id,
        symbol=symbol,
        end_ms=end_ms,
        count=count,
        where={"timeframe": timeframe, "fingerprint": feature_set.fingerprint},
        version=lambda row: row["computed_ms"],
    )
    return [vector_from_row(feature_set, row) for row in rows]
