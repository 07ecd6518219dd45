"""The kernel: builds infrastructure once from settings, starts services in layer order.

``build()`` constructs everything without I/O (so the app factory can mount routers);
``start()`` connects, migrates the embedded database, starts services in layer order and
registers this process in the hub's registry; ``stop()`` undoes it in reverse order.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from prometheus_client import CollectorRegistry

from chainflow import __version__
from chainflow.bridge.service import BridgeService
from chainflow.core import process_lane
from chainflow.core.clock import Clock, WallClock
from chainflow.core.cpu_share import CpuShares
from chainflow.core.errors import ConfigurationError
from chainflow.core.health import HealthReport
from chainflow.core.ids import new_id
from chainflow.core.logging import get_logger
from chainflow.core.settings import Settings
from chainflow.core.tokens import AccessTokenCodec
from chainflow.features.replay import prepare_worker
from chainflow.gateway.api import CredentialResolver, MountedRouter, OverviewSource
from chainflow.gateway.api_metering import ApiCallMeter, MeteredRateLimiter
from chainflow.gateway.auth import Authenticator, PrincipalCache
from chainflow.gateway.rate_limit import RateLimiter
from chainflow.gateway.websocket_limit import WebSocketLimiter
from chainflow.hub.api import EventBus, ServiceInstance, ServiceRegistry
from chainflow.hub.bus import open_bus
from chainflow.hub.config import ConfigService
from chainflow.hub.registry import open_registry
from chainflow.runtime.built import BuiltServices
from chainflow.runtime.component import ServiceComponent
from chainflow.runtime.drain import Drain, wait_until_empty
from chainflow.runtime.metrics import BackendStatsCollector
from chainflow.runtime.remote import BusCredentialResolver
from chainflow.runtime.services import ServiceSpec, resolve_services
from chainflow.storage.api import Cache, TimeSeriesStore, VectorIndex
from chainflow.storage.cache import open_cache
from chainflow.storage.relational import Database, current_revision, head_revision, upgrade
from chainflow.storage.timeseries import open_timeseries
from chainflow.storage.vectors import open_vector_index
from chainflow.users.overview import build_profile_overview
from chainflow.users.service import UsersService

if TYPE_CHECKING:
    from chainflow.backtest.service import BacktestService
    from chainflow.features.service import FeaturesService
    from chainflow.ml.live.service import MlService
    from chainflow.notify.service import NotifyService
    from chainflow.risk.service import RiskService
    from chainflow.trading.service import TradingService

log = get_logger("chainflow.runtime")

READINESS_TIMEOUT_S = 3.0


@dataclass(slots=True)
class Infrastructure:
    """The shared backends of this process, one of each, built from settings."""

    database: Database
    timeseries: TimeSeriesStore
    cache: Cache
    bus: EventBus
    registry: ServiceRegistry
    vectors: VectorIndex


class Kernel:
    """Compose one process: infrastructure, the enabled services, their lifecycle."""

    def __init__(
        self,
        settings: Settings,
        *,
        services: str | Sequence[str] | None = None,
        clock: Clock | None = None,
        public_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or WallClock()
        self.specs: tuple[ServiceSpec, ...] = resolve_services(
            services if services is not None else settings.services
        )
        self.instance_id = new_id()
        self.cpu_shares = CpuShares()  # each tenant's hot-path CPU, bridge and trading
        self.public_url = (
            public_url
            or settings.http.public_url
            or f"http://{settings.http.host}:{settings.http.port}"
        )
        self.metrics_registry = CollectorRegistry()
        # One pooled HTTP client per process, for calls to other instances.
        self.http_client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0))
        self._infra: Infrastructure | None = None
        self._components: list[ServiceComponent] = []
        self._started: list[ServiceComponent] = []
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.built = BuiltServices()  # what the builders handed over, for those above
        self.access_tokens = AccessTokenCodec(settings.auth, settings.secret_key, self.clock)
        self._auth: tuple[Authenticator, RateLimiter, WebSocketLimiter] | None = None
        self.drain = Drain(settings.shutdown_grace_s)  # begun by the server on SIGTERM
        self.stopping_step: str | None = None  # what ``stop`` is waiting on (shutdown logs)
        self.is_running = False
        self._is_registered = False
        self._timeseries_started = False
        self._lane_ready: asyncio.Task[bool] | None = None  # the state builds' worker

    # --- build (no I/O) ------------------------------------------------------------------

    @property
    def infra(self) -> Infrastructure:
        if self._infra is None:
            raise RuntimeError("Kernel.build() must run before the infrastructure is used")
        return self._infra

    @property
    def enabled_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    @property
    def running_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self._components)

    def build(self) -> Kernel:
        """Construct backends and enabled services; raise ConfigurationError on bad settings."""
        if self._infra is not None:
            return self
        s = self.settings
        self._infra = Infrastructure(
            database=Database(s.database_url, s.database, clock=self.clock),
            timeseries=open_timeseries(s.timeseries_url, s.timeseries),
            cache=open_cache(s.cache, self.clock),
            bus=open_bus(s.bus),
            registry=open_registry(
                s.cache.url, s.hub.instance_ttl_s, self.clock, s.cache.key_prefix
            ),
            vectors=open_vector_index(s.vector, self.clock),
        )
        self.principal_cache = PrincipalCache(self._infra.cache, ttl_s=s.auth.context_cache_ttl_s)
        self.api_calls = ApiCallMeter(store=self._infra.timeseries, clock=self.clock)
        self.metrics_registry.register(
            BackendStatsCollector(
                timeseries_stats=self._timeseries_stats,
                running_services=lambda: self.running_names,
                backends=self._backend_names,
                ingest_stats=lambda: self.bridge.totals() if self.bridge else {},
                ticks_by_tier=lambda: self.bridge.stored_by_tier() if self.bridge else {},
                bus_depth=self._bus_depth,
            )
        )
        for spec in self.specs:
            if spec.build is None:
                log.debug(
                    "service_has_no_behaviour_yet", service=spec.name, planned=spec.planned_in
                )
                continue
            component = spec.build(self, self.built)
            self.built.record(spec.name, component.parts)
            self._components.append(component)
        # Credentials resolve locally when the users service runs here, else over the bus.
        resolver = self.credential_resolver or BusCredentialResolver(self._infra.bus)
        self._auth = (
            Authenticator(
                self.access_tokens,
                resolver,
                self._infra.cache,
                self.clock,
                s.auth.context_cache_ttl_s,
            ),
            MeteredRateLimiter(self._infra.cache, self.api_calls),
            WebSocketLimiter(self._infra.cache, self.clock),
        )
        return self

    # --- the services built here (read-only; the builder table hands them on) ------------

    @property
    def config(self) -> ConfigService | None:
        return self.built.config

    @property
    def users(self) -> UsersService | None:
        return self.built.users

    @property
    def credential_resolver(self) -> CredentialResolver | None:
        return self.built.credential_resolver

    @property
    def bridge(self) -> BridgeService | None:
        return self.built.bridge

    @property
    def features(self) -> FeaturesService | None:
        return self.built.features

    @property
    def ml(self) -> MlService | None:
        return self.built.ml

    @property
    def trading(self) -> TradingService | None:
        return self.built.trading

    @property
    def risk(self) -> RiskService | None:
        return self.built.risk

    @property
    def backtest(self) -> BacktestService | None:
        return self.built.backtest

    @property
    def notify(self) -> NotifyService | None:
        return self.built.notify

    @property
    def authenticator(self) -> Authenticator:
        return self._auth_parts()[0]

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._auth_parts()[1]

    @property
    def websocket_limiter(self) -> WebSocketLimiter:
        return self._auth_parts()[2]

    def _auth_parts(self) -> tuple[Authenticator, RateLimiter, WebSocketLimiter]:
        if self._auth is None:
            raise RuntimeError("Kernel.build() must run before auth is used")
        return self._auth

    def overview_sources(self) -> dict[str, OverviewSource]:
        """Return the parts of ``/api/v1/me/overview`` the services here provide."""
        if self.users is None:
            return {}
        return {"profile": build_profile_overview(self.users, self.infra.database)}

    def _timeseries_stats(self) -> dict[str, float] | None:
        stats = getattr(self.infra.timeseries, "stats", None)
        return stats() if callable(stats) else None

    def _bus_depth(self) -> dict[str, int]:
        """The bus's waiting messages when it can tell without a round trip (embedded)."""
        depth = getattr(self.infra.bus, "depth", None)
        return depth() if callable(depth) else {}

    def _backend_names(self) -> dict[str, str]:
        infra = self.infra
        return {
            "database": infra.database.dialect,
            "timeseries": infra.timeseries.backend,
            "cache": infra.cache.backend,
            "bus": infra.bus.backend,
            "registry": infra.registry.backend,
        }

    def routers(self) -> list[MountedRouter]:
        return [
            MountedRouter(service=c.name, router=c.router, prefix=c.mount_prefix)
            for c in self._components
            if c.router is not None
        ]

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, *, serving: bool = True) -> None:
        """Connect, migrate (embedded default), start services, register this instance.

        ``serving=False`` is for short-lived tools (the CLI's ``config`` and ``users``
        commands): they neither register in the hub nor open the time-series store, which
        a running embedded server holds exclusively.
        """
        self.build()
        infra = self.infra
        try:
            await infra.database.check_connection()
            await self._ensure_schema()
            if serving:
                await infra.timeseries.start()
                self._timeseries_started = True
                await infra.vectors.start()
            await infra.bus.start()
            process_lane.configure(self.settings.features.build_processes)
            if serving:  # spawned and warm before the first build needs it
                self._lane_ready = asyncio.create_task(process_lane.prepare(prepare_worker))
            for component in self._components:
                await component.start()
                self._started.append(component)
            if serving:
                await self._register()
        except BaseException:
            await self.stop()
            raise
        self.is_running = True
        log.info(
            "kernel_started",
            instance_id=self.instance_id,
            services=list(self.running_names),
            version=__version__,
        )

    async def flush(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until the in-process bus has delivered what it
        queued, before ``stop``; see ``drain.wait_until_empty``."""
        self.stopping_step = "bus.flush"
        return await wait_until_empty(self._bus_depth, timeout_s)

    async def withdraw(self) -> None:
        """Leave the registry (no more heartbeats): others stop routing here. Idempotent."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
            self._heartbeat_task = None
        if self._infra is not None and self._is_registered:
            self._is_registered = False
            registry = self._infra.registry
            await self._step("registry.deregister", registry.deregister(self.instance_id))

    async def stop(self) -> None:
        """Stop services in reverse layer order, then close every backend
        (``stopping_step`` names the step under way)."""
        await self.withdraw()
        if self._infra is None:
            await self.http_client.aclose()
            return
        infra = self._infra
        if self._auth is not None:
            await self._step("authenticator.drain", self._auth[0].drain())
        for component in reversed(self._started):
            await self._step(f"{component.name}.stop", component.stop())
        self._started.clear()
        if self._lane_ready is not None:
            self._lane_ready.cancel()
            await asyncio.gather(self._lane_ready, return_exceptions=True)
            self._lane_ready = None
        await self._step("bus.close", infra.bus.close())
        await self._step("registry.close", infra.registry.close())
        await self._step("cache.close", infra.cache.close())
        await self._step("vectors.close", infra.vectors.close())
        if self._auth is not None:
            await self._step("api_calls.stop", self.api_calls.stop())
        if self._timeseries_started:
            self._timeseries_started = False
            await self._step("timeseries.close", infra.timeseries.close())
        await self._step("database.dispose", infra.database.dispose())
        await self._step("http_client.aclose", self.http_client.aclose())
        self.stopping_step = None
        if self.is_running:
            log.info("kernel_stopped", instance_id=self.instance_id)
        self.is_running = False

    async def _step(self, what: str, awaitable: Awaitable[object]) -> None:
        self.stopping_step = what
        await _quietly(what, awaitable)

    async def readiness(self) -> list[HealthReport]:
        """Check every configured backend concurrently, each within a timeout."""
        infra = self.infra
        checks = {
            "database": infra.database.health,
            "timeseries": infra.timeseries.health,
            "cache": infra.cache.health,
            "bus": infra.bus.health,
            "registry": infra.registry.health,
        }
        reports = await asyncio.gather(*(_timed(name, fn) for name, fn in checks.items()))
        return list(reports)

    async def migrate(self) -> str | None:
        """Import every enabled service's tables and upgrade the database to head."""
        for spec in self.specs:
            if spec.models:
                importlib.import_module(spec.models)
        await upgrade(self.settings.database_url)
        return await current_revision(self.settings.database_url)

    async def _ensure_schema(self) -> None:
        database = self.infra.database
        if database.dialect == "sqlite":
            await self.migrate()
            return
        current = await current_revision(self.settings.database_url)
        head = head_revision()
        if current != head:
            raise ConfigurationError(
                f"the database schema must be at revision {head}; it is at {current or 'none'}. "
                "Run `chainflow db upgrade` first."
            )

    async def _register(self) -> None:
        instance = ServiceInstance(
            instance_id=self.instance_id,
            services=self.running_names,
            url=self.public_url,
            started_at_ms=self.clock.now_ms(),
            last_heartbeat_ms=self.clock.now_ms(),
            meta={"version": __version__},
        )
        await self.infra.registry.register(instance)
        self._is_registered = True
        self._heartbeat_task = asyncio.create_task(
            self._heartbeat_loop(instance), name="hub.heartbeat"
        )

    async def _heartbeat_loop(self, instance: ServiceInstance) -> None:
        registry = self.infra.registry
        while True:
            await asyncio.sleep(self.settings.hub.heartbeat_interval_s)
            try:
                if not await registry.heartbeat(instance.instance_id):
                    await registry.register(instance)
            except Exception as e:  # keep beating; the registry may come back
                log.warning("heartbeat_failed", error=f"{type(e).__name__}: {e}")


async def _timed(name: str, check: Callable[[], Awaitable[HealthReport]]) -> HealthReport:
    try:
        report = await asyncio.wait_for(check(), READINESS_TIMEOUT_S)
    except TimeoutError:
        return HealthReport(name=name, ok=False, detail=f"no answer in {READINESS_TIMEOUT_S} s")
    except Exception as e:
        return HealthReport(name=name, ok=False, detail=f"{type(e).__name__}: {e}")
    if report.name != name:
        report = HealthReport(
            name=name,
            ok=report.ok,
            backend=report.backend,
            latency_ms=report.latency_ms,
            detail=report.detail,
            extra=report.extra,
        )
    return report


async def _quietly(what: str, awaitable: Awaitable[object]) -> None:
    try:
        await awaitable
    except Exception as e:
        log.warning("shutdown_step_failed", step=what, error=f"{type(e).__name__}: {e}")
