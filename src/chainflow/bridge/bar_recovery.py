"""Continue a symbol's bars after a restart from what the store holds, clean stop or crash.

A clean stop persists every open bar (``MultiTimeframeAggregator.flush``); a kill -9 does
not, and may even end between storing ticks and persisting the bar they closed. Resent
ticks cannot fill the gap: the store refuses them as already stored, so bars are built
only from ticks stored for the first time. So on a symbol's first tick in a process, each
timeframe continues from its latest persisted bar and replays the stored ticks after that
bar's last tick: the open bar regains every tick stored before the restart, and a bar that
closed without being persisted is closed again (to persist and publish; a consumer takes
a repeated bar as a redelivery).
"""

from __future__ import annotations

from chainflow.bridge.bar_aggregator import MultiTimeframeAggregator
from chainflow.bridge.bar_table import read_bars
from chainflow.bridge.bars import AggregatedBar, BarEvent, BarRevised
from chainflow.core.ids import TenantId
from chainflow.storage.api import TICKS_TABLE, TimeSeriesStore

LATEST_MS = 2**62
"""An end_ms after every stored tick and bar."""

MAX_REPLAY_MS = 2 * 86_400_000
"""A persisted bar older than this before the last stored tick is not continued: the bars
restart at the last tick's buckets, so a restart never reads more than two days of ticks."""


async def recover_bars(
    store: TimeSeriesStore,
    tenant_id: TenantId,
    symbol: str,
    aggregator: MultiTimeframeAggregator,
) -> list[tuple[AggregatedBar, bool]]:
    """Rebuild ``symbol``'s open bars in ``aggregator`` from the store; return closed bars.

    Each returned pair is a bar the replay closed and whether it revised an earlier one;
    the caller persists and publishes them as it does for live ticks.
    """
    latest = await store.scan(
        TICKS_TABLE.name,
        tenant_id=tenant_id,
        symbol=symbol,
        start_ms=0,
        end_ms=LATEST_MS,
        limit=1,
        descending=True,
    )
    last_ts = int(latest[0]["ts"]) if latest else None
    starts: dict[int, int] = {}  # timeframe index -> first tick ts to replay into it
    continued: list[AggregatedBar] = []
    for index, timeframe in enumerate(aggregator.timeframes):
        persisted = await read_bars(store, tenant_id, symbol, timeframe, end_ms=LATEST_MS, count=1)
        bar = persisted[-1] if persisted else None
        if bar is not None and (last_ts is None or bar.last_tick_ts >= last_ts - MAX_REPLAY_MS):
            continued.append(bar)  # bars stored without ticks (imported history) continue too
            starts[index] = bar.last_tick_ts + 1
        elif last_ts is not None:
            starts[index] = timeframe.bucket_start_ms(last_ts)
    first = min(starts.values(), default=LATEST_MS)
    # A clean stop leaves first > last_ts: every persisted open bar already holds every tick.
    replay = last_ts is not None and first <= last_ts
    ticks = (
        await store.scan_ticks(tenant_id, symbol, first, last_ts + 1)
        if replay and last_ts is not None
        else []
    )
    # From here on nothing awaits, so no live tick reaches these builders before the replay.
    if symbol in aggregator.symbols:
        return []  # another connection of the tenant recovered the symbol meanwhile
    builders = aggregator.add_symbol(symbol)
    aggregator.restore(continued)
    closed: list[tuple[AggregatedBar, bool]] = []
    for tick in ticks:
        for index, builder in enumerate(builders):
            if tick.ts >= starts[index]:
                events: tuple[BarEvent, ...] = builder.update(tick)
                closed += [(event.bar, isinstance(event, BarRevised)) for event in events]
    return closed
