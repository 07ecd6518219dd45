"""The trading engine's routes: signals, the paper account and its attribution.

- ``GET /api/v1/signals``: the tenant's issued signals, newest first.
- ``GET /api/v1/trading/paper``: the tenant's paper account (summary, positions, queued
  orders, recent trades, reconciled MT5 fills, equity curve).
- ``GET /api/v1/trading/attribution``: P&L and hit rate by model, symbol, regime and reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Response

from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission
from chainflow.trading.events import SignalIssued
from chainflow.trading.service import TradingService
from chainflow.trading.signal_listing import listing_json

Reader = Annotated[Principal, Depends(require_permission(Permission.SIGNALS_READ))]
JSON_MEDIA_TYPE = "application/json"
# ``SignalIssued.to_wire``'s keys after ``type``, in order.
_FRAME_FIELDS = tuple(f.name for f in dataclasses.fields(SignalIssued) if f.name != "type")


def signal_frames(signals: Iterable[SignalIssued]) -> bytes:
    """Return ``{"items": [s.to_wire() for s in signals]}`` as JSON, built without its
    per-signal deep copy (``dataclasses.asdict``): the listing's main cost besides the query
    (benchmarks/http.py). Same keys in the same order; tests compare the two."""
    items = []
    for signal in signals:
        frame: dict[str, Any] = {"type": signal.type}
        for name in _FRAME_FIELDS:
            frame[name] = getattr(signal, name)
        items.append(frame)
    return orjson.dumps({"items": items})


def build_signals_router(*, service: TradingService) -> APIRouter:
    router = APIRouter(prefix="/signals", tags=["signals"])

    # The body is serialized here, once; ``response_model`` only documents it (OpenAPI).
    @router.get(
        "",
        summary="The tenant's issued signals, newest first",
        response_model=dict[str, Any],
    )
    async def list_signals(
        principal: Reader,
        symbol: Annotated[str | None, Query(description="e.g. EURUSD; all when absent")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response:
        wanted = symbol.strip().upper() if symbol and symbol.strip() else None
        stored = await service.recent_stored_signals(principal.tenant, symbol=wanted, limit=limit)
        return Response(listing_json(stored), media_type=JSON_MEDIA_TYPE)

    return router


def build_trading_router(*, service: TradingService) -> APIRouter:
    """``/signals`` and ``/trading/...`` (mounted under ``/api/v1``)."""
    router = APIRouter()
    router.include_router(build_signals_router(service=service))
    trading = APIRouter(prefix="/trading", tags=["trading"])

    @trading.get("/paper", summary="The tenant's paper-trading account")
    async def paper_account(
        principal: Reader,
        curve_points: Annotated[int, Query(ge=0, le=10_080)] = 500,
    ) -> dict[str, Any]:
        tenant_id = str(principal.tenant_id)
        accounts = await service.paper_accounts_of(tenant_id)
        return accounts.account_view(tenant_id, curve_points=curve_points)

    @trading.get(
        "/attribution",
        summary="P&L and hit rate by model, symbol, regime and signal reason",
        description=(
            "Closed trades count for the signal that opened them; open positions with their "
            "unrealized P&L. `total.pnl + swaps == account_pnl` (equity - starting balance)."
        ),
    )
    async def attribution(principal: Reader) -> dict[str, Any]:
        tenant_id = str(principal.tenant_id)
        return (await service.paper_accounts_of(tenant_id)).attribution(tenant_id).to_dict()

    router.include_router(trading)
    return router
