"""``StoredBarReader``: how a command reads the bars stored for the tenant of a user.

Commands below ``runtime`` (``train``, ``backtest``, ``optimize``, ``walkforward``) cannot
open the store themselves: an embedded store is held by the server while it runs. The CLI
hands them a reader that goes through that server when one owns the home, and opens the
store itself otherwise.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from chainflow.bridge.bars import AggregatedBar
from chainflow.core.market import Timeframe


class StoredBars(NamedTuple):
    """Bars read for a tenant, oldest first, and the tenant they belong to."""

    tenant_id: str
    bars: list[AggregatedBar]


class StoredBarReader(Protocol):
    """Reads a tenant's stored bars, the tenant named by one of its users' e-mail."""

    def __call__(
        self,
        email: str,
        symbol: str,
        timeframe: Timeframe,
        *,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
    ) -> StoredBars:
        """Return the tenant's latest ``limit`` bars of ``timeframe`` opened in
        ``[start_ms, end_ms)`` (open bounds: from the first, until now), oldest first; raise
        ``NotFound`` for an unknown e-mail."""
        ...
