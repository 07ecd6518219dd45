"""A connection forwards each tick's signal once, even when two replicas answered it."""

import orjson

from chainflow.bridge.signal_forward import SignalForwarder


def frame(symbol: str, seq: int | None, kind: str = "signal") -> bytes:
    return orjson.dumps({"type": kind, "symbol": symbol, "seq": seq, "action": "hold"})


def message(*frames: bytes) -> bytes:
    return b"\n".join(frames)


def seqs(lines: list[str]) -> list[tuple[str, int | None]]:
    return [(f["symbol"], f["seq"]) for f in map(orjson.loads, lines)]


def test_a_second_answer_of_the_same_ticks_is_dropped() -> None:
    forwarder = SignalForwarder()
    first = forwarder.lines(message(frame("EURUSD", 1), frame("EURUSD", 2)))
    again = forwarder.lines(message(frame("EURUSD", 2), frame("EURUSD", 3)))
    assert seqs(first) == [("EURUSD", 1), ("EURUSD", 2)]
    assert seqs(again) == [("EURUSD", 3)]
    assert forwarder.dropped == 1


def test_symbols_interleave_freely() -> None:
    forwarder = SignalForwarder()
    forwarder.lines(message(frame("EURUSD", 5), frame("EURUSD", 7)))
    later = forwarder.lines(message(frame("USDJPY", 6)))  # an older seq of another key
    assert seqs(later) == [("USDJPY", 6)]


def test_frames_without_a_seq_and_other_frames_pass() -> None:
    forwarder = SignalForwarder()
    forwarder.lines(frame("EURUSD", 3))
    passed = forwarder.lines(
        message(frame("EURUSD", None), frame("EURUSD", 1, kind="execution"), b"not json")
    )
    assert len(passed) == 3 and passed[-1] == "not json"
    assert forwarder.dropped == 0
