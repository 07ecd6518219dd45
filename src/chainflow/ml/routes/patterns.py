"""``GET /api/v1/patterns/similar``: the past windows most like a symbol's latest one.

Too little history is an answer, not an error: 200 with no matches and a ``reason`` that
says what is missing (stored feature vectors, a window still warming up, or no past window
whose outcome is known yet) — the symbol and timeframe exist, they are just young.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query

from chainflow.core.auth import Permission, Principal
from chainflow.core.market import Timeframe
from chainflow.features.api import get_feature_set, read_recent_vectors
from chainflow.gateway.api import require_permission
from chainflow.ml.live.scoring import SIMILARITY_FEATURES, SIMILARITY_WINDOW
from chainflow.ml.patterns.similarity import PatternMemory, pattern_namespace
from chainflow.storage.api import TimeSeriesStore, VectorIndex

Reader = Annotated[Principal, Depends(require_permission(Permission.SIGNALS_READ))]


def build_pattern_router(
    *, store: TimeSeriesStore, vectors: VectorIndex, feature_set_key: str
) -> APIRouter:
    router = APIRouter(prefix="/patterns", tags=["models"])

    @router.get(
        "/similar",
        summary="Past windows like the latest one, and what followed them",
        description=(
            "With too little history (fewer stored feature vectors than a window, a window "
            "still warming up, no past window with a known outcome) the answer is 200 with "
            "no `matches` and a `reason`; otherwise `reason` is null."
        ),
    )
    async def similar_patterns(
        principal: Reader,
        symbol: Annotated[str, Query(description="e.g. EURUSD")],
        timeframe: Timeframe = Timeframe.M5,
        k: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict[str, Any]:
        symbol = symbol.strip().upper()
        stored = await read_recent_vectors(
            store,
            principal.tenant_id,
            symbol,
            timeframe.value,
            get_feature_set(feature_set_key),
            end_ms=2**62,
            count=SIMILARITY_WINDOW,
        )
        empty: dict[str, Any] = {
            "symbol": symbol,
            "timeframe": timeframe.value,
            "window": SIMILARITY_WINDOW,
            "window_end_ts": stored[-1].ts if stored else None,
            "matches": [],
            "up_share": None,
            "down_share": None,
            "flat_share": None,
            "mean_forward_return": None,
        }
        if len(stored) < SIMILARITY_WINDOW:
            return {
                **empty,
                "reason": (
                    f"too little history: a window needs {SIMILARITY_WINDOW} stored feature "
                    f"vectors of {symbol} {timeframe.value} (one per closed bar); there are "
                    f"{len(stored)}"
                ),
            }
        window = np.array([v.values for v in stored], dtype=np.float64)[:, :SIMILARITY_FEATURES]
        if not np.all(np.isfinite(window)):
            return {
                **empty,
                "reason": (
                    f"too little history: the latest {symbol} {timeframe.value} window is still "
                    "warming up (its features need more closed bars)"
                ),
            }
        memory = PatternMemory(
            vectors, pattern_namespace(principal.tenant_id, symbol, timeframe.value)
        )
        found = await memory.similar(window, k, before_ts=stored[-1].ts)
        reason = (
            None
            if found.matches
            else (
                f"too little history: no past {symbol} {timeframe.value} window has a known "
                "outcome yet (a window is remembered once its prediction horizon has passed)"
            )
        )
        return {
            "symbol": symbol,
            "timeframe": timeframe.value,
            "window_end_ts": stored[-1].ts,
            "window": SIMILARITY_WINDOW,
            "reason": reason,
            "matches": [
                {
                    "window_ts": m.window_ts,
                    "known_ts": m.known_ts,
                    "score": m.score,
                    "forward_return": m.forward_return,
                    "label": ("down", "flat", "up")[m.label],
                }
                for m in found.matches
            ],
            "up_share": found.up_share,
            "down_share": found.down_share,
            "flat_share": found.flat_share,
            "mean_forward_return": found.mean_forward_return,
        }

    return router
