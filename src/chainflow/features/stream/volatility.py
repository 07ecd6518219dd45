"""Streaming twins of ``chainflow.features.batch.volatility`` (same names, upper case).

Each update is O(1) (amortized where a window is re-summed exactly every ``n`` updates) with
constant memory. Rolling means and standard deviations keep the last ``n`` values with sums
of their deviations from a shift (the window mean at the last exact re-sum), which avoids
the cancellation of a plain sum of squares; the result matches the batch two-pass
computation to ~1e-14. Multi-output indicators (bands, channels) expose each line as a
property and ``value`` as the tuple ``(upper, middle, lower)`` the batch function returns.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from chainflow.features.stream.base import NAN, StreamingIndicator
from chainflow.features.stream.windows import RollingWindow, check_params, check_period

__all__ = [
    "ATR",
    "BANDWIDTH",
    "BBANDS",
    "DONCHIAN",
    "KELTNER",
    "PERCENT_B",
    "RV_CLOSE_TO_CLOSE",
    "RV_GARMAN_KLASS",
    "RV_PARKINSON",
    "TRANGE",
    "ZSCORE",
]

_LN2 = math.log(2.0)


class TRANGE(StreamingIndicator):
    """True range; ``nan`` on the first bar (TA-Lib ``TRANGE``)."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.value = NAN
        self._prev_close = NAN

    @property
    def is_ready(self) -> bool:
        return self.count > 1

    def update_bar(self, high: float, low: float, close: float) -> float:
        if self.count > 0:
            pc = self._prev_close
            self.value = max(high, pc) - min(low, pc)
        self._prev_close = close
        self.count += 1
        return self.value

    def peek_bar(self, high: float, low: float) -> float:
        """The value ``update_bar`` would return for this bar; the state is unchanged."""
        if self.count > 0:
            pc = self._prev_close
            return max(high, pc) - min(low, pc)
        return self.value

    def snapshot(self) -> dict[str, Any]:
        return {"params": {}, "count": self.count, "value": self.value, "pc": self._prev_close}

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_params(snapshot, {})
        self.count = int(snapshot["count"])
        self.value = float(snapshot["value"])
        self._prev_close = float(snapshot["pc"])


