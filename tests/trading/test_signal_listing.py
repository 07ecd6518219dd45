"""``signal_listing``: the body of ``GET /api/v1/signals`` built from stored rows at once.

It must be the bytes the listing wrote when each row became a ``SignalIssued`` first and
then its frame (``routes.signal_frames``): same keys in the same order, same values.
"""

from __future__ import annotations

from chainflow.trading.events import SignalIssued
from chainflow.trading.repository import StoredSignal
from chainflow.trading.routes import signal_frames
from chainflow.trading.signal_listing import listing_json, stored_frame

STORED = [
    StoredSignal("EURUSD", 1_750_000_060_000, "buy", 0.625, 0.3, 1.0712, 1.0934, "fx@1", ["trend"]),
    StoredSignal("GBPUSD", 1_750_000_000_000, "hold", 0.5, 0.0, None, None, "fx@1", []),
    StoredSignal(
        "USDJPY",
        1_750_000_000_000,
        "sell",
        1.0,
        2.0,
        151.5,
        149.25,
        "m\u00e9t\u00e9o@2",
        ["é", "\n"],
    ),
]


def issued(stored: StoredSignal) -> SignalIssued:
    """The stored signal as the listing built it before: a ``SignalIssued``."""
    return SignalIssued(
        symbol=stored.symbol,
        ts=stored.ts,
        action=stored.action,
        confidence=stored.confidence,
        size=stored.size,
        stop_loss=stored.stop_loss,
        take_profit=stored.take_profit,
        model=stored.model,
        reasons=list(stored.reasons),
    )


class TestListingJson:
    def test_the_bytes_are_those_of_the_signals_frames(self) -> None:
        assert listing_json(STORED) == signal_frames([issued(s) for s in STORED])

    def test_no_signals_is_an_empty_list(self) -> None:
        assert listing_json([]) == signal_frames([]) == b'{"items":[]}'


class TestStoredFrame:
    def test_is_the_wire_frame_with_its_keys_in_order(self) -> None:
        for stored in STORED:
            frame = stored_frame(stored)

            assert frame == issued(stored).to_wire()
            assert list(frame) == list(issued(stored).to_wire())
