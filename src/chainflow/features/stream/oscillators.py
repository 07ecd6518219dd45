"""Oscillators over a rolling high/low window: STOCH, WILLR, CCI (streaming twins)."""

from __future__ import annotations

from collections import deque
from typing import Any

from chainflow.features.batch.averages import check_period
from chainflow.features.batch.momentum import CCI_FLAT
from chainflow.features.stream.averages import SMA, check_snapshot
from chainflow.features.stream.base import NAN, StreamingIndicator


class _RollingExtreme:
    """Max (or min) of the last ``n`` values: a monotonic deque, amortized O(1)."""

    def __init__(self, n: int, is_max: bool) -> None:
        self.n = n
        self.is_max = is_max
        self.index = 0  # number of values seen
        self._items: deque[tuple[int, float]] = deque()  # (index, value), monotonic

    @property
    def value(self) -> float:
        return self._items[0][1]

    def update(self, v: float) -> None:
        items = self._items
        if self.is_max:
            while items and items[-1][1] <= v:
                items.pop()
        else:
            while items and items[-1][1] >= v:
                items.pop()
        items.append((self.index, v))
        self.index += 1
        if items[0][0] <= self.index - 1 - self.n:
            items.popleft()

    def snapshot(self) -> dict[str, Any]:
        return {"index": self.index, "items": [list(p) for p in self._items]}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.index = snapshot["index"]
        self._items = deque((int(i), float(v)) for i, v in snapshot["items"])


class STOCH(StreamingIndicator):
    """Slow stochastic ``slowk``/``slowd`` (SMA smoothing, as TA-Lib's matype 0).

    Ready after ``fastk + slowk + slowd - 2`` bars.
    """

    def __init__(self, fastk: int = 5, slowk: int = 3, slowd: int = 3) -> None:
        super().__init__()
        check_period(fastk, 1, "fastk")
        check_period(slowk, 1, "slowk")
        check_period(slowd, 1, "slowd")
        self.fastk, self.slowk_period, self.slowd_period = fastk, slowk, slowd
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._high = _RollingExtreme(self.fastk, is_max=True)
        self._low = _RollingExtreme(self.fastk, is_max=False)
        self._k = _Smoother(self.slowk_period)
        self._d = _Smoother(self.slowd_period)

    @property
    def is_ready(self) -> bool:
        return self.count >= self.fastk + self.slowk_period + self.slowd_period - 2

    @property
    def slowk(self) -> float:
        return self._k.value if self.is_ready else NAN

    @property
    def slowd(self) -> float:
        return self._d.value if self.is_ready else NAN

    @property
    def value(self) -> float:
        """Slow %K."""
        return self.slowk

    def update_bar(self, high: float, low: float, close: float) -> None:
        self.count += 1
        self._high.update(float(high))
        self._low.update(float(low))
        if self.count < self.fastk:
            return
        highest, lowest = self._high.value, self._low.value
        diff = (highest - lowest) / 100.0
        self._k.update((float(close) - lowest) / diff if diff != 0.0 else 0.0)
        if self._k.is_ready:
            self._d.update(self._k.value)

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "STOCH",
            "fastk": self.fastk,
            "slowk": self.slowk_period,
            "slowd": self.slowd_period,
            "count": self.count,
            "high": self._high.snapshot(),
            "low": self._low.snapshot(),
            "k": self._k.snapshot(),
            "d": self._d.snapshot(),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        params = {"fastk": self.fastk, "slowk": self.slowk_period, "slowd": self.slowd_period}
        check_snapshot(snapshot, "STOCH", params)
        self.count = snapshot["count"]
        self._high.restore(snapshot["high"])
        self._low.restore(snapshot["low"])
        self._k.restore(snapshot["k"])
        self._d.restore(snapshot["d"])


class _Smoother:
    """``SMA(n)``, or the identity when ``n == 1`` (allowed for stochastic smoothing)."""

    def __init__(self, n: int) -> None:
        self._sma = SMA(n) if n > 1 else None
        self._last = 0.0
        self.count = 0

    @property
    def is_ready(self) -> bool:
        return self._sma.is_ready if self._sma is not None else self.count > 0

    @property
    def value(self) -> float:
        return self._sma.value if self._sma is not None else self._last

    def update(self, v: float) -> None:
        self.count += 1
        if self._sma is not None:
            self._sma.update(v)
        else:
            self._last = v

    def snapshot(self) -> dict[str, Any]:
        sma = self._sma.snapshot() if self._sma is not None else None
        return {"count": self.count, "last": self._last, "sma": sma}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.count = snapshot["count"]
        self._last = snapshot["last"]
        if self._sma is not None:
            self._sma.restore(snapshot["sma"])


class WILLR(StreamingIndicator):
    """Williams' %R in [-100, 0] (0 on a flat range); ready after ``n`` bars."""

    def __init__(self, n: int = 14) -> None:
        super().__init__()
        check_period(n, 2)
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._high = _RollingExtreme(self.n, is_max=True)
        self._low = _RollingExtreme(self.n, is_max=False)
        self._close = 0.0

    @property
    def is_ready(self) -> bool:
        return self.count >= self.n

    @property
    def value(self) -> float:
        if not self.is_ready:
            return NAN
        highest, lowest = self._high.value, self._low.value
        diff = (highest - lowest) / -100.0
        return (highest - self._close) / diff if diff != 0.0 else 0.0

    def update_bar(self, high: float, low: float, close: float) -> None:
        self.count += 1
        self._high.update(float(high))
        self._low.update(float(low))
        self._close = float(close)

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "WILLR",
            "n": self.n,
            "count": self.count,
            "high": self._high.snapshot(),
            "low": self._low.snapshot(),
            "close": self._close,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_snapshot(snapshot, "WILLR", {"n": self.n})
        self.count = snapshot["count"]
        self._high.restore(snapshot["high"])
        self._low.restore(snapshot["low"])
        self._close = snapshot["close"]


class CCI(StreamingIndicator):
    """Commodity Channel Index of ``(high + low + close) / 3``; ready after ``n`` bars.

    O(n) per update: the mean deviation compares every value of the window with the
    current mean, which no running sum can give. Flat windows give 0 (see ``CCI_FLAT``).
    """

    def __init__(self, n: int = 14) -> None:
        super().__init__()
        check_period(n, 2)
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._window: deque[float] = deque(maxlen=self.n)

    @property
    def is_ready(self) -> bool:
        return self.count >= self.n

    @property
    def value(self) -> float:
        if not self.is_ready:
            return NAN
        mean = sum(self._window) / self.n
        mean_dev = sum(abs(x - mean) for x in self._window) / self.n
        dev = self._window[-1] - mean
        band = CCI_FLAT * abs(mean)
        return dev / (0.015 * mean_dev) if abs(dev) > band and mean_dev > band else 0.0

    def update_bar(self, high: float, low: float, close: float) -> None:
        self.count += 1
        self._window.append((float(high) + float(low) + float(close)) / 3.0)

    def snapshot(self) -> dict[str, Any]:
        return {"kind": "CCI", "n": self.n, "count": self.count, "window": list(self._window)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_snapshot(snapshot, "CCI", {"n": self.n})
        self.count = snapshot["count"]
        self._window = deque(snapshot["window"], maxlen=self.n)
