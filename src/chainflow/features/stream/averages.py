"""Streaming moving averages, twins of ``chainflow.features.batch.averages``.

Each ``update(value)`` is O(1) with constant memory: ``SMA``/``WMA`` keep a deque of the
last ``n`` values and running sums, the EMAs keep one number per EMA level. State holds
no NaN (warm-up is derived from ``count``), so ``snapshot()`` is strict JSON.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from chainflow.features.batch.averages import check_period
from chainflow.features.errors import FeatureStateMismatchError
from chainflow.features.stream.base import NAN, StreamingIndicator


def check_snapshot(snapshot: dict[str, Any], kind: str, params: dict[str, int]) -> None:
    """Raise ``ValueError`` unless ``snapshot`` is of ``kind`` with the same parameters."""
    if snapshot.get("kind") != kind or any(snapshot.get(k) != v for k, v in params.items()):
        raise FeatureStateMismatchError(f"snapshot does not belong to {kind}({params})")


class SMA(StreamingIndicator):
    """Simple moving average over ``n`` values; ready after ``n`` updates."""

    def __init__(self, n: int) -> None:
        super().__init__()
        check_period(n, 2)
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._window: deque[float] = deque(maxlen=self.n)
        self._total = 0.0  # sum of the newest n - 1 values once ready
        self._value = 0.0

    @property
    def is_ready(self) -> bool:
        return self.count >= self.n

    @property
    def value(self) -> float:
        return self._value if self.is_ready else NAN

    def update(self, value: float) -> None:
        v = float(value)
        self.count += 1
        self._window.append(v)
        self._total += v
        if len(self._window) == self.n:
            self._value = self._total / self.n
            self._total -= self._window[0]

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "SMA",
            "n": self.n,
            "count": self.count,
            "window": list(self._window),
            "total": self._total,
            "value": self._value,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_snapshot(snapshot, "SMA", {"n": self.n})
        self.count = snapshot["count"]
        self._window = deque(snapshot["window"], maxlen=self.n)
        self._total = snapshot["total"]
        self._value = snapshot["value"]


class EMA(StreamingIndicator):
    """EMA with alpha ``2 / (n + 1)``, seeded with the mean of the first ``n`` values."""

    def __init__(self, n: int) -> None:
        super().__init__()
        check_period(n, 2)
        self.n = n
        self._k = 2.0 / (n + 1)
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._value = 0.0  # running seed sum until ready, then the EMA

    @property
    def is_ready(self) -> bool:
        return self.count >= self.n

    @property
    def value(self) -> float:
        return self._value if self.is_ready else NAN

    def update(self, value: float) -> None:
        v = float(value)
        self.count += 1
        if self.count < self.n:
            self._value += v
        elif self.count == self.n:
            self._value = (self._value + v) / self.n
        else:
            self._value = (v - self._value) * self._k + self._value

    def snapshot(self) -> dict[str, Any]:
        return {"kind": "EMA", "n": self.n, "count": self.count, "value": self._value}

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_snapshot(snapshot, "EMA", {"n": self.n})
        self.count = snapshot["count"]
        self._value = snapshot["value"]


class WMA(StreamingIndicator):
    """Linearly weighted moving average (newest weight ``n``); ready after ``n`` updates."""

    def __init__(self, n: int) -> None:
        super().__init__()
        check_period(n, 2)
        self.n = n
        self._divider = n * (n + 1) / 2.0
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._window: deque[float] = deque(maxlen=self.n)
        self._total = 0.0  # plain sum of the window
        self._weighted = 0.0  # sum of weight * value, weights 1..len(window)

    @property
    def is_ready(self) -> bool:
        return self.count >= self.n

    @property
    def value(self) -> float:
        return self._weighted / self._divider if self.is_ready else NAN

    def update(self, value: float) -> None:
        v = float(value)
        self.count += 1
        if len(self._window) == self.n:
            # every weight drops by one (the oldest to zero), the new value gets n
            self._weighted += self.n * v - self._total
            self._total += v - self._window[0]
        else:
            self._weighted += (len(self._window) + 1) * v
            self._total += v
        self._window.append(v)

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "WMA",
            "n": self.n,
            "count": self.count,
            "window": list(self._window),
            "total": self._total,
            "weighted": self._weighted,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_snapshot(snapshot, "WMA", {"n": self.n})
        self.count = snapshot["count"]
        self._window = deque(snapshot["window"], maxlen=self.n)
        self._total = snapshot["total"]
        self._weighted = snapshot["weighted"]


class _EMAChain(StreamingIndicator):
    """``depth`` chained EMAs, each fed the previous one's values once that is ready."""

    kind = ""
    depth = 1

    def __init__(self, n: int) -> None:
        super().__init__()
        check_period(n, 2)
        self.n = n
        self._emas = [EMA(n) for _ in range(self.depth)]

    def reset(self) -> None:
        self.count = 0
        for e in self._emas:
            e.reset()

    @property
    def is_ready(self) -> bool:
        return self._emas[-1].is_ready

    def update(self, value: float) -> None:
        self.count += 1
        v = float(value)
        for e in self._emas:
            e.update(v)
            if not e.is_ready:
                break
            v = e.value

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n": self.n,
            "count": self.count,
            "emas": [e.snapshot() for e in self._emas],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_snapshot(snapshot, self.kind, {"n": self.n})
        self.count = snapshot["count"]
        for e, s in zip(self._emas, snapshot["emas"], strict=True):
            e.restore(s)


class DEMA(_EMAChain):
    """Double EMA ``2 * e1 - e2``; ready after ``2 * n - 1`` updates."""

    kind = "DEMA"
    depth = 2

    @property
    def value(self) -> float:
        e1, e2 = self._emas
        return 2.0 * e1.value - e2.value if self.is_ready else NAN


class TEMA(_EMAChain):
    """Triple EMA ``3 * e1 - 3 * e2 + e3``; ready after ``3 * n - 2`` updates."""

    kind = "TEMA"
    depth = 3

    @property
    def value(self) -> float:
        e1, e2, e3 = self._emas
        return 3.0 * e1.value - 3.0 * e2.value + e3.value if self.is_ready else NAN
