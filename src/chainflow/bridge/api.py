"""Public interface of the data bridge: what other services may import."""

from __future__ import annotations

# --- tick validation (bridge.tick_message, bridge.symbols, bridge.validation) --------------
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.tick_message import ParsedTick, RejectCode, Rejection, parse_tick_message
from chainflow.bridge.validation import (
    Accepted,
    TickValidator,
    ValidationConfig,
    ValidationStats,
)

__all__ = [
    # tick validation
    "Accepted",
    "ParsedTick",
    "RejectCode",
    "Rejection",
    "SymbolNormalizer",
    "TickValidator",
    "ValidationConfig",
    "ValidationStats",
    "parse_tick_message",
]
