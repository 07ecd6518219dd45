"""The channel between a running job's computation (a worker thread) and its service.

The service asks; the computation answers at its next *step*, between two units of work
(one backtest of a search, one walk-forward window), by calling ``JobControl.step`` with a
function that snapshots what it has finished so far:

- ``request_checkpoint()``: the next step saves a snapshot (the service writes it to the
  job's row every ``checkpoint_interval_s``);
- ``request_stop(reason)``: the next step saves a snapshot and raises ``JobStopped`` with
  the reason (``cancelled`` by the tenant, ``interrupted`` by a shutdown), so a job stops
  within one unit of work of being asked, with its progress kept for a resume.

Nothing here reads a clock: how often to ask is the service's business.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

StopReason = Literal["cancelled", "interrupted"]
Snapshot = Callable[[], dict[str, Any]]
Step = Callable[[Snapshot], None]
Progress = Callable[[int, int], None]  # (done, total)


class JobStopped(Exception):
    """Raised by ``JobControl.step`` once the job was asked to stop; its snapshot is saved."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(f"the job was {reason}")
        self.reason: StopReason = reason


class JobControl:
    """Stop and checkpoint requests for one job, its progress and its latest snapshot
    (at first the ``checkpoint`` it resumes from); safe to use from the event loop and the
    worker thread at once."""

    def __init__(self, checkpoint: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._stop_reason: StopReason | None = None
        self._checkpoint_wanted = threading.Event()
        self._checkpoint = checkpoint
        self._version = 0
        self._progress = 0.0
        if checkpoint and checkpoint.get("total"):
            self._progress = checkpoint["done"] / checkpoint["total"]

    @property
    def stop_reason(self) -> StopReason | None:
        """Return why the job was asked to stop, or ``None`` while it may run."""
        return self._stop_reason

    @property
    def progress(self) -> float:
        """Return the latest progress reported, 0 to 1."""
        return self._progress

    def request_stop(self, reason: StopReason) -> None:
        """Ask the job to stop at its next step (the first reason asked for is kept)."""
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason

    def request_checkpoint(self) -> None:
        """Ask the job to save a snapshot at its next step."""
        self._checkpoint_wanted.set()

    def report(self, fraction: float) -> None:
        """Record the progress (clamped to 0..1); called from the worker thread."""
        self._progress = min(1.0, max(0.0, fraction))

    def step(self, snapshot: Snapshot) -> None:
        """Between two units of work: save ``snapshot()`` when asked to or when stopping;
        then raise ``JobStopped`` if the job was asked to stop."""
        reason = self._stop_reason
        if reason is None and not self._checkpoint_wanted.is_set():
            return
        self._checkpoint_wanted.clear()
        taken = snapshot()
        with self._lock:
            self._checkpoint = taken
            self._version += 1
        if reason is not None:
            raise JobStopped(reason)

    def latest(self) -> tuple[int, dict[str, Any] | None]:
        """Return how many snapshots were saved so far and the latest one (or the one the
        job resumed from)."""
        with self._lock:
            return self._version, self._checkpoint
