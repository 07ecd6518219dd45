"""Public interface of the trading engine: what the runtime and other services may import.

``TradingApi`` is what other services (the Telegram bot's data port) and the demo's replay
use of the trading service; in one process the runtime hands them the local
``trading.service.TradingService``. The service and its routers are the runtime's to build:
it imports them from ``trading.service`` and ``trading.routes``, and no other package may
(import contract "Only the runtime imports concrete services and routers").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from chainflow.core.tenancy import TenantContext
from chainflow.trading.account import functions as account
from chainflow.trading.decision.inputs import input_from_prediction
from chainflow.trading.decision.sizing import SizedSignal, SizingPolicy, size_decision
from chainflow.trading.decision.strategy import ModelStrategy, Strategy, StrategyContext
from chainflow.trading.decision.synthesis import (
    Action,
    Decision,
    DecisionInput,
    TradingPreferences,
)
from chainflow.trading.events import SignalIssued, connection_topic, signals_topic
from chainflow.trading.preferences import DefaultPreferences, TradingPreferencesSource

DEFAULT_CURVE_POINTS = 500
"""How many equity-curve points ``PaperAccounts.account_view`` returns by default."""


class PaperAccounts(Protocol):
    """The tenants' paper accounts, as other services read them (the paper desk)."""

    def account_view(
        self, tenant_id: str, curve_points: int = DEFAULT_CURVE_POINTS
    ) -> dict[str, Any]:
        """Return the tenant's account as ``GET /api/v1/trading/paper`` shows it: ``account``
        (summary, ``starting_balance``, ``day_start_equity``, ``halted``), ``positions``,
        ``trades`` and ``equity_curve`` (its last ``curve_points`` ``{ts, equity}`` points)."""
        ...


class TickProgressView(Protocol):
    """How far the tick path has run."""

    @property
    def processed_ticks(self) -> int:
        """Ticks run to the end (decided, and their paper orders queued) since the start."""
        ...


class TickPathView(Protocol):
    """The per-tick decision path, as a caller that paces ticks by it reads it."""

    @property
    def progress(self) -> TickProgressView: ...


class TradingApi(Protocol):
    """What other services ask the trading service (the local object in one process)."""

    @property
    def desk(self) -> PaperAccounts:
        """The tenants' paper accounts."""
        ...

    @property
    def tick_path(self) -> TickPathView:
        """The tick path, for the progress of the ticks it has run."""
        ...

    async def recent_signals(
        self, tenant: TenantContext, *, symbol: str | None, limit: int
    ) -> Sequence[SignalIssued]:
        """Return the tenant's newest stored signals (of ``symbol``, if given), newest first."""
        ...

    async def paper_accounts_of(self, tenant_id: str) -> PaperAccounts:
        """Return the paper accounts holding the tenant's book, loaded (with trading
        replicas, a copy of the last save when another replica runs the tenant)."""
        ...

    def decided_through(self, tenant_id: str, symbol: str, timeframe: str) -> int | None:
        """Return the open time of the key's last bar decided to the end; None before the
        first."""
        ...


__all__ = [
    "DEFAULT_CURVE_POINTS",
    "Action",
    "account",
    "Decision",
    "DecisionInput",
    "ModelStrategy",
    "PaperAccounts",
    "Strategy",
    "StrategyContext",
    "TickPathView",
    "TickProgressView",
    "TradingApi",
    "input_from_prediction",
    "DefaultPreferences",
    "TradingPreferences",
    "TradingPreferencesSource",
    "SignalIssued",
    "SizedSignal",
    "SizingPolicy",
    "connection_topic",
    "signals_topic",
    "size_decision",
]
