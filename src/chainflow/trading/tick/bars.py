"""The closed bars of one key of the tick hot path (``trading.tick.path``).

A key's ``KeyState`` is built from the stored bars (``build_key_state``: on its first tick,
after a model change or once marked stale), advanced by each closed bar
(``advance_key_state``) and given each in-order tick's forming bar (``extend_forming_bar``),
whose first tick of a new bar commits the forming one as closed.

A forming bar begun mid-bar (the first after a build, or after a gap) is *partial*: it
lacks the bar's earlier ticks. Committing it records the state before it (``BarUndo``,
an in-place checkpoint), and the bridge's bar of that time, when it differs, replaces it
(``redo_last_bar``; ``apply_published_bar`` decides what a published bar does). Before,
that difference marked the key stale and rebuilt it from the stored bars, whose next
forming bar began mid-bar again: under load about half the keys were rebuilt at every
close of the model's timeframe.
"""

from __future__ import annotations

from collections import deque

from chainflow.bridge.api import read_latest_bar_columns
from chainflow.core.ids import TenantId
from chainflow.core.market import OHLCV, Timeframe
from chainflow.core.process_lane import URGENT
from chainflow.features.api import (
    SymbolPipeline,
    bar_of,
    get_feature_set,
    replayed,
    stored_bar_columns,
)
from chainflow.ml.api import ServedModel
from chainflow.storage.api import TimeSeriesStore
from chainflow.trading.tick.state import BarUndo, FormingBar, KeyState, same_bar


async def build_key_state(
    store: TimeSeriesStore, tenant_id: str, symbol: str, first_ts: int, model: ServedModel
) -> KeyState:
    """Return the state of a key for ``model`` from the bars stored before the bar of
    ``first_ts`` (the key's forming bar then starts at its next tick)."""
    timeframe = Timeframe(model.version.timeframe or "M5")
    feature_set = get_feature_set(model.version.feature_set)
    window = max(1, model.bundle.window - 1)
    stored = await read_latest_bar_columns(
        store,
        TenantId(tenant_id),
        symbol,
        timeframe,
        end_ms=timeframe.bucket_start_ms(first_ts),
        count=SymbolPipeline(feature_set, timeframe).replay_bars_needed,
    )
    history = stored_bar_columns(stored)
    # The features replay runs in a worker process, before other keys' warm-ups (a tick is
    # waiting for it; the state is not shared yet, other keys' ticks keep flowing); the
    # ATR's short recursion is replayed here.
    replay = await replayed(feature_set, timeframe, None, history, keep=window, priority=URGENT)
    fresh = KeyState(model.version.id, timeframe, replay.pipeline)
    fresh.closed = deque(replay.tail, maxlen=window)
    for _, _, high, low, close, _, _ in history.tolist():
        fresh.atr.update_bar(high, low, close)
    if len(history):
        fresh.committed = bar_of(history[-1])
    return fresh


def advance_key_state(state: KeyState, bar: OHLCV, *, undoable: bool = False) -> None:
    """Advance the key's features, ATR and window of closed vectors by the closed ``bar``;
    ``undoable``: record the state before it first, for ``redo_last_bar``."""
    state.undo = None
    if undoable:
        checkpoint = state.pipeline.checkpoint()
        closed = tuple(state.closed)
        state.undo = BarUndo(bar.ts, checkpoint, state.atr.snapshot(), closed, state.committed)
    output = state.pipeline.update(bar)
    state.committed = bar
    state.atr.update_bar(bar.high, bar.low, bar.close)
    if state.closed.maxlen:
        state.closed.append(output.values)
    if state.forming is not None and state.forming.ts <= bar.ts:
        state.forming = None


def extend_forming_bar(state: KeyState, ts: int, bid: float, ask: float, volume: float) -> None:
    """Add an in-order tick to the key's forming bar (committing the previous one if closed)."""
    bucket = state.timeframe.bucket_start_ms(ts)
    last = state.pipeline.last_ts
    if last is not None and bucket <= last:
        return  # a tick of a bar already closed here (the bridge revises it)
    forming = state.forming
    partial = True  # begun after a build or a gap: the bar's earlier ticks may be missing
    if forming is not None and bucket > forming.ts:
        # the bar closed: commit it now (undoably if partial: the bridge's bar replaces it)
        advance_key_state(state, forming.values(), undoable=forming.partial)
        forming, partial = None, False
    if forming is None:
        state.forming = FormingBar(bucket, bid, bid, bid, bid, volume, ask - bid, 1, partial)
    elif bucket == forming.ts:
        forming.add(bid, ask, volume)


def redo_last_bar(state: KeyState, bar: OHLCV) -> bool:
    """Replace the key's last bar, committed from a partial forming bar, by the bridge's
    ``bar`` of the same time: the state is put back as before it and advanced by ``bar``,
    as if this process had seen every tick. False (nothing done) without such an undo."""
    undo = state.undo
    if undo is None or undo.ts != bar.ts:
        return False
    state.pipeline.rollback(undo.pipeline)
    state.atr.restore(undo.atr)
    state.closed.clear()
    state.closed.extend(undo.closed)
    state.committed = undo.committed
    advance_key_state(state, bar)
    return True


def apply_published_bar(state: KeyState, bar: OHLCV, *, revised: bool) -> None:
    """Apply the bridge's closed ``bar`` of the key's timeframe to ``state``: equal to the
    bar committed here, nothing; a bar committed from a partial forming bar, replaced in
    place; a bar not seen here, advanced by; a revised or older bar, or a last bar seen
    differently, marks the state stale (rebuilt from the stored bars on the next tick)."""
    last = state.pipeline.last_ts
    if last is not None and bar.ts == last:
        if same_bar(state.committed, bar) and not revised:
            return
        if not redo_last_bar(state, bar):
            state.stale = True  # this process saw the bar differently: rebuild it
        return
    if revised or (last is not None and bar.ts < last):
        state.stale = True
        return
    advance_key_state(state, bar)
