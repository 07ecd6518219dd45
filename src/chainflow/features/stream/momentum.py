"""Streaming momentum oscillators, twins of ``chainflow.features.batch.momentum``.

``RSI``, ``MACD``, ``ROC`` and ``MOM`` take ``update(close)``; ``STOCH``, ``WILLR`` and
``CCI`` take ``update_bar(high, low, close)``. Updates are O(1) (rolling highs and lows
are monotonic deques, amortized O(1)) with constant memory, except ``CCI``: its mean
deviation needs every value of the window against the current mean, so an update is
O(n) by definition (as in TA-Lib). State holds no NaN, so ``snapshot()`` is strict JSON.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from chainflow.features.batch.averages import check_period
from chainflow.features.stream.averages import EMA, check_snapshot
from chainflow.features.stream.base import NAN, StreamingIndicator


class RSI(StreamingIndicator):
    """Relative Strength Index with Wilder smoothing; ready after ``n + 1`` closes."""

    def __init__(self, n: int = 14) -> None:
        super().__init__()
        check_period(n, 2)
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._prev = 0.0
        self._gain = 0.0  # running sums during warm-up, Wilder averages after
        self._loss = 0.0

    @property
    def is_ready(self) -> bool:
        return self.count > self.n

    @property
    def value(self) -> float:
        if not self.is_ready:
            return NAN
        total = self._gain + self._loss
        return 100.0 * (self._gain / total) if total != 0.0 else 0.0

    def update(self, value: float) -> None:
        v = float(value)
        self.count += 1
        if self.count > 1:
            d = v - self._prev
            wilder = self.count > self.n + 1
            if wilder:
                self._gain *= self.n - 1
                self._loss *= self.n - 1
            if d < 0:
                self._loss -= d
            else:
                self._gain += d
            if wilder or self.count == self.n + 1:
                self._gain /= self.n
                self._loss /= self.n
        self._prev = v

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "RSI",
            "n": self.n,
            "count": self.count,
            "prev": self._prev,
            "gain": self._gain,
            "loss": self._loss,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_snapshot(snapshot, "RSI", {"n": self.n})
        self.count = snapshot["count"]
        self._prev = snapshot["prev"]
        self._gain = snapshot["gain"]
        self._loss = snapshot["loss"]


class MACD(StreamingIndicator):
    """MACD ``line``, ``signal`` and ``hist``; ready after ``slow + signal - 1`` closes.

    As in TA-Lib, the fast EMA starts together with the slow one (at close ``slow``),
    seeded with the mean of the last ``fast`` closes; until then those closes are kept.
    """

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        super().__init__()
        check_period(fast, 2, "fast")
        check_period(slow, 2, "slow")
        check_period(signal, 1, "signal")
        if slow < fast:
            fast, slow = slow, fast
        self.fast, self.slow, self.signal_period = fast, slow, signal
        self._k_fast = 2.0 / (fast + 1)
        self._k_signal = 2.0 / (signal + 1)
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._recent: deque[float] = deque(maxlen=self.fast)  # only during warm-up
        self._slow = EMA(self.slow)
        self._fast = 0.0
        self._sig = 0.0  # seed sum of the line, then its EMA
        self._line = 0.0

    @property
    def is_ready(self) -> bool:
        return self.count >= self.slow + self.signal_period - 1

    @property
    def line(self) -> float:
        return self._line if self.is_ready else NAN

    @property
    def signal(self) -> float:
        return self._sig if self.is_ready else NAN

    @property
    def hist(self) -> float:
        return self._line - self._sig if self.is_ready else NAN

    @property
    def value(self) -> float:
        """The MACD line."""
        return self.line

    def update(self, value: float) -> None:
        v = float(value)
        self.count += 1
        self._slow.update(v)
        if self.count < self.slow:
            self._recent.append(v)
            return
        if self.count == self.slow:
            self._recent.append(v)
            self._fast = sum(self._recent) / self.fast
            self._recent.clear()
        else:
            self._fast = (v - self._fast) * self._k_fast + self._fast
        self._line = self._fast - self._slow.value
        m = self.count - self.slow + 1  # number of line values so far
        if m < self.signal_period:
            self._sig += self._line
        elif m == self.signal_period:
            self._sig = (self._sig + self._line) / self.signal_period
        else:
            self._sig = (self._line - self._sig) * self._k_signal + self._sig

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "MACD",
            "fast": self.fast,
            "slow": self.slow,
            "signal": self.signal_period,
            "count": self.count,
            "recent": list(self._recent),
            "slow_ema": self._slow.snapshot(),
            "fast_ema": self._fast,
            "sig": self._sig,
            "line": self._line,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        params = {"fast": self.fast, "slow": self.slow, "signal": self.signal_period}
        check_snapshot(snapshot, "MACD", params)
        self.count = snapshot["count"]
        self._recent = deque(snapshot["recent"], maxlen=self.fast)
        self._slow.restore(snapshot["slow_ema"])
        self._fast = snapshot["fast_ema"]
        self._sig = snapshot["sig"]
        self._line = snapshot["line"]


class _Lagged(StreamingIndicator):
    """Base of ``ROC``/``MOM``: compares each close with the one ``n`` closes back."""

    kind = ""

    def __init__(self, n: int = 10) -> None:
        super().__init__()
        check_period(n, 1)
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._window: deque[float] = deque(maxlen=self.n + 1)

    @property
    def is_ready(self) -> bool:
        return self.count > self.n

    def update(self, value: float) -> None:
        self.count += 1
        self._window.append(float(value))

    def snapshot(self) -> dict[str, Any]:
        return {"kind": self.kind, "n": self.n, "count": self.count, "window": list(self._window)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_snapshot(snapshot, self.kind, {"n": self.n})
        self.count = snapshot["count"]
        self._window = deque(snapshot["window"], maxlen=self.n + 1)


class ROC(_Lagged):
    """Rate of change in percent, ``(x / x[t - n] - 1) * 100`` (0 if ``x[t - n]`` is 0)."""

    kind = "ROC"

    @property
    def value(self) -> float:
        if not self.is_ready:
            return NAN
        prev = self._window[0]
        return (self._window[-1] / prev - 1.0) * 100.0 if prev != 0.0 else 0.0


class MOM(_Lagged):
    """Momentum ``x - x[t - n]``."""

    kind = "MOM"

    @property
    def value(self) -> float:
        return self._window[-1] - self._window[0] if self.is_ready else NAN


# Oscillators over a high/low window live in their own module; they are part of this API.
from chainflow.features.stream.oscillators import CCI, STOCH, WILLR  # noqa: E402

__all__ = ["CCI", "MACD", "MOM", "ROC", "RSI", "STOCH", "WILLR"]
