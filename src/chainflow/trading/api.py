"""Public interface of the trading engine: what the runtime and other services may import."""

from __future__ import annotations

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
from chainflow.trading.routes import build_signals_router, build_trading_router
from chainflow.trading.service import TradingService, TradingStats

__all__ = [
    "Action",
    "account",
    "Decision",
    "DecisionInput",
    "ModelStrategy",
    "Strategy",
    "StrategyContext",
    "input_from_prediction",
    "DefaultPreferences",
    "TradingPreferences",
    "TradingPreferencesSource",
    "SignalIssued",
    "SizedSignal",
    "SizingPolicy",
    "TradingService",
    "TradingStats",
    "build_signals_router",
    "build_trading_router",
    "connection_topic",
    "signals_topic",
    "size_decision",
]