class ATR(StreamingIndicator):
    """Wilder ATR (TA-Lib ``ATR``): seeded with the mean of the first ``n`` true ranges."""

    def __init__(self, n: int = 14) -> None:
        super().__init__()
        check_period(n)
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.value = NAN
        self._tr = TRANGE()
        self._seed = 0.0

    @property
    def is_ready(self) -> bool:
        return self.count > self.n

    def update_bar(self, high: float, low: float, close: float) -> float:
        tr = self._tr.update_bar(high, low, close)
        self.count += 1
        n = self.n
        if self.count == 1:
            return self.value
        if n == 1:
            self.value = tr
        elif self.count <= n:
            self._seed += tr
        elif self.count == n + 1:
            self._seed += tr
            self.value = self._seed / n
        else:
            self.value = (self.value * (n - 1) + tr) / n
        return self.value

    def peek_bar(self, high: float, low: float, close: float) -> float:
        """The value ``update_bar`` would return for this bar, leaving the state unchanged
        (the live hot path sizes on the forming bar's ATR at every tick)."""
        tr = self._tr.peek_bar(high, low)
        count, n = self.count + 1, self.n
        if count == 1 or (n > 1 and count <= n):
            return self.value
        if n == 1:
            return tr
        if count == n + 1:
            return (self._seed + tr) / n
        return (self.value * (n - 1) + tr) / n

    def snapshot(self) -> dict[str, Any]:
        return {
            "params": {"n": self.n},
            "count": self.count,
            "value": self.value,
            "seed": self._seed,
            "tr": self._tr.snapshot(),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_params(snapshot, {"n": self.n})
        self.count = int(snapshot["count"])
        self.value = float(snapshot["value"])
        self._seed = float(snapshot["seed"])
        self._tr.restore(snapshot["tr"])


class BBANDS(StreamingIndicator):
    """Bollinger Bands: SMA ± ``k`` population std; ``value`` is ``(upper, middle, lower)``."""

    def __init__(self, n: int = 20, k: float = 2.0) -> None:
        super().__init__()
        check_period(n)
        self.n = n
        self.k = k
        self._win = RollingWindow(n)
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._win.reset()
        self._last = NAN
        self.upper = self.middle = self.lower = NAN

    @property
    def is_ready(self) -> bool:
        return self._win.full

    @property
    def value(self) -> Any:
        return (self.upper, self.middle, self.lower)

    @property
    def percent_b(self) -> float:
        """``(close - lower) / (upper - lower)``; ``nan`` when the bands collapse."""
        width = self.upper - self.lower
        return (self._last - self.lower) / width if width > 0.0 else NAN

    @property
    def bandwidth(self) -> float:
        """``(upper - lower) / middle``; ``nan`` when the middle is 0."""
        m = self.middle
        return (self.upper - self.lower) / m if m != 0.0 and not math.isnan(m) else NAN

    def update(self, value: float) -> Any:
        self.count += 1
        self._last = value
        self._win.push(value)
        if self._win.full:
            mid = self._win.mean()
            std = self._win.pstd()
            self.middle = mid
            self.upper = mid + self.k * std
            self.lower = mid - self.k * std
        return self.value

    def snapshot(self) -> dict[str, Any]:
        return {
            "params": {"n": self.n, "k": self.k},
            "count": self.count,
            "last": self._last,
            "bands": [self.upper, self.middle, self.lower],
            "window": self._win.snapshot(),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_params(snapshot, {"n": self.n, "k": self.k})
        self.count = int(snapshot["count"])
        self._last = float(snapshot["last"])
        self.upper, self.middle, self.lower = (float(v) for v in snapshot["bands"])
        self._win.restore(snapshot["window"])


class PERCENT_B(BBANDS):
    """%B of the Bollinger Bands as ``value``."""

    @property
    def value(self) -> Any:
        return self.percent_b


class BANDWIDTH(BBANDS):
    """Bandwidth of the Bollinger Bands as ``value``."""

    @property
    def value(self) -> Any:
        return self.bandwidth


class KELTNER(StreamingIndicator):
    """Keltner channel: TA-Lib EMA(close, n) ± ``k`` · ATR(n); ``value`` is the tuple."""

    def __init__(self, n: int = 20, k: float = 2.0) -> None:
        super().__init__()
        check_period(n)
        self.n = n
        self.k = k
        self._alpha = 2.0 / (n + 1)
        self._atr = ATR(n)
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._atr.reset()
        self._ema = NAN
        self._seed = 0.0
        self.upper = self.middle = self.lower = NAN

    @property
    def is_ready(self) -> bool:
        return self._atr.is_ready

    @property
    def value(self) -> Any:
        return (self.upper, self.middle, self.lower)

    def update_bar(self, high: float, low: float, close: float) -> Any:
        self.count += 1
        a = self._atr.update_bar(high, low, close)
        if self.count < self.n:
            self._seed += close
        elif self.count == self.n:
            self._seed += close
            self._ema = self._seed / self.n
        else:
            self._ema = (close - self._ema) * self._alpha + self._ema
        if self._atr.is_ready:
            self.middle = self._ema
            self.upper = self._ema + self.k * a
            self.lower = self._ema - self.k * a
        return self.value

    def snapshot(self) -> dict[str, Any]:
        return {
            "params": {"n": self.n, "k": self.k},
            "count": self.count,
            "ema": self._ema,
            "seed": self._seed,
            "bands": [self.upper, self.middle, self.lower],
            "atr": self._atr.snapshot(),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_params(snapshot, {"n": self.n, "k": self.k})
        self.count = int(snapshot["count"])
        self._ema = float(snapshot["ema"])
        self._seed = float(snapshot["seed"])
        self.upper, self.middle, self.lower = (float(v) for v in snapshot["bands"])
        self._atr.restore(snapshot["atr"])


class DONCHIAN(StreamingIndicator):
    """Donchian channel over the last ``n`` bars (monotonic deques); ``value`` is the tuple."""

    def __init__(self, n: int = 20) -> None:
        super().__init__()
        check_period(n)
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._maxq: deque[tuple[int, float]] = deque()
        self._minq: deque[tuple[int, float]] = deque()

    @property
    def is_ready(self) -> bool:
        return self.count >= self.n

    @property
    def upper(self) -> float:
        return self._maxq[0][1] if self.is_ready else NAN

    @property
    def lower(self) -> float:
        return self._minq[0][1] if self.is_ready else NAN

    @property
    def middle(self) -> float:
        return (self.upper + self.lower) / 2.0

    @property
    def value(self) -> Any:
        return (self.upper, self.middle, self.lower)

    def update_bar(self, high: float, low: float) -> Any:
        i = self.count
        self.count += 1
        while self._maxq and self._maxq[-1][1] <= high:
            self._maxq.pop()
        self._maxq.append((i, high))
        while self._minq and self._minq[-1][1] >= low:
            self._minq.pop()
        self._minq.append((i, low))
        oldest = i - self.n + 1
        if self._maxq[0][0] < oldest:
            self._maxq.popleft()
        if self._minq[0][0] < oldest:
            self._minq.popleft()
        return self.value

    def snapshot(self) -> dict[str, Any]:
        return {
            "params": {"n": self.n},
            "count": self.count,
            "max": [list(e) for e in self._maxq],
            "min": [list(e) for e in self._minq],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_params(snapshot, {"n": self.n})
        self.count = int(snapshot["count"])
        self._maxq = deque((int(i), float(v)) for i, v in snapshot["max"])
        self._minq = deque((int(i), float(v)) for i, v in snapshot["min"])


# Realized volatility and the z-score live in their own module; they are part of this API.
from chainflow.features.stream.realized import (  # noqa: E402
    RV_CLOSE_TO_CLOSE,
    RV_GARMAN_KLASS,
    RV_PARKINSON,
    ZSCORE,
)
