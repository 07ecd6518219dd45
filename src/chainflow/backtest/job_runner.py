"""Running accepted backtest jobs: off the event loop, cancellable, checkpointed, and never
keeping the process alive past a shutdown.

Each job computes in its own daemon thread (``jobs.run_plan``), at most ``job_threads`` at
once; the others wait ``queued``. While one runs, this loop copies its progress to the row
every ``PROGRESS_INTERVAL_S`` and asks it for a checkpoint every ``checkpoint_interval_s``
(the finished trials or windows, written to the row too). The progress write is a
compare-and-set on ``running``: when it finds the job no longer running (cancelled through
another process), the job is asked to stop.

A job asked to stop (``stop_job``: cancelled by its tenant; ``stop``: a shutdown) saves a
checkpoint at its next step, one backtest later, and ends ``cancelled`` or
``interrupted``. ``stop`` waits at most ``stop_timeout_s`` for that; a job still computing
then (inside one long backtest) is marked ``interrupted`` with its latest checkpoint and
left behind: its thread is a daemon, so the process exits anyway.

``start`` marks jobs that a previous process left queued or running ``interrupted``
(killed without a shutdown): their last checkpoint stays, so they can be resumed.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from chainflow.backtest.control import JobControl, JobStopped, StopReason
from chainflow.backtest.errors import InvalidBacktestRequestError
from chainflow.backtest.jobs import JobPlan, run_plan
from chainflow.backtest.model_source import ModelSource, load_model
from chainflow.backtest.model_training import ML_STRATEGY
from chainflow.backtest.repository import UNFINISHED, BacktestJobRepository, UnfinishedJobSweep
from chainflow.core.clock import Clock
from chainflow.core.errors import ChainflowError
from chainflow.core.logging import get_logger
from chainflow.core.market import BarSeries
from chainflow.core.settings import BacktestSettings
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import Database

log = get_logger("chainflow.backtest.job_runner")

PROGRESS_INTERVAL_S = 0.5
INTERRUPTED_MESSAGE = (
    "the server stopped while the job was queued or running; resume it with "
    "POST /api/v1/backtests/{id}/resume"
)
STOPPED = ("cancelled", "interrupted")


@dataclass(slots=True)
class RunningJob:
    """A job this process has scheduled: who owns it, its control and its task."""

    tenant: TenantContext
    control: JobControl
    task: asyncio.Task[None] | None = None


class JobRunner:
    """Computes jobs in daemon threads and keeps their rows up to date."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        config: BacktestSettings,
        models: ModelSource | None = None,
        on_finished: Callable[[str, TenantContext], Awaitable[None]] | None = None,
    ) -> None:
        self._database = database
        self._clock = clock
        self._config = config
        self._models = models
        self._on_finished = on_finished  # after a job ended succeeded or failed
        self._jobs: dict[str, RunningJob] = {}
        self._slots: asyncio.Semaphore | None = None
        self._checkpoint_every = max(
            1, math.ceil(config.checkpoint_interval_s / PROGRESS_INTERVAL_S)
        )

    @property
    def is_accepting(self) -> bool:
        """Return whether jobs can be scheduled (between ``start`` and ``stop``)."""
        return self._slots is not None

    async def start(self) -> None:
        """Mark jobs a previous process left unfinished interrupted; accept jobs."""
        async with self._database.unit_of_work(system=True) as uow:
            count = await UnfinishedJobSweep(uow.session).interrupt_all(
                message=INTERRUPTED_MESSAGE, at=self._clock.now()
            )
        if count:
            log.warning("backtest_jobs_interrupted", jobs=count)
        self._slots = asyncio.Semaphore(self._config.job_threads)

    async def stop(self) -> None:
        """Ask every job to stop, wait at most ``stop_timeout_s``, mark the rest interrupted."""
        self._slots = None
        jobs = dict(self._jobs)
        for job in jobs.values():
            job.control.request_stop("interrupted")
        tasks = {job.task for job in jobs.values() if job.task is not None}
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self._config.stop_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        late = [(job_id, job) for job_id, job in jobs.items() if job.task in pending]
        for job_id, job in late:
            reason = job.control.stop_reason or "interrupted"
            await self._record_stop(job.tenant, job_id, job.control, reason)
        if late:
            log.warning("backtest_jobs_left_computing", jobs=[job_id for job_id, _ in late])

    async def idle(self) -> None:
        """Wait until every job of this process has finished (tests, shutdown)."""
        while self._jobs:
            tasks = [job.task for job in self._jobs.values() if job.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)

    def schedule(
        self,
        job_id: str,
        tenant: TenantContext,
        plan: JobPlan,
        bars: BarSeries,
        resume: dict[str, Any] | None = None,
    ) -> None:
        """Run job ``job_id`` (its row is ``queued``) as soon as a thread is free."""
        job = RunningJob(tenant, JobControl(resume))
        self._jobs[job_id] = job
        job.task = asyncio.get_running_loop().create_task(
            self._run(job_id, job, plan, bars, resume), name=f"backtest.run_job.{job_id}"
        )
        job.task.add_done_callback(lambda _task: self._forget(job_id, job))

    def stop_job(self, job_id: str, reason: StopReason) -> None:
        """Ask job ``job_id`` to stop if it runs in this process."""
        job = self._jobs.get(job_id)
        if job is not None:
            job.control.request_stop(reason)

    # --- one job -------------------------------------------------------------------------

    async def _run(
        self,
        job_id: str,
        job: RunningJob,
        plan: JobPlan,
        bars: BarSeries,
        resume: dict[str, Any] | None,
    ) -> None:
        tenant, control = job.tenant, job.control
        try:
            result = await self._run_in_slot(job_id, job, plan, bars, resume)
        except JobStopped as stopped:
            await self._record_stop(tenant, job_id, control, stopped.reason)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            message = e.message if isinstance(e, ChainflowError) else f"{type(e).__name__}: {e}"
            log.warning("backtest_job_failed", job_id=job_id, error=message)
            values = {"status": "failed", "error": message, "finished_at": self._clock.now()}
            if await self._update(tenant, job_id, values, ("running",)) and self._on_finished:
                await self._on_finished(job_id, tenant)
        else:
            if result is not None:
                values = {
                    "status": "succeeded",
                    "progress": 1.0,
                    "result": result,
                    "checkpoint": None,
                    "finished_at": self._clock.now(),
                }
                if await self._update(tenant, job_id, values, ("running",)) and self._on_finished:
                    await self._on_finished(job_id, tenant)

    def _forget(self, job_id: str, job: RunningJob) -> None:
        if self._jobs.get(job_id) is job:
            del self._jobs[job_id]

    async def _run_in_slot(
        self,
        job_id: str,
        job: RunningJob,
        plan: JobPlan,
        bars: BarSeries,
        resume: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        slots = self._slots
        if slots is None:
            raise JobStopped("interrupted")
        async with slots:
            if job.control.stop_reason is not None:
                raise JobStopped(job.control.stop_reason)
            values = {"status": "running", "started_at": self._clock.now()}
            if not await self._update(job.tenant, job_id, values, ("queued",)):
                return None  # cancelled while it waited
            if plan.kind == "backtest" and plan.strategy == ML_STRATEGY:
                plan = await self._with_model(job.tenant, plan)
            return await self._compute(job_id, job, plan, bars, resume)

    async def _compute(
        self,
        job_id: str,
        job: RunningJob,
        plan: JobPlan,
        bars: BarSeries,
        resume: dict[str, Any] | None,
    ) -> dict[str, Any]:
        control = job.control
        future = _in_daemon_thread(
            f"backtest-job-{job_id}",
            lambda: run_plan(
                plan, bars, control, workers=self._config.optimize_workers, resume=resume
            ),
        )
        written_progress, written_version, polls = 0.0, 0, 0
        while True:
            done, _ = await asyncio.wait({future}, timeout=PROGRESS_INTERVAL_S)
            if done:
                return future.result()
            polls += 1
            if polls % self._checkpoint_every == 0:
                control.request_checkpoint()
            values: dict[str, Any] = {}
            if control.progress > written_progress:
                written_progress = control.progress
                values["progress"] = round(written_progress, 4)
            version, checkpoint = control.latest()
            if version > written_version:
                written_version = version
                values["checkpoint"] = checkpoint
            if values and not await self._update(job.tenant, job_id, values, ("running",)):
                control.request_stop("cancelled")  # by a request another process served

    async def _record_stop(
        self, tenant: TenantContext, job_id: str, control: JobControl, reason: StopReason
    ) -> None:
        _, checkpoint = control.latest()
        status: dict[str, Any] = {"status": reason, "finished_at": self._clock.now()}
        status["error"] = INTERRUPTED_MESSAGE if reason == "interrupted" else None
        saved = {"progress": round(control.progress, 4), "checkpoint": checkpoint}
        async with self._database.unit_of_work(tenant) as uow:
            jobs = BacktestJobRepository(uow.session, tenant)
            await jobs.set_values_if(job_id, status, status_in=UNFINISHED)
            await jobs.set_values_if(job_id, saved, status_in=STOPPED)

    async def _with_model(self, tenant: TenantContext, plan: JobPlan) -> JobPlan:
        """Load the registered model an ML backtest trades (as the tenant sees it)."""
        if self._models is None:
            raise InvalidBacktestRequestError("ML backtests need the model registry here")
        ref = str(plan.params.get("model") or self._models.default)
        model = await load_model(self._models.registry, self._database, ref, viewer=tenant)
        return replace(plan, model=model)

    async def _update(
        self, tenant: TenantContext, job_id: str, values: dict[str, Any], status_in: tuple[str, ...]
    ) -> bool:
        async with self._database.unit_of_work(tenant) as uow:
            jobs = BacktestJobRepository(uow.session, tenant)
            return await jobs.set_values_if(job_id, values, status_in=status_in)


def _in_daemon_thread(name: str, work: Callable[[], dict[str, Any]]) -> asyncio.Future[Any]:
    """Run ``work`` in a new daemon thread; return a future of its result on this loop.

    A daemon thread, unlike a ``ThreadPoolExecutor``'s, does not hold the interpreter at
    exit: a shutdown that gave up waiting for a job is not kept alive by it.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            outcome: tuple[bool, Any] = (True, work())
        except Exception as e:
            outcome = (False, e)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop closed: nobody waits for this job any more
            pass

    threading.Thread(target=target, name=name, daemon=True).start()
    return future
