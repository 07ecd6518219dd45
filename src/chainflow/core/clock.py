"""Injected time: a ``Clock`` protocol with a wall clock and a simulated clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Return epoch milliseconds UTC."""
        ...

    def now_us(self) -> int:
        """Return epoch microseconds UTC (latencies that cross processes)."""
        ...

    def now(self) -> datetime:
        """Return the current time as a tz-aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Return a monotonic reading in seconds, for durations."""
        ...


class WallClock:
    """The real time of this machine."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def now_us(self) -> int:
        return time.time_ns() // 1_000

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class SimulatedClock:
    """Time that moves only when told to (backtests and tests)."""

    def __init__(self, start_ms: int = 0) -> None:
        self._ms = start_ms

    def now_ms(self) -> int:
        return self._ms

    def now_us(self) -> int:
        return self._ms * 1_000

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._ms / 1000, tz=UTC)

    def monotonic(self) -> float:
        return self._ms / 1000

    def set_ms(self, ms: int) -> None:
        if ms < self._ms:
            raise ValueError(f"simulated time cannot go back: was {self._ms}, received {ms}")
        self._ms = ms

    def advance_ms(self, delta_ms: int) -> None:
        self.set_ms(self._ms + delta_ms)
