"""The features service's live cross-asset feed: each closed bar into its tenant's tracker.

One ``TenantCrossAsset`` per (tenant, timeframe): a bar of a symbol the tracker does not
hold yet (or a revised one) rebuilds it from the stored closes of every symbol; any other
bar is an incremental update. Each complete row publishes ``CorrelationUpdated`` on
``features.correlation.<tenant>.<tf>``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from chainflow.bridge.api import BarPublished, read_bars
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.core.settings import FeaturesSettings
from chainflow.features.cross_asset_live import TenantCrossAsset
from chainflow.features.events import correlation_topic
from chainflow.hub.api import EventBus
from chainflow.storage.api import TimeSeriesStore

LATEST = 2**62  # an end_ms after every stored bar
CrossKey = tuple[str, Timeframe]
StoredCloses = list[tuple[int, float]]  # (ts, close) of one symbol's stored bars, oldest first


class CrossAssetFeed:
    """Live correlation and currency strength per tenant and timeframe."""

    def __init__(
        self, *, bus: EventBus, store: TimeSeriesStore, settings: FeaturesSettings
    ) -> None:
        self._bus, self._store, self._settings = bus, store, settings
        self._trackers: dict[CrossKey, TenantCrossAsset] = {}
        self._locks: dict[CrossKey, asyncio.Lock] = {}

    def forget(self, where: Callable[[str], bool]) -> None:
        """Drop the trackers of the tenants ``where`` selects (consumed elsewhere now)."""
        for key in [k for k in self._trackers if where(k[0])]:
            del self._trackers[key]

    def recent_closes(self, ts: NDArray[np.float64], close: NDArray[np.float64]) -> StoredCloses:
        """The ``(ts, close)`` a tracker replays, from the columns of stored bars."""
        count = 2 * self._settings.correlation_window + 2
        return list(
            zip(ts[-count:].astype(np.int64).tolist(), close[-count:].tolist(), strict=True)
        )

    async def warm(
        self, tenant_id: str, timeframe: Timeframe, closes: Mapping[str, StoredCloses]
    ) -> None:
        """Build the tracker of ``tenant_id`` in ``timeframe`` from the stored closes of its
        declared symbols (a terminal's hello), unless one is held already: the symbols'
        first bars are then incremental updates, not a store read per symbol."""
        key = (tenant_id, timeframe)
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key in self._trackers:
                return
            cross = self._new_tracker(tenant_id, timeframe)
            declared = list(closes)  # in the declared order: the first ones join, as live
            cross.left_out.update(declared[cross.max_symbols :])
            cross.rebuild(declared[: cross.max_symbols], closes)
            self._trackers[key] = cross

    def _new_tracker(self, tenant_id: str, timeframe: Timeframe) -> TenantCrossAsset:
        return TenantCrossAsset(
            tenant_id,
            timeframe.value,
            self._settings.correlation_window,
            self._settings.correlation_max_symbols,
        )

    async def update(self, bar: BarPublished, timeframe: Timeframe) -> bool:
        """Feed ``bar``'s close; return whether a correlation update was published."""
        key = (bar.tenant_id, timeframe)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cross = self._trackers.get(key)
            if cross is None:
                cross = self._trackers[key] = self._new_tracker(bar.tenant_id, timeframe)
            if cross.wants(bar.symbol) or (bar.revised and bar.symbol in cross.symbols):
                symbols = sorted({*cross.symbols, bar.symbol})
                count = 2 * cross.window + 2
                closes = {
                    s: await self._stored_closes(bar.tenant_id, s, timeframe, count)
                    for s in symbols
                }
                cross.rebuild(symbols, closes)
                event = cross.event()
            else:
                event = cross.update(bar.symbol, bar.ts, bar.close)
            if event is None:
                return False
            await self._bus.publish(
                correlation_topic(bar.tenant_id, timeframe.value), event.to_json()
            )
            return True

    async def _stored_closes(
        self, tenant_id: str, symbol: str, timeframe: Timeframe, count: int
    ) -> StoredCloses:
        """Return ``(ts, close)`` of the latest ``count`` stored bars of one symbol."""
        bars = await read_bars(
            self._store, TenantId(tenant_id), symbol, timeframe, end_ms=LATEST, count=count
        )
        return [(b.ts, b.close) for b in bars]
