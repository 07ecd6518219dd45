"""The body of ``GET /api/v1/signals``: stored signals as ``signal`` frames, converted once.

Each stored row (``StoredSignal``) becomes its frame directly: the keys and values of
``SignalIssued(...).to_wire()`` for that signal (``seq`` and ``latency_ms`` are not stored,
so ``None``), without building the ``SignalIssued`` in between, which with its frame was a
fifth of the listing's Python time (benchmarks/http.py). The JSON is the one
``routes.signal_frames`` writes for the same signals, byte for byte
(tests/trading/test_signal_listing.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from chainflow.trading.repository import StoredSignal


def stored_frame(signal: StoredSignal) -> dict[str, Any]:
    """Return the ``signal`` frame of a stored signal, keys in ``to_wire``'s order."""
    return {
        "type": "signal",
        "symbol": signal.symbol,
        "ts": signal.ts,
        "action": signal.action,
        "confidence": signal.confidence,
        "size": signal.size,
        "stop_loss": signal.stop_loss,
        "take_profit": signal.take_profit,
        "model": signal.model,
        "reasons": signal.reasons,
        "seq": None,
        "latency_ms": None,
    }


def listing_json(signals: Iterable[StoredSignal]) -> bytes:
    """Return ``{"items": [<frame>, ...]}`` for ``signals`` as JSON."""
    return orjson.dumps({"items": [stored_frame(signal) for signal in signals]})
