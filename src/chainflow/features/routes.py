"""``/api/v1/features``: latest vectors, cross-asset correlation, feature set definitions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from chainflow.bridge.api import SymbolNormalizer
from chainflow.core.auth import Permission, Principal
from chainflow.core.clock import Clock
from chainflow.core.errors import InvalidInput, NotFound
from chainflow.core.market import Timeframe
from chainflow.features.correlation_report import correlation_report
from chainflow.features.events import finite_or_none
from chainflow.features.feature_table import read_latest_vector
from chainflow.features.sets import FEATURE_SETS, FeatureSet
from chainflow.gateway.api import require_permission
from chainflow.storage.api import TimeSeriesStore

MarketReader = Annotated[Principal, Depends(require_permission(Permission.MARKET_READ))]


class FeatureSetOut(BaseModel):
    key: str
    fingerprint: str
    names: list[str]
    warmup_bars: int
    definition: dict[str, Any]


class LatestFeaturesOut(BaseModel):
    symbol: str
    timeframe: Timeframe
    ts: int
    feature_set: str
    fingerprint: str
    features: dict[str, float | None]
    regime: dict[str, Any] | None


class LeadLagOut(BaseModel):
    leader: str
    follower: str
    best_lag: int
    correlation: float | None


class CorrelationOut(BaseModel):
    timeframe: Timeframe
    window: int
    rows: int
    ts: int
    symbols: list[str]
    matrix: list[list[float | None]]
    currency_strength: dict[str, float]
    lead_lag: list[LeadLagOut]


def build_features_router(
    *,
    store: TimeSeriesStore,
    clock: Clock,
    feature_set: FeatureSet,
    max_symbols: int,
) -> APIRouter:
    router = APIRouter(prefix="/features", tags=["features"])
    normalizer = SymbolNormalizer()

    def symbol_of(raw: str) -> str:
        symbol = normalizer.normalize(raw.strip())
        if symbol is None:
            raise InvalidInput(f"expected a symbol such as EURUSD; received {raw[:40]!r}")
        return symbol

    @router.get("/sets", summary="The built-in feature sets: names in vector order, fingerprint")
    async def list_feature_sets(_principal: MarketReader) -> list[FeatureSetOut]:
        return [
            FeatureSetOut(
                key=fs.key,
                fingerprint=fs.fingerprint,
                names=list(fs.names),
                warmup_bars=fs.warmup_bars,
                definition=fs.to_dict(),
            )
            for fs in FEATURE_SETS.values()
        ]

    @router.get("/latest", summary="The newest feature vector and regime of a symbol")
    async def latest_features(
        principal: MarketReader, symbol: str, timeframe: Timeframe = Timeframe.M1
    ) -> LatestFeaturesOut:
        name = symbol_of(symbol)
        stored = await read_latest_vector(
            store, principal.tenant_id, name, timeframe.value, feature_set
        )
        if stored is None:
            raise NotFound(
                f"no features for {name} {timeframe.value} yet; expected closed bars of it "
                "(stream ticks to /ws/ticks or import bars)"
            )
        return LatestFeaturesOut(
            symbol=name,
            timeframe=timeframe,
            ts=stored.ts,
            feature_set=feature_set.key,
            fingerprint=feature_set.fingerprint,
            features={
                n: finite_or_none(v) for n, v in zip(feature_set.names, stored.values, strict=True)
            },
            regime=stored.regime,
        )

    @router.get("/correlation", summary="Rolling correlation, currency strength and lead-lag")
    async def correlation(
        principal: MarketReader,
        symbols: Annotated[str, Query(description="comma-separated, e.g. EURUSD,GBPUSD")],
        timeframe: Timeframe = Timeframe.H1,
        window: Annotated[int, Query(ge=3, le=5000)] = 100,
        max_lag: Annotated[int, Query(ge=0, le=50, description="lead-lag lags; 0 = none")] = 5,
    ) -> CorrelationOut:
        names = list(dict.fromkeys(symbol_of(s) for s in symbols.split(",") if s.strip()))
        if not 2 <= len(names) <= max_symbols:
            raise InvalidInput(
                f"expected 2 to {max_symbols} distinct symbols; received {len(names)}"
            )
        report = await correlation_report(
            store,
            principal.tenant_id,
            names,
            timeframe,
            window=window,
            max_lag=max_lag,
            end_ms=clock.now_ms() + 1,
        )
        return CorrelationOut(**report)

    return router
