"""The tick item parser is total and bounded: no value makes it raise or answer unencodably."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainflow.bridge.tick_message import (
    MAX_SEQ,
    ParsedTick,
    RejectCode,
    Rejection,
    describe_value,
    parse_tick_message,
)

NOW = 1_800_000_000_000
GOOD = {"symbol": "EURUSD", "ts": NOW, "bid": 1.1, "ask": 1.2}
WIRE_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)


class TestParseTickMessageBounds:
    @pytest.mark.parametrize("seq", [2**63, 2**70, 10**400])
    def test_a_seq_past_64_bits_is_invalid_schema(self, seq: int) -> None:
        result = parse_tick_message({**GOOD, "seq": seq})
        assert isinstance(result, Rejection) and result.code is RejectCode.INVALID_SCHEMA
        assert result.seq is None and f"integer from 0 to {MAX_SEQ}" in result.message

    def test_the_largest_seq_is_accepted(self) -> None:
        assert parse_tick_message({**GOOD, "seq": MAX_SEQ}) == ParsedTick(
            parse_tick_message(GOOD).tick,  # type: ignore[union-attr]
            MAX_SEQ,
        )

    def test_a_symbol_longer_than_64_characters_is_invalid_symbol(self) -> None:
        result = parse_tick_message({**GOOD, "symbol": "E" * 1_000_000, "seq": 4})
        assert isinstance(result, Rejection) and result.code is RejectCode.INVALID_SYMBOL
        assert result.message == (
            "expected a symbol of at most 64 characters; received 1000000 characters"
        )
        assert result.seq == 4

    @pytest.mark.parametrize("ts", [2**63, -(2**63), 10**400])
    def test_an_integer_ts_past_64_bits_is_invalid_schema(self, ts: int) -> None:
        result = parse_tick_message({**GOOD, "ts": ts})
        assert isinstance(result, Rejection) and result.code is RejectCode.INVALID_SCHEMA

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(
        fields=st.dictionaries(
            st.sampled_from(["symbol", "ts", "bid", "ask", "volume", "seq", "type"]),
            WIRE_VALUES,
        )
    )
    def test_any_item_is_parsed_or_refused_and_the_answer_encodes(
        self, fields: dict[str, Any]
    ) -> None:
        result = parse_tick_message({**GOOD, **fields})
        assert isinstance(result, ParsedTick | Rejection)
        if isinstance(result, Rejection):
            orjson.dumps({"code": result.code.value, "message": result.message, "seq": result.seq})
            assert len(result.message) < 300


class TestDescribeValue:
    def test_a_deep_or_huge_value_is_described_in_bounded_text(self) -> None:
        deep: list[Any] = []
        for _ in range(5000):
            deep = [deep]
        for value in (deep, 10**4000, "x" * 1_000_000, list(range(100_000))):
            assert len(describe_value(value)) < 80
