"""Rolling windows kept sorted, so a median costs one index (the validator's hot path)."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque


def median_of_sorted(ordered: list[float]) -> float:
    """Return the median of an already sorted, non-empty list."""
    half = len(ordered) >> 1
    if len(ordered) & 1:
        return ordered[half]
    return (ordered[half - 1] + ordered[half]) * 0.5


def push_sorted(window: deque[float], ordered: list[float], value: float, size: int) -> None:
    """Append ``value`` to ``window`` (dropping the oldest past ``size``), keeping ``ordered``."""
    if len(window) >= size:
        del ordered[bisect_left(ordered, window.popleft())]
    window.append(value)
    insort(ordered, value)
