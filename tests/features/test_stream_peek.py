"""``peek_bar``: what ``update_bar`` would return, the state left as it was."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainflow.features.stream import ATR, TRANGE


def _bars(count: int, seed: int) -> list[tuple[float, float, float]]:
    rng = np.random.default_rng(seed)
    close = 1.1 + np.cumsum(rng.normal(0.0, 0.001, count))
    spread = np.abs(rng.normal(0.0, 0.0008, count))
    return [(c + s, c - s, c) for c, s in zip(close, spread, strict=True)]


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("n", [1, 2, 14])
def test_atr_peek_equals_the_update_it_previews_at_every_step(n: int) -> None:
    atr, twin = ATR(n), ATR(n)
    for high, low, close in _bars(60, seed=n):
        peeked = atr.peek_bar(high, low, close)
        assert _same(atr.peek_bar(high, low, close), peeked)  # peeking changes nothing
        assert _same(peeked, atr.update_bar(high, low, close))
        assert _same(atr.value, twin.update_bar(high, low, close))


def test_trange_peek_equals_update() -> None:
    tr = TRANGE()
    for high, low, close in _bars(10, seed=3):
        peeked = tr.peek_bar(high, low)
        assert _same(peeked, tr.update_bar(high, low, close))
