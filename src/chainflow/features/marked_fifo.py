"""Windows of floats that undo their recent values without a copy: ``mark`` and ``rewind``.

A pipeline's checkpoint (``SymbolPipeline.checkpoint``) is taken for every closed bar of
every key and kept until the next one. Its biggest parts are windows: the rolling scalers'
500 values and the regime detector's 2,000 fit values. A copy of such a window costs the
copy, then a visit of every item by the garbage collector's young and middle passes, one
cache miss each. A mark keeps the window's length, the scalars of its owner, and the values
the window drops after it (one per bar). ``rewind`` drops the values added since the mark
and puts the dropped ones back, oldest first: the window is exactly what it was.

A newer mark, a ``restore`` or a ``reset`` makes older marks stale: ``rewind`` refuses
them. The window holds its mark weakly: once the checkpoint is dropped, nothing more is
kept for it, and a mark never keeps more than the window held.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError


@dataclass(frozen=True, slots=True, weakref_slot=True)
class FifoMark:
    """A window's state at ``mark()``, for ``rewind``: its owner's scalars, how many values
    it held, and the first of the values it drops after the mark (at most ``held``: the
    window at the mark is all they can restore)."""

    scalars: tuple[Any, ...]
    held: int
    dropped: list[float]


class MarkedFifo:
    """A first-in first-out window of floats with ``mark``/``rewind``; see the module doc.

    Subclasses hold the values in ``_values`` and call ``_note_dropped`` when the window
    drops its oldest value while marked (``self._mark is not None``); one that keeps more
    state than the values (running sums, a sorted copy) overrides ``_scalars``,
    ``_set_scalars``, ``_drop_newest`` and ``_put_back_oldest``.
    """

    _values: deque[float]
    _mark: weakref.ref[FifoMark] | None = None  # the latest mark(), while it is alive

    def mark(self) -> FifoMark:
        """Record the state cheaply for ``rewind`` (older marks become stale)."""
        mark = FifoMark(self._scalars(), len(self._values), [])
        self._mark = weakref.ref(mark)
        return mark

    def rewind(self, mark: FifoMark) -> None:
        """Undo every value added since ``mark``: the state is exactly as it was then.

        The mark stays valid: the window can be rewound to it again after more values."""
        if self._mark is None or self._mark() is not mark:
            raise FeatureStateMismatchError(
                "expected the window's latest mark; received an older one "
                "(marked again, restored or reset since)"
            )
        # The window at the mark, then the values added since, is the values dropped since
        # (oldest first) followed by the window now: its first ``held`` are the window then.
        dropped = mark.dropped
        keep = mark.held - len(dropped)
        for _ in range(len(self._values) - keep):
            self._drop_newest()
        self._put_back_oldest(dropped)
        dropped.clear()
        self._set_scalars(mark.scalars)

    def _note_dropped(self, value: float) -> None:
        """The window dropped ``value``: keep it for the live mark, if it still needs it."""
        assert self._mark is not None
        mark = self._mark()
        if mark is None:  # its checkpoint is gone
            self._mark = None
        elif len(mark.dropped) < mark.held:
            mark.dropped.append(value)

    def _scalars(self) -> tuple[Any, ...]:
        return ()

    def _set_scalars(self, scalars: tuple[Any, ...]) -> None:
        pass

    def _drop_newest(self) -> None:
        self._values.pop()

    def _put_back_oldest(self, dropped: list[float]) -> None:
        self._values.extendleft(reversed(dropped))


class FifoWindow(MarkedFifo):
    """The last ``maxlen`` values added, oldest first (a ``deque(maxlen=...)`` that can be
    marked and rewound)."""

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise InvalidFeatureInputError(f"expected maxlen >= 1; received {maxlen}")
        self.maxlen = maxlen
        self._values = deque()
        self._mark = None

    def append(self, value: float) -> None:
        values = self._values
        if len(values) == self.maxlen:
            oldest = values.popleft()
            if self._mark is not None:
                self._note_dropped(oldest)
        values.append(value)

    def extend(self, values: Iterable[float]) -> None:
        for value in values:
            self.append(value)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[float]:
        return iter(self._values)
