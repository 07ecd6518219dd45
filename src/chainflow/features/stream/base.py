"""The shape every streaming indicator shares (after Nautilus ``indicators/base.pyx``).

A streaming indicator is the twin of a batch function in ``chainflow.features.batch``: fed
the same values one at a time, ``value`` equals the batch output at that index (relative
1e-9) once ``is_ready``. Before that, ``value`` is ``nan`` (TA-Lib's warm-up). State is
plain numbers and small deques, so ``snapshot()`` returns a JSON-serializable dict and
``restore(snapshot)`` continues exactly where it left off (warm restart after a crash).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

NAN = math.nan


class StreamingIndicator(ABC):
    """Base of every streaming indicator: ``update``/``update_bar``, ``value``, ``reset``."""

    def __init__(self) -> None:
        self.count = 0

    @property
    @abstractmethod
    def is_ready(self) -> bool:
        """Return whether the warm-up is over (``value`` is not ``nan``)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget everything, as if newly made with the same parameters."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Return the whole state as JSON-serializable data."""

    @abstractmethod
    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from a ``snapshot()`` of an indicator with the same parameters."""
