"""Streaming twins of ``chainflow.features.batch.trend``: ADX, +DI, -DI (TA-Lib recursion).

One ``ADX`` carries all three lines (``adx``, ``plus_di``, ``minus_di``); ``PLUS_DI`` and
``MINUS_DI`` are the same machine with that line as ``value`` and its shorter warm-up.
"""

from __future__ import annotations

from typing import Any

from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError
from chainflow.features.stream.base import NAN, StreamingIndicator

__all__ = ["ADX", "MINUS_DI", "PLUS_DI"]

_STATE = ("count", "adx", "plus_di", "minus_di", "_ph", "_pl", "_pc", "_sp", "_sm", "_str", "_sdx")


def _is_zero(v: float) -> bool:
    return v == 0.0


class ADX(StreamingIndicator):
    """Average directional index with +DI/-DI; ``value`` is ``adx`` (ready at ``2n`` bars)."""

    def __init__(self, n: int = 14) -> None:
        super().__init__()
        if n < 2:
            raise InvalidFeatureInputError(f"expected a period >= 2; received {n}")
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.adx = self.plus_di = self.minus_di = NAN
        self._ph = self._pl = self._pc = NAN
        self._sp = self._sm = self._str = self._sdx = 0.0

    @property
    def value(self) -> float:
        return self.adx

    @property
    def is_ready(self) -> bool:
        return self.count >= 2 * self.n

    def update_bar(self, high: float, low: float, close: float) -> float:
        i = self.count
        self.count += 1
        n = self.n
        if i > 0:
            up = high - self._ph
            down = self._pl - low
            pdm = up if (up > 0 and up > down) else 0.0
            mdm = down if (down > 0 and up < down) else 0.0
            tr = max(high, self._pc) - min(low, self._pc)
            if i < n:
                self._sp += pdm
                self._sm += mdm
                self._str += tr
            else:
                self._step(i, pdm, mdm, tr)
        self._ph, self._pl, self._pc = high, low, close
        return self.value

    def _step(self, i: int, pdm: float, mdm: float, tr: float) -> None:
        n = self.n
        self._sp = self._sp - self._sp / n + pdm
        self._sm = self._sm - self._sm / n + mdm
        self._str = self._str - self._str / n + tr
        dx = None
        if _is_zero(self._str):
            self.plus_di = self.minus_di = 0.0
        else:
            pdi = 100.0 * (self._sp / self._str)
            mdi = 100.0 * (self._sm / self._str)
            self.plus_di, self.minus_di = pdi, mdi
            total = mdi + pdi
            if not _is_zero(total):
                dx = 100.0 * (abs(mdi - pdi) / total)
        if i < 2 * n - 1:
            if dx is not None:
                self._sdx += dx
        elif i == 2 * n - 1:
            if dx is not None:
                self._sdx += dx
            self.adx = self._sdx / n
        elif dx is not None:
            self.adx = (self.adx * (n - 1) + dx) / n

    def snapshot(self) -> dict[str, Any]:
        state: dict[str, Any] = {k: getattr(self, k) for k in _STATE}
        state["params"] = {"n": self.n}
        return state

    def restore(self, snapshot: dict[str, Any]) -> None:
        if snapshot.get("params") != {"n": self.n}:
            raise FeatureStateMismatchError(
                f"snapshot params {snapshot.get('params')} != {{'n': {self.n}}}"
            )
        for k in _STATE:
            setattr(self, k, int(snapshot[k]) if k == "count" else float(snapshot[k]))


class PLUS_DI(ADX):
    """+DI as ``value`` (ready after ``n + 1`` bars)."""

    @property
    def value(self) -> float:
        return self.plus_di

    @property
    def is_ready(self) -> bool:
        return self.count > self.n


class MINUS_DI(ADX):
    """-DI as ``value`` (ready after ``n + 1`` bars)."""

    @property
    def value(self) -> float:
        return self.minus_di

    @property
    def is_ready(self) -> bool:
        return self.count > self.n
