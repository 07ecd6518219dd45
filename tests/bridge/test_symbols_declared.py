"""A terminal's declared symbols on the bus: parsed, or refused with the reason."""

from __future__ import annotations

import pytest

from chainflow.bridge.api import SymbolsDeclared


def test_round_trip() -> None:
    event = SymbolsDeclared("t1", "c1", ("EURUSD", "GBPUSD"), 1_700_000_000_000)
    assert SymbolsDeclared.from_json(event.to_json()) == event


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b'{"tenant_id":"t","connection":"c","ts":1}',
        b'{"tenant_id":"t","connection":"c","symbols":"EURUSD","ts":1}',
        b'{"tenant_id":"t","connection":"c","symbols":[1],"ts":1}',
        b'{"tenant_id":"t","connection":"c","symbols":[],"ts":"soon"}',
    ],
)
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="expected a symbols hello"):
        SymbolsDeclared.from_json(data)
