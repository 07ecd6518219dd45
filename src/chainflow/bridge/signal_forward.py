"""The signal frames a ``/ws/ticks`` connection forwards, each tick's answer once.

The trading replica that owns a tenant's partition answers its ticks on the connection's
subject. During a change of owner two replicas can, for a moment, both believe they own a
partition (the shared registry and leases vanished, or a replica's event loop stalled past
its lease), and both answer the same ticks. The bridge holds the connection, so it is the
one place that sees every answer: per symbol it remembers the newest ``seq`` it forwarded
and drops a signal frame whose ``seq`` is not newer. A key's answers come in ``seq`` order
from whichever replica owns it; symbols interleave freely (each keeps its own mark), and
frames without a ``seq`` pass through.
"""

from __future__ import annotations

import orjson


class SignalForwarder:
    """Split a bus message into frames, dropping signals already forwarded."""

    __slots__ = ("_newest", "dropped")

    def __init__(self) -> None:
        self._newest: dict[str, int] = {}  # symbol -> newest signal seq forwarded
        self.dropped = 0

    def lines(self, data: bytes) -> list[str]:
        """Return the frames of ``data`` (one JSON object per line) to send, in order."""
        out: list[str] = []
        for line in data.split(b"\n"):
            if line and not self._repeats(line):
                out.append(line.decode())
        return out

    def _repeats(self, line: bytes) -> bool:
        try:
            frame = orjson.loads(line)
        except orjson.JSONDecodeError:
            return False  # not ours to judge: sent as it came
        if not isinstance(frame, dict) or frame.get("type") != "signal":
            return False
        seq, symbol = frame.get("seq"), frame.get("symbol")
        if not isinstance(seq, int) or not isinstance(symbol, str):
            return False
        if seq <= self._newest.get(symbol, 0):
            self.dropped += 1
            return True
        self._newest[symbol] = seq
        return False
