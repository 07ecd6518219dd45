"""Market data domain types: ``Tick``, ``Bar``, ``BarSeries`` and ``Timeframe``.

``Bar`` is one bar as an object (what ingestion builds and publishes); ``BarSeries``
(``core.bar_series``) is one symbol's bars as columns, the input of the backtester, the
training datasets and the batch feature matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from chainflow.core.bar_series import BarSeries
from chainflow.core.errors import InvalidInput

__all__ = ["Bar", "BarSeries", "Tick", "Timeframe", "parse_moment"]


class Timeframe(StrEnum):
    M1 = "M1"
    M5 = "M5"
    M15 = "M15"
    M30 = "M30"
    H1 = "H1"
    H4 = "H4"
    D1 = "D1"

    @property
    def milliseconds(self) -> int:
        return _TIMEFRAME_MS[self]

    def bucket_start_ms(self, ts_ms: int) -> int:
        """Return the open time of the bar that contains ``ts_ms`` (UTC-aligned)."""
        width = _TIMEFRAME_MS[self]
        return ts_ms - ts_ms % width


_TIMEFRAME_MS: dict[Timeframe, int] = {
    Timeframe.M1: 60_000,
    Timeframe.M5: 300_000,
    Timeframe.M15: 900_000,
    Timeframe.M30: 1_800_000,
    Timeframe.H1: 3_600_000,
    Timeframe.H4: 14_400_000,
    Timeframe.D1: 86_400_000,
}


@dataclass(frozen=True, slots=True)
class Tick:
    """One quote: epoch-millisecond ``ts``, ``bid``/``ask`` prices and tick ``volume``."""

    symbol: str
    ts: int
    bid: float
    ask: float
    volume: float = 0.0


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar; ``ts`` is the bar's open time in epoch milliseconds."""

    symbol: str
    timeframe: Timeframe
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    tick_count: int = 0


def parse_moment(option: str, value: str | None) -> int | None:
    """Return epoch ms of an ISO 8601 time (UTC unless it says otherwise) or of epoch ms.

    ``option`` names the input in the error (a CLI option such as ``--from``).
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"expected {option} as ISO 8601 (2026-01-05 or 2026-01-05T10:00Z) or epoch ms; "
            f"received {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
