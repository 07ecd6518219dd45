"""Public interface of the data bridge: what other services may import."""

from __future__ import annotations

# --- bar files: the one reader of --data files (bridge.bar_files) --------------------------
from chainflow.bridge.bar_files import (
    ColumnChoices,
    SpreadUnit,
    options_of_flags,
    read_bar_file,
    warn_on_stderr,
)

# --- bars: what the bridge publishes and stores (bridge.events, bridge.bar_table) ---------
from chainflow.bridge.bar_table import (
    BAR_COLUMNS,
    persist_bars,
    read_bar_columns,
    read_bars,
    read_latest_bar_columns,
)
from chainflow.bridge.bars import AggregatedBar
from chainflow.bridge.events import (
    BarPublished,
    ConnectionChanged,
    ExecutionReported,
    SymbolsDeclared,
    TickRow,
    TicksAccepted,
    all_bars,
    all_connections,
    all_executions,
    all_market_events,
    all_symbols_declared,
    bars_of_partition,
    bars_of_symbol,
    bars_topic,
    connections_topic,
    market_event_kind,
    market_events_of_partition,
    symbols_declared_topic,
)
from chainflow.bridge.stored_bars import StoredBarReader, StoredBars

# --- tick validation (bridge.tick_message, bridge.symbols, bridge.validation) --------------
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.tick_message import ParsedTick, RejectCode, Rejection, parse_tick_message
from chainflow.bridge.validation import (
    Accepted,
    ValidationConfig,
    ValidationStats,
)
from chainflow.bridge.ws_messages import MAX_FRAME_BYTES

__all__ = [
    # bars
    "AggregatedBar",
    "BarPublished",
    "ExecutionReported",
    "TicksAccepted",
    "TickRow",
    "all_bars",
    "all_executions",
    "all_market_events",
    "bars_of_partition",
    "bars_of_symbol",
    "bars_topic",
    "market_event_kind",
    "market_events_of_partition",
    # MT5 connections opened and closed (bridge.events)
    "ConnectionChanged",
    "SymbolsDeclared",
    "all_connections",
    "all_symbols_declared",
    "connections_topic",
    "symbols_declared_topic",
    "read_bar_file",
    "read_bars",
    "persist_bars",
    "StoredBarReader",
    "StoredBars",
    "read_latest_bar_columns",
    "read_bar_columns",
    "BAR_COLUMNS",
    # bar files (bridge.bar_files): the one reader of --data files
    "ColumnChoices",
    "SpreadUnit",
    "options_of_flags",
    "warn_on_stderr",
    # tick validation
    "Accepted",
    "ParsedTick",
    "RejectCode",
    "Rejection",
    "SymbolNormalizer",
    "ValidationConfig",
    "ValidationStats",
    "parse_tick_message",
    "MAX_FRAME_BYTES",
]
