"""Group commit: one writer task turns many concurrent appends into few transactions.

Callers put their rows on a queue and wait. The writer takes the oldest append, gathers
more until the batch holds ``max_rows`` rows or the oldest append has waited
``max_delay_s``, commits the batch (one commit per table in it), then resolves every
caller's future. An append is therefore durable when it returns, and a slow commit
naturally makes the next batch larger.

A commit may skip rows (the ``ticks`` table ignores ticks it already holds): it then
returns, per row, whether the row was stored, and each caller receives its own slice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chainflow.core.errors import DependencyUnavailable
from chainflow.core.logging import get_logger
from chainflow.storage.api import TableSpec
from chainflow.storage.timeseries.tables import EncodedRow

StoredMask = list[bool]
"""Per row of a commit, whether it was stored (``False``: the table already held it)."""

CommitRows = Callable[[TableSpec, list[EncodedRow]], Awaitable[StoredMask | None]]

_log = get_logger(__name__)


@dataclass(slots=True)
class _PendingAppend:
    spec: TableSpec
    rows: list[EncodedRow]
    enqueued_at: float
    done: asyncio.Future[StoredMask] = field(repr=False)


class _Stop:
    pass


_STOP = _Stop()


class GroupCommitWriter:
    """Serialize appends through one task that commits them in batches.

    ``commit`` receives the rows of one table from one batch, in arrival order, and must
    make all of them durable atomically or raise; it returns ``None`` when it stored every
    row, else the ``StoredMask`` of the rows it stored. Tables are committed one after another,
    never together, so a failure cannot leave half a commit behind to be retried. If the
    rows of several appends fail together, each append is retried alone so that one bad
    append fails only its own caller.
    """

    def __init__(
        self, commit: CommitRows, *, max_rows: int, max_delay_s: float, description: str
    ) -> None:
        self._commit = commit
        self._max_rows = max(1, max_rows)
        self._max_delay_s = max(0.0, max_delay_s)
        self._description = description
        self._queue: asyncio.Queue[_PendingAppend | _Stop] = asyncio.Queue()
        self._carry: _PendingAppend | None = None
        self._batch: list[_PendingAppend] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.commit_count = 0
        self.rows_committed = 0
        self.commit_seconds = 0.0
        self.failed_appends = 0

    def start(self) -> None:
        """Start the writer task on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"group-commit {self._description}"
            )

    async def append(self, spec: TableSpec, rows: list[EncodedRow]) -> StoredMask:
        """Queue ``rows`` for ``spec``; once committed, return which of them were stored."""
        if self._closing or self._task is None:
            state = "closed" if self._closing else "not started"
            raise DependencyUnavailable(
                f"time-series store {self._description} is {state}; expected an open store "
                f"to append {len(rows)} row(s) to {spec.name!r}"
            )
        loop = asyncio.get_running_loop()
        pending = _PendingAppend(spec, rows, loop.time(), loop.create_future())
        self._queue.put_nowait(pending)
        return await pending.done

    async def close(self) -> None:
        """Refuse new appends, commit every queued one, then stop the writer task."""
        if self._closing:
            if self._task is not None:
                await asyncio.wait([self._task])
            return
        self._closing = True
        if self._task is None:
            return
        self._queue.put_nowait(_STOP)
        await asyncio.wait([self._task])
        failure = None if self._task.cancelled() else self._task.exception()
        if failure is not None:
            _log.error("timeseries.writer_failed", store=self._description, exc_info=failure)

    async def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                stopping = await self._gather()
                if self._batch:
                    await self._commit_batch(self._batch)
                self._batch = []
        except BaseException as e:
            self._fail_all(e)
            raise

    async def _gather(self) -> bool:
        """Fill ``self._batch``; return whether the stop marker was reached."""
        first = self._carry or await self._queue.get()
        self._carry = None
        if isinstance(first, _Stop):
            return True
        batch = self._batch = [first]
        size = len(first.rows)
        loop = asyncio.get_running_loop()
        deadline = first.enqueued_at + self._max_delay_s
        while size < self._max_rows:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if isinstance(item, _Stop):
                return True
            if size + len(item.rows) > self._max_rows:
                self._carry = item
                break
            batch.append(item)
            size += len(item.rows)
        return False

    async def _commit_batch(self, batch: list[_PendingAppend]) -> None:
        by_table: dict[str, list[_PendingAppend]] = {}
        for pending in batch:
            if not pending.done.done():
                by_table.setdefault(pending.spec.name, []).append(pending)
        for appends in by_table.values():
            await self._commit_table(appends)

    async def _commit_table(self, appends: list[_PendingAppend]) -> None:
        spec = appends[0].spec
        rows = appends[0].rows if len(appends) == 1 else [r for p in appends for r in p.rows]
        started = time.perf_counter()
        try:
            mask = await self._commit(spec, rows)
            self._count_commit(len(rows), started)
        except Exception as e:
            if len(appends) == 1:
                self.failed_appends += 1
                _resolve(appends[0], error=e)
                return
            _log.warning(
                "timeseries.batch_commit_failed",
                store=self._description,
                table=spec.name,
                appends=len(appends),
                error=str(e),
            )
            for pending in appends:
                started = time.perf_counter()
                try:
                    single_mask = await self._commit(spec, pending.rows)
                    self._count_commit(len(pending.rows), started)
                except Exception as single_error:
                    self.failed_appends += 1
                    _resolve(pending, error=single_error)
                else:
                    _resolve(pending, mask=single_mask)
            return
        offset = 0
        for pending in appends:
            count = len(pending.rows)
            _resolve(pending, mask=None if mask is None else mask[offset : offset + count])
            offset += count

    def _count_commit(self, rows: int, started: float) -> None:
        self.commit_count += 1
        self.rows_committed += rows
        self.commit_seconds += time.perf_counter() - started

    def _fail_all(self, cause: BaseException) -> None:
        error = DependencyUnavailable(
            f"time-series store {self._description}: the writer stopped "
            f"({type(cause).__name__}) before confirming this append; expected it to run "
            "until close()"
        )
        leftovers: list[_PendingAppend] = list(self._batch)
        if self._carry is not None:
            leftovers.append(self._carry)
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                item = self._queue.get_nowait()
                if isinstance(item, _PendingAppend):
                    leftovers.append(item)
        self._closing = True
        for pending in leftovers:
            _resolve(pending, error=error)


def _resolve(
    pending: _PendingAppend,
    *,
    mask: StoredMask | None = None,
    error: BaseException | None = None,
) -> None:
    if pending.done.done():
        return
    if error is None:
        pending.done.set_result([True] * len(pending.rows) if mask is None else mask)
    else:
        pending.done.set_exception(error)
