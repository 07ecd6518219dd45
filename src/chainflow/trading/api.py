"""Public interface of the trading engine: what the runtime and other services may import."""

from __future__ import annotations

from chainflow.trading.decision import TradingPreferences
from chainflow.trading.events import SignalIssued, signals_topic
from chainflow.trading.preferences import DefaultPreferences, TradingPreferencesSource
from chainflow.trading.routes import build_signals_router
from chainflow.trading.service import TradingService, TradingStats
from chainflow.trading.signal_sizing import SizedSignal, SizingPolicy, size_decision

__all__ = [
    "DefaultPreferences",
    "TradingPreferences",
    "TradingPreferencesSource",
    "SignalIssued",
    "SizedSignal",
    "SizingPolicy",
    "TradingService",
    "TradingStats",
    "build_signals_router",
    "signals_topic",
    "size_decision",
]
