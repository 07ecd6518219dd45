"""Rolling windows with exact running sums, and parameter checks, shared by the streams."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError


def check_period(n: int) -> None:
    if n < 1:
        raise InvalidFeatureInputError(f"expected a period >= 1; received {n}")


def check_params(snapshot: dict[str, Any], params: dict[str, Any]) -> None:
    if snapshot.get("params") != params:
        raise FeatureStateMismatchError(
            f"expected a snapshot made with params {params}; received {snapshot.get('params')}"
        )


class RollingWindow:
    """The last ``n`` values with running shifted sums; mean and population variance."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.values: deque[float] = deque(maxlen=self.n)
        self.shift = 0.0
        self.s1 = 0.0
        self.s2 = 0.0
        self.pushes = 0

    @property
    def full(self) -> bool:
        return len(self.values) == self.n

    def push(self, x: float) -> None:
        if len(self.values) == self.n:
            d = self.values[0] - self.shift
            self.s1 -= d
            self.s2 -= d * d
        self.values.append(x)
        d = x - self.shift
        self.s1 += d
        self.s2 += d * d
        self.pushes += 1
        if self.pushes >= self.n:
            self._resum()

    def _resum(self) -> None:
        """Exact re-sum (every ``n`` pushes: amortized O(1)), bounding rounding drift."""
        vals = self.values
        self.shift = math.fsum(vals) / len(vals)
        self.s1 = math.fsum(v - self.shift for v in vals)
        self.s2 = math.fsum((v - self.shift) ** 2 for v in vals)
        self.pushes = 0

    def mean(self) -> float:
        return self.shift + self.s1 / self.n

    def pstd(self) -> float:
        m = self.s1 / self.n
        return math.sqrt(max(self.s2 / self.n - m * m, 0.0))

    def snapshot(self) -> dict[str, Any]:
        return {
            "values": list(self.values),
            "shift": self.shift,
            "s1": self.s1,
            "s2": self.s2,
            "pushes": self.pushes,
        }

    def restore(self, snap: dict[str, Any]) -> None:
        self.values = deque(map(float, snap["values"]), maxlen=self.n)
        self.shift = float(snap["shift"])
        self.s1 = float(snap["s1"])
        self.s2 = float(snap["s2"])
        self.pushes = int(snap["pushes"])
