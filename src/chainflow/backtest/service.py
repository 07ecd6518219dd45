"""Asynchronous backtest jobs: accept, run off the event loop, report progress and results.

``submit`` checks the caller's tier (optimization and walk-forward are tier features; jobs
per UTC day are a tier quota), checks the request, stores the job as ``queued`` and
schedules it. A job reads the tenant's stored bars, then computes in a worker thread
(``jobs.run_plan``; an optimization inside it uses its own process pool) while this loop
copies its progress to the row every ``PROGRESS_INTERVAL_S``. It ends ``succeeded`` with
its result or ``failed`` with the reason. ``start`` marks jobs that a previous process left
queued or running as failed: nothing runs them any more.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chainflow.backtest.errors import (
    BacktestFeatureNotInTierError,
    BacktestJobNotFoundError,
    BacktestQuotaExceededError,
    InvalidBacktestRequestError,
)
from chainflow.backtest.jobs import JobPlan, moment_ms, plan_job, run_plan
from chainflow.backtest.model_source import ModelSource, load_model
from chainflow.backtest.model_training import ML_STRATEGY
from chainflow.backtest.models import BacktestJob
from chainflow.backtest.repository import BacktestJobRepository, UnfinishedJobSweep
from chainflow.backtest.schemas import BacktestJobCreate, BacktestJobRead
from chainflow.backtest.types import Bars
from chainflow.core.auth import Feature, Principal
from chainflow.core.clock import Clock
from chainflow.core.errors import ChainflowError
from chainflow.core.logging import get_logger
from chainflow.core.market import Timeframe
from chainflow.core.tenancy import TenantContext
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.relational import Database

log = get_logger("chainflow.backtest.service")

PROGRESS_INTERVAL_S = 0.5
RESTART_MESSAGE = "the server stopped while the job was queued or running; submit it again"
KIND_FEATURES = {"optimize": Feature.OPTIMIZATION, "walkforward": Feature.WALK_FORWARD}


class BacktestService:
    """Runs backtest jobs for tenants; one instance per process, built by the kernel."""

    def __init__(
        self,
        *,
        database: Database,
        store: TimeSeriesStore,
        clock: Clock,
        job_threads: int = 1,
        optimize_workers: int = 1,
        models: ModelSource | None = None,
    ) -> None:
        self._models = models  # the registry ML backtests read their model from
        self._database = database
        self._store = store
        self._clock = clock
        self._threads = job_threads
        self._optimize_workers = optimize_workers
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the worker threads; fail jobs a previous process left unfinished."""
        self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="backtest-job")
        async with self._database.unit_of_work(system=True) as uow:
            count = await UnfinishedJobSweep(uow.session).fail_all(
                message=RESTART_MESSAGE, at=self._clock.now()
            )
        if count:
            log.warning("backtest_jobs_interrupted", jobs=count)

    async def stop(self) -> None:
        """Stop scheduling; a job still computing is left to the next start's sweep."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def idle(self) -> None:
        """Wait until every scheduled job of this process has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- the API -----------------------------------------------------------------------

    async def submit(self, principal: Principal, request: BacktestJobCreate) -> BacktestJobRead:
        """Check tier and request, store the job ``queued`` and schedule it."""
        feature = KIND_FEATURES.get(request.kind)
        if feature is not None and not principal.has_feature(feature):
            raise BacktestFeatureNotInTierError(
                f"a {request.kind!r} job needs the feature {feature.value!r}, which tier "
                f"{principal.tier.value!r} does not include; upgrade to use it",
                details={"required_feature": feature.value, "tier": principal.tier.value},
            )
        plan = plan_job(request)
        tenant = principal.tenant
        now = self._clock.now()
        day = utc_day_start(now)
        quota = principal.limits.backtests_per_day
        async with self._database.unit_of_work(tenant) as uow:
            jobs = BacktestJobRepository(uow.session, tenant)
            used = await jobs.count_created_since(day)
            if used >= quota:
                raise BacktestQuotaExceededError(
                    f"expected at most {quota} backtest jobs per day on tier "
                    f"{principal.tier.value!r}; received job {used + 1} today (UTC)",
                    retry_after_s=(day + timedelta(days=1) - now).total_seconds(),
                    details={"limit": quota, "used": used, "tier": principal.tier.value},
                )
            row = await jobs.create({
                "user_id": principal.user_id, "kind": request.kind, "status": "queued",
                "progress": 0.0, "symbol": request.symbol.strip().upper(),
                "timeframe": request.timeframe.strip().upper(), "strategy": request.strategy,
                "request": request.model_dump(mode="json", by_alias=True),
            })  # fmt: skip
            job = to_read(row)

            async def schedule() -> None:
                self._schedule(job.id, tenant, plan)

            uow.after_commit(schedule)
        return job

    async def get(self, tenant: TenantContext, job_id: str) -> BacktestJobRead:
        """Return the tenant's job ``job_id`` with its result; 404 for another tenant's."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            row = await BacktestJobRepository(uow.session, tenant).find(job_id)
            if row is None:
                raise BacktestJobNotFoundError(f"backtest job {job_id!r} was not found")
            return to_read(row, with_result=True)

    async def list(self, tenant: TenantContext, *, limit: int) -> list[BacktestJobRead]:
        """Return the tenant's newest jobs first, without results."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            rows = await BacktestJobRepository(uow.session, tenant).latest(limit=limit)
            return [to_read(r) for r in rows]

    # --- running -----------------------------------------------------------------------

    def _schedule(self, job_id: str, tenant: TenantContext, plan: JobPlan) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run(job_id, tenant, plan), name=f"backtest.run_job.{job_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job_id: str, tenant: TenantContext, plan: JobPlan) -> None:
        try:
            await self._set(tenant, job_id, status="running", started_at=self._clock.now())
            bars = await self._bars(tenant, plan)
            if plan.kind == "backtest" and plan.strategy == ML_STRATEGY:
                plan = await self._with_model(tenant, plan)
            result = await self._compute(tenant, job_id, plan, bars)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            message = e.message if isinstance(e, ChainflowError) else f"{type(e).__name__}: {e}"
            log.warning("backtest_job_failed", job_id=job_id, error=message)
            await self._set(
                tenant, job_id, status="failed", error=message, finished_at=self._clock.now()
            )
            return
        await self._set(
            tenant, job_id, status="succeeded", progress=1.0, result=result,
            finished_at=self._clock.now(),
        )  # fmt: skip

    async def _compute(
        self, tenant: TenantContext, job_id: str, plan: JobPlan, bars: Bars
    ) -> dict[str, Any]:
        if self._executor is None:
            raise RuntimeError("BacktestService.start() must run before jobs are computed")
        latest = [0.0]

        def report(fraction: float) -> None:  # called from the worker thread
            latest[0] = min(1.0, max(0.0, fraction))

        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._executor, lambda: run_plan(plan, bars, report, workers=self._optimize_workers)
        )
        written = 0.0
        while True:
            done, _ = await asyncio.wait({future}, timeout=PROGRESS_INTERVAL_S)
            if done:
                return future.result()
            if latest[0] > written:
                written = latest[0]
                await self._set(tenant, job_id, progress=round(written, 4))

    async def _with_model(self, tenant: TenantContext, plan: JobPlan) -> JobPlan:
        """Load the registered model an ML backtest trades (as the tenant sees it)."""
        if self._models is None:
            raise InvalidBacktestRequestError("ML backtests need the model registry here")
        ref = str(plan.params.get("model") or self._models.default)
        model = await load_model(self._models.registry, self._database, ref, viewer=tenant)
        return replace(plan, model=model)

    async def _bars(self, tenant: TenantContext, plan: JobPlan) -> Bars:
        from chainflow.backtest.data import load_stored, parse_timeframe

        request = plan.request
        timeframe: Timeframe = parse_timeframe(request.timeframe)
        end = moment_ms(request.end)
        until = end if end is not None else self._clock.now_ms() + 1
        return await load_stored(
            self._store, tenant.tenant_id, request.symbol.strip().upper(), timeframe,
            start_ms=moment_ms(request.start), end_ms=until,
        )  # fmt: skip

    async def _set(self, tenant: TenantContext, job_id: str, **values: Any) -> None:
        async with self._database.unit_of_work(tenant) as uow:
            await BacktestJobRepository(uow.session, tenant).set_values(job_id, values)


def to_read(row: BacktestJob, *, with_result: bool = False) -> BacktestJobRead:
    """Return the wire form of a job row."""
    return BacktestJobRead(
        id=row.id, kind=row.kind, status=row.status, progress=row.progress,  # type: ignore[arg-type]
        symbol=row.symbol, timeframe=row.timeframe, strategy=row.strategy,
        created_at=row.created_at, started_at=row.started_at, finished_at=row.finished_at,
        error=row.error, result=row.result if with_result else None,
    )  # fmt: skip


def utc_day_start(moment: datetime) -> datetime:
    """Return midnight UTC of ``moment``'s day."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
