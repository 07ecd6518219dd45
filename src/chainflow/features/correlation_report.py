"""The cross-asset report behind ``GET /api/v1/features/correlation``, from stored bars.

Reads the latest ``window + 1`` bars of each symbol in one timeframe (the bars the bridge
closed or imported), aligns them by bar open time (``aligned_log_returns``: only times where
every symbol has a bar count), and computes over the last ``window`` aligned returns: the
Pearson correlation matrix, the FX currency strength (sum of each pair's log returns over the
window, aggregated per currency) and the lead-lag of every pair of symbols.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainflow.bridge.api import read_bars
from chainflow.core.errors import InvalidInput, NotFound
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.features.cross_asset import aligned_log_returns, correlation_matrix, lead_lag
from chainflow.features.currency_strength import currency_strength
from chainflow.storage.api import TimeSeriesStore

READ_SLACK = 2.0
"""Bars read per symbol, as a multiple of ``window + 1``: room for bars missing in others."""


async def correlation_report(
    store: TimeSeriesStore,
    tenant_id: TenantId,
    symbols: Sequence[str],
    timeframe: Timeframe,
    *,
    window: int,
    max_lag: int,
    end_ms: int,
) -> dict[str, Any]:
    """Return the report of ``symbols`` over the last ``window`` aligned bars before ``end_ms``.

    Uses fewer rows (``rows`` says how many) when the store holds fewer aligned bars; raise
    ``NotFound`` when fewer than 3 aligned returns exist.
    """
    count = math.ceil((window + 1) * READ_SLACK)
    closes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for symbol in symbols:
        bars = await read_bars(store, tenant_id, symbol, timeframe, end_ms=end_ms, count=count)
        closes[symbol] = (
            np.array([b.ts for b in bars], dtype=np.int64),
            np.array([b.close for b in bars], dtype=np.float64),
        )
    ts, returns = aligned_log_returns(closes)
    returns = returns[-window:]
    if len(returns) < 3:
        held = {s: len(c[0]) for s, c in closes.items()}
        raise NotFound(
            f"expected at least 3 aligned {timeframe.value} returns of {', '.join(symbols)}; "
            f"received {len(returns)} (stored bars per symbol: {held})"
        )
    matrix = correlation_matrix(returns)
    try:
        strength = currency_strength({s: float(returns[:, i].sum()) for i, s in enumerate(symbols)})
    except ValueError as exc:  # two symbols of the same pair
        raise InvalidInput(str(exc)) from exc
    pairs: list[dict[str, Any]] = []
    if max_lag > 0 and len(returns) > max_lag + 1:
        for i, first in enumerate(symbols):
            for j in range(i + 1, len(symbols)):
                result = lead_lag(returns[:, i], returns[:, j], max_lag)
                leader, follower = (first, symbols[j])
                lag = result.best_lag
                if lag < 0:
                    leader, follower, lag = symbols[j], first, -lag
                pairs.append(
                    {
                        "leader": leader,
                        "follower": follower,
                        "best_lag": lag,
                        "correlation": _finite(result.best_correlation),
                    }
                )
    return {
        "timeframe": timeframe,
        "window": window,
        "rows": len(returns),
        "ts": int(ts[-1]),
        "symbols": list(symbols),
        "matrix": [[_finite(v) for v in row] for row in matrix.tolist()],
        "currency_strength": strength,
        "lead_lag": pairs,
    }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
