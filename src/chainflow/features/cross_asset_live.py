"""Live cross-asset state of one tenant in one timeframe: correlation and currency strength.

The features service feeds every closed bar's close here. The symbols are those of the
tenant seen in that timeframe (sorted, at most ``max_symbols``: later ones are left out and
counted). A new symbol changes the matrix's shape, so the tracker is rebuilt from the stored
bars of every symbol (the same happens for a revised bar); otherwise each close is an O(k²)
incremental update of ``RollingCorrelation``. Each complete row (every symbol has a bar at
that open time) yields a ``CorrelationUpdated`` event once the window is full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chainflow.features.cross_asset import RollingCorrelation
from chainflow.features.currency_strength import currency_strength
from chainflow.features.events import CorrelationUpdated, finite_or_none


class TenantCrossAsset:
    """Rolling correlation of one tenant's symbols in one timeframe."""

    def __init__(self, tenant_id: str, timeframe: str, window: int, max_symbols: int) -> None:
        self.tenant_id = tenant_id
        self.timeframe = timeframe
        self.window = window
        self.max_symbols = max_symbols
        self.symbols: tuple[str, ...] = ()
        self.left_out: set[str] = set()
        self._tracker: RollingCorrelation | None = None

    def wants(self, symbol: str) -> bool:
        """Return whether ``symbol`` is new here and would join (a rebuild is needed)."""
        if symbol in self.symbols or symbol in self.left_out:
            return False
        if len(self.symbols) >= self.max_symbols:
            self.left_out.add(symbol)
            return False
        return True

    def rebuild(
        self, symbols: Sequence[str], closes: Mapping[str, Sequence[tuple[int, float]]]
    ) -> None:
        """Start over with ``symbols`` and replay their stored ``(ts, close)`` in time order."""
        self.symbols = tuple(sorted(symbols))
        self._tracker = None
        if len(self.symbols) < 2:
            return
        tracker = RollingCorrelation(self.symbols, self.window)
        merged = sorted(
            (ts, symbol, close) for symbol in self.symbols for ts, close in closes.get(symbol, ())
        )
        for ts, symbol, close in merged:
            tracker.update(symbol, ts, close)
        self._tracker = tracker

    def update(self, symbol: str, ts: int, close: float) -> CorrelationUpdated | None:
        """Add one close; return the event when it completed a row of a full window."""
        tracker = self._tracker
        if tracker is None or symbol not in self.symbols:
            return None
        before = tracker.count
        tracker.update(symbol, ts, close)
        if tracker.count == before or not tracker.is_ready:
            return None
        return self.event()

    def event(self) -> CorrelationUpdated | None:
        """Return the current state as an event, or ``None`` before the window is full."""
        tracker = self._tracker
        if tracker is None or not tracker.is_ready or tracker.last_complete_ts is None:
            return None
        sums = tracker.window_return_sums()
        try:
            strength = currency_strength(dict(zip(self.symbols, sums.tolist(), strict=True)))
        except ValueError:  # two symbols of the same pair (EURUSD and EURUSD.a)
            strength = {}
        return CorrelationUpdated(
            tenant_id=self.tenant_id,
            timeframe=self.timeframe,
            ts=tracker.last_complete_ts,
            window=self.window,
            symbols=self.symbols,
            matrix=tuple(
                tuple(finite_or_none(v) for v in row) for row in tracker.matrix().tolist()
            ),
            currency_strength=strength,
        )
