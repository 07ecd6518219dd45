"""Streaming twins of ``chainflow.features.batch.volume``: OBV and session-anchored VWAP."""

from __future__ import annotations

from typing import Any

from chainflow.features.batch.volume import session_id
from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError
from chainflow.features.stream.base import NAN, StreamingIndicator

__all__ = ["OBV", "VWAP"]


class OBV(StreamingIndicator):
    """On-balance volume (TA-Lib ``OBV``: starts at the first bar's volume)."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.value = NAN
        self._prev_close = NAN

    @property
    def is_ready(self) -> bool:
        return self.count > 0

    def update_bar(self, close: float, volume: float) -> float:
        if self.count == 0:
            self.value = float(volume)
        elif close > self._prev_close:
            self.value += volume
        elif close < self._prev_close:
            self.value -= volume
        self._prev_close = close
        self.count += 1
        return self.value

    def snapshot(self) -> dict[str, Any]:
        return {"params": {}, "count": self.count, "value": self.value, "pc": self._prev_close}

    def restore(self, snapshot: dict[str, Any]) -> None:
        if snapshot.get("params") != {}:
            raise FeatureStateMismatchError(f"snapshot params {snapshot.get('params')} != {{}}")
        self.count = int(snapshot["count"])
        self.value = float(snapshot["value"])
        self._prev_close = float(snapshot["pc"])


class VWAP(StreamingIndicator):
    """Session-anchored VWAP of the typical price; resets when the daily session changes."""

    def __init__(self, session_start_hour_utc: int = 0) -> None:
        super().__init__()
        if not 0 <= session_start_hour_utc < 24:
            raise InvalidFeatureInputError("session_start_hour_utc must be in 0..23")
        self.session_start_hour_utc = session_start_hour_utc
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.value = NAN
        self.session: int | None = None
        self._pv = 0.0
        self._v = 0.0

    @property
    def is_ready(self) -> bool:
        return self._v > 0.0

    def update_bar(self, high: float, low: float, close: float, volume: float, ts_ms: int) -> float:
        self.count += 1
        sid = session_id(ts_ms, self.session_start_hour_utc)
        if sid != self.session:
            self.session = sid
            self._pv = 0.0
            self._v = 0.0
        self._pv += (high + low + close) / 3.0 * volume
        self._v += volume
        self.value = self._pv / self._v if self._v > 0.0 else NAN
        return self.value

    def snapshot(self) -> dict[str, Any]:
        return {
            "params": {"session_start_hour_utc": self.session_start_hour_utc},
            "count": self.count,
            "value": self.value,
            "session": self.session,
            "pv": self._pv,
            "v": self._v,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        params = {"session_start_hour_utc": self.session_start_hour_utc}
        if snapshot.get("params") != params:
            raise FeatureStateMismatchError(f"snapshot params {snapshot.get('params')} != {params}")
        self.count = int(snapshot["count"])
        self.value = float(snapshot["value"])
        self.session = None if snapshot["session"] is None else int(snapshot["session"])
        self._pv = float(snapshot["pv"])
        self._v = float(snapshot["v"])
