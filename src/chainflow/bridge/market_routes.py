"""``GET /api/v1/market/bars``, ``/ticks``, ``/quarantine``: a tenant's market data, paginated."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from chainflow.bridge.quarantine import MAX_RELEASE_TICKS, TickQuarantine
from chainflow.bridge.service import BridgeService
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.usage import UsageMeter
from chainflow.core.auth import Permission, Principal
from chainflow.core.clock import Clock
from chainflow.core.errors import InvalidInput
from chainflow.core.market import Timeframe
from chainflow.gateway.api import require_permission
from chainflow.storage.api import TimeSeriesStore

DAY_MS = 86_400_000
MAX_LIMIT = 5000
MAX_END_MS = 2**62
MarketReader = Annotated[Principal, Depends(require_permission(Permission.MARKET_READ))]
TenantManager = Annotated[Principal, Depends(require_permission(Permission.TENANT_MANAGE))]


class BarOut(BaseModel):
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    tick_count: int


class TickOut(BaseModel):
    ts: int
    bid: float
    ask: float
    volume: float


class BarsPage(BaseModel):
    symbol: str
    timeframe: Timeframe
    items: list[BarOut]
    next_start: int | None


class TicksPage(BaseModel):
    symbol: str
    items: list[TickOut]
    next_start: int | None


class QuarantinedTickOut(BaseModel):
    ts: int
    bid: float
    ask: float
    volume: float
    reason: str = Field(description="price_band, new_symbol or price_spike")
    held_at: int = Field(description="server time the tick was quarantined, epoch ms")


class QuarantineOut(BaseModel):
    symbol: str
    items: list[QuarantinedTickOut]
    next_start: int | None


class QuarantineReleaseIn(BaseModel):
    symbol: str = Field(min_length=1, max_length=64, examples=["EURUSD"])
    start: int | None = Field(default=None, description="epoch ms, inclusive")
    end: int | None = Field(default=None, description="epoch ms, exclusive")


class QuarantineReleaseOut(BaseModel):
    symbol: str
    released: int = Field(description="held ticks released (stored unless already stored)")
    stored: int = Field(description="released ticks that were new to the stored ticks")
    next_start: int | None = Field(description=f"set when more than {MAX_RELEASE_TICKS} matched")


class AliasesIn(BaseModel):
    aliases: dict[str, str]


class AliasesOut(BaseModel):
    aliases: dict[str, str]


class UsageDay(BaseModel):
    day: int
    ticks: int
    messages: int


class UsageOut(BaseModel):
    items: list[UsageDay]


def build_market_router(
    *, store: TimeSeriesStore, clock: Clock, usage: UsageMeter, service: BridgeService
) -> APIRouter:
    router = APIRouter(prefix="/market", tags=["market"])
    normalizer = SymbolNormalizer()
    quarantine = TickQuarantine(store, clock)

    def window(principal: Principal, start: int | None, end: int | None) -> tuple[int, int]:
        now = clock.now_ms()
        oldest = now - principal.limits.data_retention_days * DAY_MS
        stop = now + 1 if end is None else min(end, MAX_END_MS)  # an int64 for every store
        begin = oldest if start is None else max(start, oldest)
        if begin >= stop:
            raise InvalidInput(
                f"expected start < end inside the tier's {principal.limits.data_retention_days}"
                f"-day retention; received start={start}, end={end}"
            )
        return begin, stop

    def symbol_of(raw: str) -> str:
        symbol = normalizer.normalize(raw)
        if symbol is None:
            raise InvalidInput(f"expected a symbol such as EURUSD; received {raw[:40]!r}")
        return symbol

    @router.get("/bars", summary="OHLCV bars (bid) of a symbol, computed from stored ticks")
    async def list_bars(
        principal: MarketReader,
        symbol: str,
        timeframe: Timeframe = Timeframe.M1,
        start: Annotated[int | None, Query(description="epoch ms, inclusive")] = None,
        end: Annotated[int | None, Query(description="epoch ms, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 500,
    ) -> BarsPage:
        name = symbol_of(symbol)
        begin, stop = window(principal, start, end)
        bars = await store.ohlcv(principal.tenant_id, name, timeframe, begin, stop)
        page, more = bars[:limit], len(bars) > limit
        return BarsPage(
            symbol=name,
            timeframe=timeframe,
            items=[BarOut(**_bar_fields(b)) for b in page],
            next_start=page[-1].ts + timeframe.milliseconds if more else None,
        )

    @router.get("/ticks", summary="Stored ticks of a symbol, oldest first")
    async def list_ticks(
        principal: MarketReader,
        symbol: str,
        start: Annotated[int | None, Query(description="epoch ms, inclusive")] = None,
        end: Annotated[int | None, Query(description="epoch ms, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    ) -> TicksPage:
        name = symbol_of(symbol)
        begin, stop = window(principal, start, end)
        ticks = await store.scan_ticks(principal.tenant_id, name, begin, stop, limit=limit + 1)
        next_start: int | None = None
        if len(ticks) > limit:
            # Never split a millisecond across pages: the next page starts at the last ts.
            last_ts = ticks[limit].ts
            ticks = [t for t in ticks[:limit] if t.ts < last_ts] or ticks[:limit]
            next_start = last_ts if ticks[-1].ts < last_ts else last_ts + 1
        items = [TickOut(ts=t.ts, bid=t.bid, ask=t.ask, volume=t.volume) for t in ticks]
        return TicksPage(symbol=name, items=items, next_start=next_start)

    @router.get("/quarantine", summary="Ticks held as implausible (not stored), oldest first")
    async def list_quarantine(
        principal: MarketReader,
        symbol: str,
        start: Annotated[int | None, Query(description="epoch ms, inclusive")] = None,
        end: Annotated[int | None, Query(description="epoch ms, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    ) -> QuarantineOut:
        name = symbol_of(symbol)
        begin, stop = window(principal, start, end)
        page = await quarantine.list_held(principal.tenant_id, name, begin, stop, limit)
        items = [
            QuarantinedTickOut(
                ts=item.tick.ts,
                bid=item.tick.bid,
                ask=item.tick.ask,
                volume=item.tick.volume,
                reason=item.reason,
                held_at=item.held_at,
            )
            for item in page.items
        ]
        return QuarantineOut(symbol=name, items=items, next_start=page.next_start)

    @router.post(
        "/quarantine/release", summary="Store the quarantined ticks of a symbol in [start, end)"
    )
    async def release_quarantine(
        body: QuarantineReleaseIn, principal: TenantManager
    ) -> QuarantineReleaseOut:
        name = symbol_of(body.symbol)
        begin, stop = window(principal, body.start, body.end)
        result = await quarantine.release(principal.tenant_id, name, begin, stop)
        return QuarantineReleaseOut(
            symbol=name,
            released=result.released,
            stored=result.stored,
            next_start=result.next_start,
        )

    @router.get("/aliases", summary="The tenant's broker symbol aliases (EURUSD.m -> EURUSD)")
    async def get_aliases(principal: MarketReader) -> AliasesOut:
        return AliasesOut(aliases=await service.aliases(principal.tenant))

    @router.put("/aliases", summary="Replace the broker symbol aliases; applies to new ticks")
    async def put_aliases(body: AliasesIn, principal: TenantManager) -> AliasesOut:
        return AliasesOut(aliases=await service.replace_aliases(principal.tenant, body.aliases))

    @router.get("/usage", summary="Ticks and messages ingested per UTC day (for billing)")
    async def get_usage(
        principal: MarketReader, days: Annotated[int, Query(ge=1, le=366)] = 7
    ) -> UsageOut:
        found = await usage.daily(principal.tenant_id, days)
        return UsageOut(
            items=[UsageDay(day=d.day_ms, ticks=d.ticks, messages=d.messages) for d in found]
        )

    return router


def _bar_fields(bar: Any) -> dict[str, Any]:
    return {
        "ts": bar.ts,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "tick_count": bar.tick_count,
    }
