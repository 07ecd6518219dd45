"""Realized volatility (close-to-close, Parkinson, Garman-Klass) and the rolling z-score."""

from __future__ import annotations

import math
from typing import Any

from chainflow.features.stream.base import NAN, StreamingIndicator
from chainflow.features.stream.windows import RollingWindow, check_params, check_period

__all__ = ["RV_CLOSE_TO_CLOSE", "RV_GARMAN_KLASS", "RV_PARKINSON", "ZSCORE"]

_LN2 = math.log(2.0)


class _RollingMeanIndicator(StreamingIndicator):
    """Shared state of the realized volatilities and the z-score: one ``RollingWindow``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        check_period(n)
        self.n = n
        self._win = RollingWindow(n)
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.value = NAN
        self._win.reset()
        self._prev = NAN

    @property
    def is_ready(self) -> bool:
        return self._win.full

    def snapshot(self) -> dict[str, Any]:
        return {
            "params": {"n": self.n},
            "count": self.count,
            "value": self.value,
            "prev": self._prev,
            "window": self._win.snapshot(),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        check_params(snapshot, {"n": self.n})
        self.count = int(snapshot["count"])
        self.value = float(snapshot["value"])
        self._prev = float(snapshot["prev"])
        self._win.restore(snapshot["window"])


class RV_CLOSE_TO_CLOSE(_RollingMeanIndicator):
    """Per-bar close-to-close realized volatility: RMS of the last ``n`` log returns."""

    def update(self, value: float) -> float:
        self.count += 1
        if self.count > 1:
            r = math.log(value / self._prev)
            self._win.push(r * r)
            if self._win.full:
                self.value = math.sqrt(max(self._win.mean(), 0.0))  # rounding can dip below 0
        self._prev = value
        return self.value


class RV_PARKINSON(_RollingMeanIndicator):
    """Per-bar Parkinson volatility: ``sqrt(mean(ln(h/l)^2) / (4 ln 2))``."""

    def update_bar(self, high: float, low: float) -> float:
        self.count += 1
        hl = math.log(high / low)
        self._win.push(hl * hl)
        if self._win.full:
            self.value = math.sqrt(max(self._win.mean(), 0.0) / (4.0 * _LN2))
        return self.value


class RV_GARMAN_KLASS(_RollingMeanIndicator):
    """Per-bar Garman-Klass volatility (formula in ``batch.volatility``)."""

    def update_bar(self, open: float, high: float, low: float, close: float) -> float:
        self.count += 1
        hl = math.log(high / low)
        co = math.log(close / open)
        self._win.push(0.5 * hl * hl - (2.0 * _LN2 - 1.0) * co * co)
        if self._win.full:
            self.value = math.sqrt(max(self._win.mean(), 0.0))
        return self.value


class ZSCORE(_RollingMeanIndicator):
    """Rolling z-score of the current value against the last ``n`` (population std)."""

    def update(self, value: float) -> float:
        self.count += 1
        self._win.push(value)
        if self._win.full:
            std = self._win.pstd()
            self.value = (value - self._win.mean()) / std if std > 0.0 else 0.0
        return self.value
