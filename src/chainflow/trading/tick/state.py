"""The per-key state of the tick hot path (``trading.tick.path``) and its small helpers."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainflow.bridge.api import TicksAccepted
from chainflow.core.market import OHLCV, BarRow, Timeframe
from chainflow.features.api import ATR, Checkpoint, RegimeState, SymbolPipeline
from chainflow.trading.decision.execution_plan import SpreadTracker
from chainflow.trading.tick.signal import SignalFrame, TickSignal

ATR_PERIOD = 14
MAX_REMEMBERED_CONNECTIONS = 100_000


@dataclass(slots=True)
class FormingBar:
    """The bar the ticks are building: bid OHLC as the bridge's bars, mean spread.

    ``partial``: begun by the key's first tick after its state was built (or after a gap),
    so it may lack the bar's earlier ticks; committing it records an undo (``BarUndo``).
    """

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    spread_sum: float
    ticks: int = 1
    partial: bool = False

    def add(self, bid: float, ask: float, volume: float) -> None:
        self.high = max(self.high, bid)
        self.low = min(self.low, bid)
        self.close = bid
        self.volume += volume
        self.spread_sum += ask - bid
        self.ticks += 1

    def values(self) -> BarRow:
        return BarRow(
            self.ts,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.spread_sum / self.ticks,
        )


@dataclass(frozen=True, slots=True)
class BarUndo:
    """The key's state before a partial forming bar was committed as the bar at ``ts``:
    the bridge's bar of ``ts`` replaces it in place (``bars.redo_last_bar``)."""

    ts: int
    pipeline: Checkpoint
    atr: dict[str, Any]
    closed: tuple[np.ndarray, ...]
    committed: OHLCV | None


@dataclass(slots=True)
class KeyState:
    model_id: str
    timeframe: Timeframe
    pipeline: SymbolPipeline
    atr: ATR = field(default_factory=lambda: ATR(ATR_PERIOD))
    closed: deque[np.ndarray] = field(default_factory=deque)
    forming: FormingBar | None = None
    committed: OHLCV | None = None  # the last closed bar fed to the pipeline
    stale: bool = False
    undo: BarUndo | None = None  # of the last bar, when it was committed from a partial bar


@dataclass(slots=True)
class TickPathStats:
    ticks: int = 0
    frames: int = 0
    scored: int = 0
    warming_up: int = 0
    warming: int = 0  # ticks answered while the key's state was being built
    no_model: int = 0
    rebuilds: int = 0
    bad_messages: int = 0
    coalesced: int = 0  # tick events answered with a later tick's score (under load)
    model_calls: int = 0  # model runs of the tick path (one per model and round)
    dropped_events: int = 0  # of a partition given up or whose lease was lost: unanswered


class LiveQuote:
    """A symbol's latest in-order quote and the rolling median of its spread."""

    __slots__ = ("ask", "bid", "spreads", "ts")

    def __init__(self, window: int, min_ticks: int) -> None:
        self.ts = 0
        self.bid = self.ask = math.nan
        self.spreads = SpreadTracker(window, min_ticks)

    def update(self, ts: int, bid: float, ask: float) -> None:
        self.ts, self.bid, self.ask = ts, bid, ask
        self.spreads.update(bid, ask)


def same_bar(mine: OHLCV | None, theirs: OHLCV) -> bool:
    """Whether the bridge's closed bar is the one this process committed from its ticks."""
    if mine is None or mine.ts != theirs.ts:
        return False
    prices = (mine.open, mine.high, mine.low, mine.close) == (
        theirs.open,
        theirs.high,
        theirs.low,
        theirs.close,
    )
    volume = math.isclose(mine.volume, theirs.volume, rel_tol=1e-9, abs_tol=1e-9)
    spreads = (mine.spread, theirs.spread)
    spread = any(math.isnan(s) for s in spreads) or math.isclose(*spreads, abs_tol=1e-12)
    return prices and volume and spread


def regime_fields(regime: RegimeState | None) -> dict[str, Any]:
    """The regime of the last closed bar as ``DecisionInput`` fields (none when unknown)."""
    if regime is None:
        return {}
    fields: dict[str, Any] = {}
    if regime.trend is not None:
        fields["trend"] = regime.trend.value
        p = regime.trend_probabilities.get(regime.trend.value, math.nan)
        fields["trend_probability"] = p if math.isfinite(p) else None
    if regime.volatility is not None:
        fields["volatility"] = regime.volatility.value
        p = regime.volatility_probabilities.get(regime.volatility.value, math.nan)
        fields["volatility_probability"] = p if math.isfinite(p) else None
    return fields


def regime_label(regime: RegimeState | None) -> str | None:
    """Return ``trend/volatility`` of a regime (``?`` for an unknown part), None if none."""
    if regime is None:
        return None
    trend = regime.trend.value if regime.trend is not None else "?"
    volatility = regime.volatility.value if regime.volatility is not None else "?"
    return f"{trend}/{volatility}"


class FrameSelector:
    """Which frames a tick event's connection gets for one score (``every_tick`` or
    ``on_change``: when the action differs from the last one sent or a new bar opened)."""

    def __init__(self) -> None:
        self._sent: dict[tuple[str, str], tuple[str, int]] = {}  # on_change: last sent

    def frames(
        self, event: TicksAccepted, state: KeyState | None, signal: TickSignal
    ) -> list[SignalFrame]:
        if event.signals == "every_tick":
            return [SignalFrame.of(signal, row.ts, row.seq) for row in event.ticks]
        last = event.ticks[-1]
        bar_ts = state.forming.ts if state is not None and state.forming is not None else -1
        key = (event.connection, event.symbol)
        if self._sent.get(key) == (signal.action, bar_ts):
            return []
        if len(self._sent) >= MAX_REMEMBERED_CONNECTIONS:
            del self._sent[next(iter(self._sent))]  # the oldest entry: a connection long gone
        self._sent[key] = (signal.action, bar_ts)
        return [SignalFrame.of(signal, last.ts, last.seq)]
