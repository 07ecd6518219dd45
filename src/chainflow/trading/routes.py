"""The trading engine's routes: signals, the paper account and its attribution.

- ``GET /api/v1/signals``: the tenant's issued signals, newest first.
- ``GET /api/v1/trading/paper``: the tenant's paper account (summary, positions, queued
  orders, recent trades, reconciled MT5 fills, equity curve).
- ``GET /api/v1/trading/attribution``: P&L and hit rate by model, symbol, regime and reason.

The signals listing is the hottest authenticated read (benchmarks/http.py). Its route
(``_ListingRoute``) answers a request whose query it can read at a glance (no key other
than ``symbol`` and ``limit``, each at most once, ``limit`` a plain number in range) by
calling the same ``Reader`` dependency and the same listing as FastAPI would, without
FastAPI's dependency solving and query validation: about 100 of the ~680 µs of server CPU
per request on PostgreSQL. Any other query (a malformed or out-of-range ``limit``, a repeated key,
anything unknown), a dependency override, or a request FastAPI's telemetry is recording
goes through FastAPI's handler as before, so errors, their order (authentication before
parameters) and their shapes stay FastAPI's; tests compare both paths.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Coroutine, Iterable
from typing import Annotated, Any, NamedTuple

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission
from chainflow.trading.events import SignalIssued
from chainflow.trading.service import TradingService
from chainflow.trading.signal_listing import listing_json

_READER = require_permission(Permission.SIGNALS_READ)
Reader = Annotated[Principal, Depends(_READER)]
JSON_MEDIA_TYPE = "application/json"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# A ``limit`` the listing's route reads itself: digits without a sign, a space or a leading
# zero (FastAPI's validation decides every other spelling, and every refusal).
_PLAIN_LIMIT = re.compile(r"[1-9][0-9]{0,3}")
_LISTING_QUERY_NAMES = frozenset({"symbol", "limit"})
RouteHandler = Callable[[Request], Coroutine[Any, Any, Response]]
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


class ListingQuery(NamedTuple):
    """The listing's query parameters, as FastAPI's validation would hand them over."""

    symbol: str | None
    limit: int


def plain_listing_query(request: Request) -> ListingQuery | None:
    """Return the request's ``symbol`` and ``limit`` when reading them needs no validation
    (see the module doc), else ``None``: FastAPI's handler then validates the query."""
    params = request.query_params
    pairs = params.multi_items()
    names = {name for name, _ in pairs}
    if len(names) != len(pairs) or not names <= _LISTING_QUERY_NAMES:
        return None
    limit = DEFAULT_LIMIT
    text = params.get("limit")
    if text is not None:
        if not _PLAIN_LIMIT.fullmatch(text):
            return None
        limit = int(text)
        if limit > MAX_LIMIT:
            return None
    return ListingQuery(params.get("symbol"), limit)


class _ListingRoute(APIRoute):
    """The listing's route: FastAPI's handler, with a shortcut for a plain query.

    The shortcut is built only when the route's dependencies are exactly the ``Reader`` and
    the two query parameters (an including router that added a dependency keeps FastAPI's
    handler whole). ``listing`` is the endpoint's own body, given the caller and the query.
    """

    listing: Callable[[Principal, ListingQuery], Coroutine[Any, Any, Response]]

    def get_route_handler(self) -> RouteHandler:
        solved = super().get_route_handler()
        # As FastAPI's own (0.165, a private name): a route included under a router is built
        # with the included context (its dependencies added to the route's), set meanwhile.
        # Another FastAPI without that name, or without its telemetry, keeps its handler
        # whole: the pyproject admits releases this shortcut was not written for.
        context_var = getattr(fastapi_routing, "_effective_route_context_var", None)
        recording = _telemetry_reader()
        if context_var is None or recording is None:
            return solved
        context = context_var.get()
        route: Any = self
        if context is not None and context.original_route is self:
            route = context
        if route.dependant is None or not _is_reader_and_query(route.dependant):
            return solved
        listing = type(self).listing
        overrides = route.dependency_overrides_provider

        async def handler(request: Request) -> Response:
            query = plain_listing_query(request)
            if (
                query is None
                or (overrides is not None and getattr(overrides, "dependency_overrides", None))
                or recording() is not None
            ):
                return await solved(request)
            principal = await _READER(request)
            return await listing(principal, query)

        return handler


def _telemetry_reader() -> Callable[[], object] | None:
    """Return FastAPI's ``get_telemetry_data`` (a request it records goes through its own
    handler), or None when this FastAPI has none."""
    try:
        telemetry = importlib.import_module("fastapi.telemetry")
    except ImportError:
        return None
    reader = getattr(telemetry, "get_telemetry_data", None)
    return reader if callable(reader) else None


def _is_reader_and_query(dependant: Dependant) -> bool:
    """Whether FastAPI solves, for ``dependant``, the ``Reader`` and the listing's query
    parameters and nothing else."""
    return (
        [sub.call for sub in dependant.dependencies] == [_READER]
        and not dependant.dependencies[0].dependencies
        and {param.name for param in dependant.query_params} == _LISTING_QUERY_NAMES
        and not (dependant.path_params or dependant.header_params or dependant.cookie_params)
        and not dependant.body_params
    )


def build_signals_router(*, service: TradingService) -> APIRouter:
    async def list_for(principal: Principal, query: ListingQuery) -> Response:
        symbol = query.symbol
        wanted = symbol.strip().upper() if symbol and symbol.strip() else None
        stored = await service.recent_stored_signals(
            principal.tenant, symbol=wanted, limit=query.limit
        )
        return Response(listing_json(stored), media_type=JSON_MEDIA_TYPE)

    class ListingRoute(_ListingRoute):
        listing = staticmethod(list_for)

    router = APIRouter(prefix="/signals", tags=["signals"], route_class=ListingRoute)

    # The body is serialized here, once; ``response_model`` only documents it (OpenAPI).
    @router.get(
        "",
        summary="The tenant's issued signals, newest first",
        response_model=dict[str, Any],
    )
    async def list_signals(
        principal: Reader,
        symbol: Annotated[str | None, Query(description="e.g. EURUSD; all when absent")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> Response:
        return await list_for(principal, ListingQuery(symbol, limit))

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
