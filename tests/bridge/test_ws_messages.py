"""Client messages of the WebSocket endpoints: bounded decoding and the message models."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainflow.bridge.events import EXECUTION_FIELDS
from chainflow.bridge.tick_message import RejectCode, Rejection
from chainflow.bridge.ws_messages import (
    MAX_NESTING_DEPTH,
    ExecutionMessage,
    HelloMessage,
    StreamRequest,
    TicksMessage,
    decode_frame,
    is_nested_deeper,
    message_seq,
    validate_message,
)

NOW = 1_800_000_000_000
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=40,
)


def nesting(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    return 0


def nested_list(depth: int) -> str:
    return "[" * depth + "]" * depth


class TestIsNestedDeeper:
    @pytest.mark.parametrize("depth", [0, 1, 3, 16, 17, 100, 5000])
    def test_depth_of_nested_lists_is_exact(self, depth: int) -> None:
        assert is_nested_deeper(nested_list(depth), 16) is (depth > 16)

    def test_brackets_inside_strings_do_not_count(self) -> None:
        text = json.dumps({"symbol": "[" * 50 + '\\"' + "{" * 50, "items": [[1]]})
        assert not is_nested_deeper(text, 3)
        assert is_nested_deeper(text, 2)

    def test_escaped_backslashes_before_a_closing_quote_end_the_string(self) -> None:
        text = json.dumps({"a\\": "x\\", "b": [[[[1]]]]})
        assert '\\\\"' in text
        assert is_nested_deeper(text, 4) and not is_nested_deeper(text, 5)

    def test_unbalanced_brackets_count_as_too_deep(self) -> None:
        assert is_nested_deeper("[" * 100_000, 16)
        assert is_nested_deeper("]" * 20 + "[" * 20, 16)

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(value=JSON_VALUES, limit=st.integers(0, 6), ascii_only=st.booleans())
    def test_agrees_with_the_depth_of_any_json_value(
        self, value: Any, limit: int, ascii_only: bool
    ) -> None:
        text = json.dumps(value, ensure_ascii=ascii_only)
        assert is_nested_deeper(text, limit) is (nesting(value) > limit)


class TestDecodeFrame:
    @pytest.mark.parametrize(
        "text",
        [
            "[" * 100_000,
            '{"type":"ticks","items":' + nested_list(5000) + "}",
            '{"type":"ticks","items":' + nested_list(MAX_NESTING_DEPTH) + "}",
        ],
    )
    def test_deep_nesting_is_refused_before_parsing(self, text: str) -> None:
        refused = decode_frame(text)
        assert isinstance(refused, Rejection) and refused.code is RejectCode.INVALID_SCHEMA
        assert f"nested at most {MAX_NESTING_DEPTH} levels deep" in refused.message

    def test_nesting_up_to_the_limit_is_parsed(self) -> None:
        text = '{"items":' + nested_list(MAX_NESTING_DEPTH - 1) + "}"
        assert isinstance(decode_frame(text), dict)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("not json", "received invalid JSON (Expecting value at 0)"),
            ("[1, 2]", "expected a JSON object; received list [1, 2]"),
            ('"tick"', "expected a JSON object; received str 'tick'"),
            ('{"ts":' + "9" * 5000 + "}", "received an integer of more than 4300 digits"),
        ],
    )
    def test_a_non_object_is_invalid_schema(self, text: str, expected: str) -> None:
        refused = decode_frame(text)
        assert isinstance(refused, Rejection) and refused.code is RejectCode.INVALID_SCHEMA
        assert expected in refused.message

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(text=st.text(alphabet='[]{}"\\,:1 a', max_size=3000) | st.text(max_size=200))
    def test_any_text_is_answered_without_raising(self, text: str) -> None:
        decoded = decode_frame(text)
        assert isinstance(decoded, dict | Rejection)


EXECUTION = {
    "type": "execution",
    "symbol": "eurusd",
    "side": "Sell",
    "volume": 0.5,
    "price": 1.1,
    "ticket": 12,
    "ts": "2027-01-15T08:00:00.250+00:00",
}


class TestExecutionMessage:
    def test_a_good_report_gives_the_published_fields(self) -> None:
        report = validate_message(ExecutionMessage, EXECUTION)
        assert isinstance(report, ExecutionMessage)
        fields = report.published_fields("EURUSD")
        assert tuple(fields) == EXECUTION_FIELDS
        assert fields == {
            "symbol": "EURUSD",
            "side": "sell",
            "volume": 0.5,
            "price": 1.1,
            "ticket": "12",
            "ts": NOW + 250,
        }

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            ({"volume": int("9" * 401)}, "expected 'volume' to be a valid number; received int"),
            ({"volume": float("nan")}, "expected 'volume' to be a finite number"),
            ({"volume": True}, "expected 'volume' to be a valid number; received bool True"),
            ({"ts": 1.5}, "expected 'ts' to be a valid integer; received float 1.5"),
            ({"ts": 0}, "expected 'ts' to be greater than 0; received int 0"),
            ({"ts": "2027-01-15T08:00:00"}, "an ISO-8601 string with a timezone; received str"),
            ({"ticket": -1}, "expected 'ticket' to be a valid string; received int -1"),
            ({"side": None}, "expected 'side' to be 'buy' or 'sell'; received NoneType None"),
            ({"symbol": ""}, "expected 'symbol' to be a string of at least 1 characters"),
        ],
    )
    def test_a_bad_field_is_named_with_what_was_received(
        self, change: dict[str, Any], expected: str
    ) -> None:
        refused = validate_message(ExecutionMessage, {**EXECUTION, **change, "seq": 3})
        assert isinstance(refused, Rejection) and refused.code is RejectCode.INVALID_SCHEMA
        assert expected in refused.message and refused.seq == 3

    def test_a_missing_field_says_so_and_counts_the_other_problems(self) -> None:
        refused = validate_message(ExecutionMessage, {"type": "execution", "symbol": "EURUSD"})
        assert isinstance(refused, Rejection)
        assert refused.message == (
            "expected 'side'; received nothing (the field is missing) (and 4 more problems)"
        )


class TestHelloMessage:
    def test_nulls_count_as_absent(self) -> None:
        hello = validate_message(HelloMessage, {"type": "hello", "signals": None, "symbols": None})
        assert isinstance(hello, HelloMessage)
        assert (hello.signals, hello.symbols) == (None, None)

    def test_a_symbol_longer_than_64_characters_is_refused(self) -> None:
        refused = validate_message(HelloMessage, {"type": "hello", "symbols": ["X" * 65]})
        assert isinstance(refused, Rejection)
        assert "expected 'symbols'[0] to be a string of at most 64 characters" in refused.message


class TestTicksMessage:
    @pytest.mark.parametrize("items", [None, {}, "ticks", 5])
    def test_items_must_be_a_list(self, items: object) -> None:
        refused = validate_message(TicksMessage, {"type": "ticks", "items": items})
        assert isinstance(refused, Rejection)
        assert "expected 'items' to be a valid list" in refused.message


class TestStreamRequest:
    def test_more_than_100_symbols_is_refused(self) -> None:
        request = {"type": "subscribe", "symbols": ["EURUSD"] * 101}
        refused = validate_message(StreamRequest, request)
        assert isinstance(refused, Rejection)
        assert "to be a list of at most 100 items; received 101 items" in refused.message

    def test_an_unknown_type_is_refused(self) -> None:
        refused = validate_message(StreamRequest, {"type": "subscribed", "symbols": []})
        assert isinstance(refused, Rejection)
        assert "expected 'type' to be 'subscribe' or 'unsubscribe'" in refused.message


class TestMessageSeq:
    @pytest.mark.parametrize(
        ("seq", "expected"),
        [
            (0, 0),
            (2**63 - 1, 2**63 - 1),
            (2**63, None),
            (-1, None),
            (True, None),
            (1.0, None),
            ("1", None),
        ],
    )
    def test_only_a_valid_seq_is_echoed(self, seq: object, expected: int | None) -> None:
        assert message_seq({"seq": seq}) == expected
