import pytest

from chainflow.core.messages import escape_token, topic, unescape_token


class TestEscapeToken:
    @pytest.mark.parametrize("symbol", ["EURUSD.a", "XAU*USD", "US30>", "BTC USD", "ÄÖ", "a~b"])
    def test_round_trip_and_no_separators(self, symbol: str) -> None:
        escaped = escape_token(symbol)
        assert not set(".*> ") & set(escaped)
        assert unescape_token(escaped) == symbol

    def test_distinct_symbols_stay_distinct(self) -> None:
        assert escape_token("EURUSD.a") != escape_token("EURUSD")
        assert escape_token("EURUSD.a") != escape_token("EURUSDa")

    def test_empty_token_is_refused(self) -> None:
        with pytest.raises(ValueError, match="non-empty"):
            escape_token("")


class TestTopic:
    def test_builds_dotted_subject_with_escaped_tokens(self) -> None:
        assert topic("bridge", "tick", "accepted", tokens=("t1", "EURUSD.a")) == (
            "bridge.tick.accepted.t1.EURUSD~2e~a"
        )

    def test_fixed_parts_must_be_lower_case_words(self) -> None:
        with pytest.raises(ValueError, match="lower-case words"):
            topic("Bridge")
