"""Asynchronous backtest jobs: accept, cancel, resume; report progress and results.

``submit`` checks the caller's tier (optimization and walk-forward are tier features; jobs
per UTC day are a tier quota), checks the request, reads the bars it runs on and checks the
job's size against the tier's cap (combinations x bars, ``job_size``), stores the job as
``queued`` and hands it to the ``JobRunner``. It ends ``succeeded`` with its result or
``failed`` with the reason; ``cancel`` (the tenant) and a shutdown stop it within one
backtest as ``cancelled`` or ``interrupted``, its finished trials or windows kept in its
checkpoint, and ``resume`` runs it again from there on the same bars.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chainflow.backtest.errors import (
    BacktestFeatureNotInTierError,
    BacktestJobFinishedError,
    BacktestJobNotFoundError,
    BacktestJobNotResumableError,
    BacktestQuotaExceededError,
    BacktestServiceStoppingError,
)
from chainflow.backtest.job_runner import STOPPED, JobRunner
from chainflow.backtest.job_size import check_job_size, job_size
from chainflow.backtest.jobs import JobPlan, moment_ms, plan_job
from chainflow.backtest.model_source import ModelSource
from chainflow.backtest.models import BacktestJob
from chainflow.backtest.repository import UNFINISHED, BacktestJobRepository
from chainflow.backtest.schemas import BacktestJobCreate, BacktestJobRead, JobCheckpoint
from chainflow.core.auth import Feature, Principal
from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.core.market import BarSeries, Timeframe
from chainflow.core.messages import topic
from chainflow.core.settings import BacktestSettings
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import EventBus
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.relational import Database

log = get_logger("chainflow.backtest.service")

KIND_FEATURES = {"optimize": Feature.OPTIMIZATION, "walkforward": Feature.WALK_FORWARD}
CANCELLABLE = (*UNFINISHED, "interrupted")


def job_finished_topic(tenant_id: str) -> str:
    """Return ``backtest.finished.<tenant>``: a job ended ``succeeded`` or ``failed``."""
    return topic("backtest", "finished", tokens=(tenant_id,))


class BacktestService:
    """Runs backtest jobs for tenants; one instance per process, built by the kernel."""

    def __init__(
        self,
        *,
        database: Database,
        store: TimeSeriesStore,
        clock: Clock,
        config: BacktestSettings | None = None,
        models: ModelSource | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self._database = database
        self._store = store
        self._clock = clock
        self._bus = bus
        self.runner = JobRunner(
            database=database,
            clock=clock,
            config=config or BacktestSettings(),
            models=models,
            on_finished=self._announce_finished if bus is not None else None,
        )

    async def start(self) -> None:
        """Accept jobs; mark jobs a previous process left unfinished interrupted."""
        await self.runner.start()

    async def stop(self) -> None:
        """Stop every running job within ``stop_timeout_s``, each ``interrupted`` with its
        checkpoint (resumable)."""
        await self.runner.stop()

    async def idle(self) -> None:
        """Wait until every scheduled job of this process has finished (tests, shutdown)."""
        await self.runner.idle()

    # --- the API -----------------------------------------------------------------------

    async def submit(self, principal: Principal, request: BacktestJobCreate) -> BacktestJobRead:
        """Check tier, request and size; store the job ``queued`` and schedule it."""
        self._check_feature(principal, request)
        plan = plan_job(request)
        tenant = principal.tenant
        bars = await self._bars(tenant, request)
        check_job_size(principal, job_size(plan, len(bars)))
        self._check_accepting()
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
            row = await jobs.create(
                {
                    "user_id": principal.user_id,
                    "kind": request.kind,
                    "status": "queued",
                    "progress": 0.0,
                    "symbol": request.symbol.strip().upper(),
                    "timeframe": request.timeframe.strip().upper(),
                    "strategy": request.strategy,
                    "request": request.model_dump(mode="json", by_alias=True),
                }
            )
            job = to_read(row)
            self._schedule_after_commit(uow, job.id, tenant, plan, bars, None)
        return job

    async def get(self, tenant: TenantContext, job_id: str) -> BacktestJobRead:
        """Return the tenant's job ``job_id`` with its result; 404 for another tenant's."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            row = await self._find(BacktestJobRepository(uow.session, tenant), job_id)
            return to_read(row, with_result=True)

    async def list(self, tenant: TenantContext, *, limit: int) -> list[BacktestJobRead]:
        """Return the tenant's newest jobs first, without results."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            rows = await BacktestJobRepository(uow.session, tenant).latest(limit=limit)
            return [to_read(r) for r in rows]

    async def cancel(self, tenant: TenantContext, job_id: str) -> tuple[BacktestJobRead, bool]:
        """Cancel job ``job_id`` (queued, running or interrupted); return it and whether
        this call cancelled it (``False``: it already was). A running job stops at its next
        backtest, keeping its checkpoint. 409 for a job that succeeded or failed."""
        async with self._database.unit_of_work(tenant) as uow:
            jobs = BacktestJobRepository(uow.session, tenant)
            row = await self._find(jobs, job_id)
            if row.status == "cancelled":
                return to_read(row), False
            if row.status not in CANCELLABLE:
                raise BacktestJobFinishedError(
                    f"expected a queued, running or interrupted job to cancel; received job "
                    f"{job_id!r}, which {row.status}",
                    details={"status": row.status},
                )
            values = {"status": "cancelled", "error": None, "finished_at": self._clock.now()}
            await jobs.set_values_if(job_id, values, status_in=(row.status,))
            await uow.session.refresh(row)
            job = to_read(row)
            if job.status != "cancelled":  # it finished in the meantime
                raise BacktestJobFinishedError(
                    f"expected a queued, running or interrupted job to cancel; received job "
                    f"{job_id!r}, which {job.status}",
                    details={"status": job.status},
                )

            async def stop_it() -> None:
                self.runner.stop_job(job_id, "cancelled")

            uow.after_commit(stop_it)
        return job, True

    async def resume(self, principal: Principal, job_id: str) -> BacktestJobRead:
        """Run a cancelled or interrupted job again from its checkpoint, on the bars it ran
        on (when they changed since, from the start). 409 for any other job."""
        tenant = principal.tenant
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            row = await self._find(BacktestJobRepository(uow.session, tenant), job_id)
            status, stored, checkpoint = row.status, dict(row.request), row.checkpoint
        if status not in STOPPED:
            raise BacktestJobNotResumableError(
                f"expected a cancelled or interrupted job to resume; received job {job_id!r}, "
                f"which is {status}",
                details={"status": status},
            )
        request = BacktestJobCreate.model_validate(stored)
        self._check_feature(principal, request)
        plan = plan_job(request)
        bars, checkpoint = await self._resume_bars(tenant, job_id, request, checkpoint)
        check_job_size(principal, job_size(plan, len(bars)))
        self._check_accepting()
        async with self._database.unit_of_work(tenant) as uow:
            jobs = BacktestJobRepository(uow.session, tenant)
            values = {"status": "queued", "error": None, "finished_at": None}
            if not await jobs.set_values_if(job_id, values, status_in=(status,)):
                raise BacktestJobNotResumableError(
                    f"expected job {job_id!r} to stay {status} while it is resumed; "
                    "received a concurrent change (read it again)",
                    details={"status": status},
                )
            row = await self._find(jobs, job_id)
            await uow.session.refresh(row)
            job = to_read(row)
            self._schedule_after_commit(uow, job_id, tenant, plan, bars, checkpoint)
        return job

    # --- helpers -------------------------------------------------------------------------

    async def _announce_finished(self, job_id: str, tenant: TenantContext) -> None:
        """Publish ``job_finished_topic`` (the notification hub tells the job's owner)."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            row = await BacktestJobRepository(uow.session, tenant).find(job_id)
            if row is None or self._bus is None:
                return
            body = {
                "tenant_id": tenant.tenant_id,
                "user_id": row.user_id,
                "job_id": job_id,
                "kind": row.kind,
                "status": row.status,
                "symbol": row.symbol,
                "timeframe": row.timeframe,
                "error": row.error,
                "ts": self._clock.now_ms(),
            }
        try:
            subject = job_finished_topic(tenant.tenant_id)
            await self._bus.publish(subject, json.dumps(body).encode())
        except Exception as e:  # the job is stored; a lost announcement must not fail it
            log.warning("backtest_finished_not_published", job_id=job_id, error=type(e).__name__)

    def _schedule_after_commit(
        self,
        uow: Any,
        job_id: str,
        tenant: TenantContext,
        plan: JobPlan,
        bars: BarSeries,
        checkpoint: dict[str, Any] | None,
    ) -> None:
        async def schedule() -> None:
            self.runner.schedule(job_id, tenant, plan, bars, checkpoint)

        uow.after_commit(schedule)

    def _check_accepting(self) -> None:
        if not self.runner.is_accepting:
            raise BacktestServiceStoppingError(
                "expected a running backtest service; received a job while this process "
                "stops or before it started. Retry shortly"
            )

    @staticmethod
    def _check_feature(principal: Principal, request: BacktestJobCreate) -> None:
        feature = KIND_FEATURES.get(request.kind)
        if feature is not None and not principal.has_feature(feature):
            raise BacktestFeatureNotInTierError(
                f"a {request.kind!r} job needs the feature {feature.value!r}, which tier "
                f"{principal.tier.value!r} does not include; upgrade to use it",
                details={"required_feature": feature.value, "tier": principal.tier.value},
            )

    @staticmethod
    async def _find(jobs: BacktestJobRepository, job_id: str) -> BacktestJob:
        row = await jobs.find(job_id)
        if row is None:
            raise BacktestJobNotFoundError(f"backtest job {job_id!r} was not found")
        return row

    async def _resume_bars(
        self,
        tenant: TenantContext,
        job_id: str,
        request: BacktestJobCreate,
        checkpoint: dict[str, Any] | None,
    ) -> tuple[BarSeries, dict[str, Any] | None]:
        pin = (checkpoint or {}).get("bars")
        if not pin:
            return await self._bars(tenant, request), None
        bars = await self._bars(tenant, request, start_ms=pin["from_ts"], end_ms=pin["to_ts"] + 1)
        if len(bars) == pin["count"]:
            return bars, checkpoint
        log.warning("backtest_resume_bars_changed", job_id=job_id, was=pin["count"], now=len(bars))
        return await self._bars(tenant, request), None

    async def _bars(
        self,
        tenant: TenantContext,
        request: BacktestJobCreate,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> BarSeries:
        from chainflow.backtest.data import load_stored, parse_timeframe

        timeframe: Timeframe = parse_timeframe(request.timeframe)
        if start_ms is None and end_ms is None:
            start_ms = moment_ms(request.start)
            end_ms = moment_ms(request.end)
        until = end_ms if end_ms is not None else self._clock.now_ms() + 1
        return await load_stored(
            self._store,
            tenant.tenant_id,
            request.symbol.strip().upper(),
            timeframe,
            start_ms=start_ms,
            end_ms=until,
        )


def to_read(row: BacktestJob, *, with_result: bool = False) -> BacktestJobRead:
    """Return the wire form of a job row (the checkpoint as its ``done``/``total``)."""
    saved = row.checkpoint
    checkpoint = None
    if saved and row.status != "succeeded":
        checkpoint = JobCheckpoint(unit=saved["unit"], done=saved["done"], total=saved["total"])
    return BacktestJobRead(
        id=row.id,
        kind=row.kind,
        status=row.status,
        progress=row.progress,
        symbol=row.symbol,
        timeframe=row.timeframe,
        strategy=row.strategy,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        checkpoint=checkpoint,
        result=row.result if with_result else None,
    )


def utc_day_start(moment: datetime) -> datetime:
    """Return midnight UTC of ``moment``'s day."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
