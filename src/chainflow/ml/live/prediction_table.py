"""Time-series tables of the ml service: every prediction, and every scored prediction.

``predictions`` holds each served answer with what scoring needs later (the close and ATR
at the bar, the label horizon and threshold); ``prediction_scores`` holds the outcome once
the horizon has passed. Both are keyed by (tenant, symbol, ts = the predicted bar's open
time); ``model`` is ``name@version``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainflow.core.ids import TenantId
from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec, TimeSeriesStore

F, N, S = ColumnType.FLOAT64, ColumnType.INT64, ColumnType.STRING  # float, integer, string

PREDICTIONS_TABLE = TableSpec(
    "predictions",
    tuple(
        ColumnSpec(name, kind)
        for name, kind in (
            ("timeframe", S),
            ("model", S),
            ("p_down", F),
            ("p_flat", F),
            ("p_up", F),
            ("volatility", F),
            ("momentum", F),
            ("horizon", N),
            ("threshold_atr", F),
            ("close", F),
            ("atr", F),
            ("anomaly", N),
            ("latency_ms", F),
        )
    ),
)

SCORES_TABLE = TableSpec(
    "prediction_scores",
    tuple(
        ColumnSpec(name, kind)
        for name, kind in (
            ("timeframe", S),
            ("model", S),
            ("p_down", F),
            ("p_flat", F),
            ("p_up", F),
            ("realized", N),
            ("scored_at_ts", N),
        )
    ),
)


async def recent_rows(
    store: TimeSeriesStore,
    table: TableSpec,
    tenant_id: TenantId,
    symbol: str,
    timeframe: str,
    model: str,
    *,
    end_ms: int,
    count: int,
) -> list[dict[str, Any]]:
    """Return the latest ``count`` rows of one model, symbol and timeframe, oldest first."""
    await store.ensure_table(table)
    rows = await store.scan(
        table.name,
        tenant_id=tenant_id,
        symbol=symbol,
        start_ms=0,
        end_ms=end_ms,
        limit=count,
        descending=True,
        where={"timeframe": timeframe, "model": model},
    )
    return list(reversed(rows))


def probabilities_of(row: Mapping[str, Any]) -> tuple[float, float, float]:
    return (float(row["p_down"]), float(row["p_flat"]), float(row["p_up"]))
