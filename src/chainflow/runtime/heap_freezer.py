"""State built while serving moves out of the garbage collector's passes once built.

``tune_gc_for_serving`` freezes the heap of the started server (``gc.freeze``): what exists
then is never visited by a collection again. The state built later is not: a terminal's
``hello`` builds a pipeline per timeframe and a tick path state per symbol, each holding
windows of hundreds of floats in deques and lists. Those containers go through the young,
then the middle, then the old generation, and a pass over a generation visits every item
of every window it holds while the event loop serves nothing. On the aligned benchmark
(300 keys built before the measured seconds) a middle pass over them took 362 ms, right
after the hour's bar closes.

``HeapFreezer`` freezes again once a wave of builds has settled: no build running and none
finished for ``settle_s``. ``gc.freeze`` splices the generations' lists into the permanent
one, which costs the same whatever their size. Reference counting still frees a frozen
object when it is dropped (a pipeline or key state has no reference cycle, see
``tests/runtime/test_heap_freezer.py``); only cyclic garbage among frozen objects would stay
until ``gc.unfreeze``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chainflow.core.logging import get_logger

log = get_logger("chainflow.runtime.heap_freezer")


@dataclass(frozen=True, slots=True)
class BuildProgress:
    """What the freezer watches of a service: its state builds so far (never decreasing)
    and those still running."""

    built: Callable[[], int]
    running: Callable[[], int]


class HeapFreezer:
    """Freeze the heap after each settled wave of state builds; see the module doc."""

    def __init__(
        self,
        sources: Sequence[BuildProgress],
        *,
        settle_s: float = 2.0,
        interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sources = tuple(sources)
        self._settle_s = settle_s
        self._interval_s = interval_s
        self._clock = clock
        self._frozen_at_built = self._built()
        self._last_built = self._frozen_at_built
        self._changed_s = clock()
        self.freezes = 0

    def _built(self) -> int:
        return sum(source.built() for source in self._sources)

    def poll(self) -> bool:
        """Freeze when builds finished since the last freeze and have settled; return
        whether it froze."""
        now = self._clock()
        built = self._built()
        if built != self._last_built:
            self._last_built, self._changed_s = built, now
            return False
        if built == self._frozen_at_built or any(s.running() for s in self._sources):
            return False
        if now - self._changed_s < self._settle_s:
            return False
        gc.freeze()
        self._frozen_at_built = built
        self.freezes += 1
        # Not ``gc.get_freeze_count()``: it walks the permanent generation, 40 ms for 3
        # million objects, in the loop's turn (it stalled the noisy scenario's live ticks).
        log.debug("heap_frozen", builds=built, freezes=self.freezes)
        return True

    async def run(self) -> None:
        """Poll every ``interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(self._interval_s)
            self.poll()
