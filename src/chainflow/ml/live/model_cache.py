"""Which model serves a tenant, loaded once: the registry's production version, cached.

``ServedModels.resolve(tenant)`` returns the tenant's production version of the configured
model name (its own custom model, else the platform's) with its ONNX bundle loaded into one
ONNX Runtime session. The answer is cached per tenant for ``refresh_s``; bundles are cached
per model version, so a promotion or rollback takes effect within ``refresh_s`` without
reloading unchanged models.

Every ``refresh_s`` one background round re-checks all the tenants served, in a constant
number of queries whatever their number (``chainflow.ml.live.model_refresh``): it re-stamps
the answers nothing changed and re-resolves only the tenants a change reaches.

A live fallback (``chainflow.ml.registry.fallback_log``, decided by ``chainflow.ml.live.actions``)
takes precedence over the production version for its tenant: ``resolve`` returns the
version the tenant falls back to, or None for ``hold``; ``unavailable_reason`` then says
why (``model_underperforming: ...``) instead of "no production model".
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.core.logging import get_logger
from chainflow.core.settings import MlSettings
from chainflow.core.tenancy import TenantContext
from chainflow.ml.errors import ModelNotFoundError
from chainflow.ml.live.model_hint import no_model_reason
from chainflow.ml.live.model_refresh import (
    Basis,
    Observation,
    marks_lookback_s,
    observe,
    plan,
)
from chainflow.ml.registry.fallback_log import Fallback, FallbackLog, FallbackMark, promoted_ms
from chainflow.ml.registry.model_registry import ModelRegistry
from chainflow.ml.registry.types import ModelVersion
from chainflow.ml.training.serving import ModelBundle
from chainflow.storage.relational import Database

log = get_logger("chainflow.ml.models")
IQR_TO_SIGMA = 1.0 / 1.6832  # P80 - P20 of a normal distribution is 1.6832 sigma


@dataclass(slots=True)
class ServedModel:
    version: ModelVersion
    bundle: ModelBundle
    _robust: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def anomaly_score(self, names: tuple[str, ...], vector: np.ndarray) -> float | None:
        """Return the largest robust z of ``vector`` against the training distribution.

        Location and scale per feature come from the training deciles stored with the
        model (median; (P80 - P20) / 1.6832, the normal-equivalent sigma).
        """
        centers, scales = self._robust_for(names)
        if centers.size != vector.size or not np.isfinite(centers).any():
            return None
        z = np.abs(vector - centers) / scales
        finite = z[np.isfinite(z)]
        return float(finite.max()) if finite.size else None

    def _robust_for(self, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        cached = self._robust.get(names)
        if cached is None:
            stats = self.version.metrics.get("feature_stats") or {}
            centers, scales = [], []
            for name in names:
                edges = (stats.get(name) or {}).get("edges") or []
                ok = len(edges) == 9
                centers.append(edges[4] if ok else math.nan)
                scales.append(max((edges[7] - edges[1]) * IQR_TO_SIGMA, 1e-12) if ok else math.nan)
            cached = self._robust[names] = (np.array(centers), np.array(scales))
        return cached


@dataclass(frozen=True, slots=True)
class _Answer:
    """A tenant's cached answer: when it was last confirmed, and the basis it was read on."""

    at_s: float
    model: ServedModel | None
    basis: Basis | None  # None: confirm by resolving again at the next round


class ServedModels:
    """The production model of each tenant, re-checked every ``refresh_s`` seconds."""

    def __init__(
        self,
        registry: ModelRegistry,
        database: Database,
        clock: Clock,
        settings: MlSettings,
        *,
        fallbacks: FallbackLog | None = None,
    ) -> None:
        self._registry = registry
        self._database = database
        self._clock = clock
        self._settings = settings
        self._fallbacks = fallbacks
        self._by_tenant: dict[str, _Answer] = {}
        self._resolving: dict[str, asyncio.Future[None]] = {}  # first reads in flight
        self._in_force: dict[str, Fallback] = {}
        self._bundles: dict[str, ServedModel] = {}
        self._sessions: dict[str, ModelBundle] = {}  # artifact sha256 -> its loaded bundle
        self._loading: dict[str, asyncio.Future[ModelBundle]] = {}  # loads in flight
        self._marks_seen: frozenset[FallbackMark] = frozenset()
        self._round: asyncio.Task[None] | None = None

    @property
    def model_name(self) -> str:
        """Return the registry name served (``CHAINFLOW_ML_MODEL``)."""
        return self._settings.model

    @property
    def anomaly_z(self) -> float:
        """Return the robust z beyond which a vector is flagged anomalous."""
        return self._settings.anomaly_z

    async def resolve(self, tenant_id: str) -> ServedModel | None:
        """Return the tenant's production model.

        The first call reads the registry; after ``refresh_s`` the model known so far is
        returned at once while one background round re-checks every tenant served (the
        hot path never waits on the database for a tenant it already serves).
        """
        now = self._clock.now_ms() / 1000.0
        cached = self._by_tenant.get(tenant_id)
        while cached is None:
            pending = self._resolving.get(tenant_id)
            if pending is None:
                return await self._first_resolve(tenant_id, now)
            await asyncio.shield(pending)  # another caller reads it: one read per tenant
            cached = self._by_tenant.get(tenant_id)  # None if that read failed: read again
        if now - cached.at_s >= self._settings.refresh_s and self._round is None:
            self._round = asyncio.create_task(self._refresh(now), name="ml-model-refresh")
        return cached.model

    async def _first_resolve(self, tenant_id: str, now: float) -> ServedModel | None:
        pending = asyncio.get_running_loop().create_future()
        self._resolving[tenant_id] = pending
        try:
            basis = await self._basis_of(tenant_id)
            served = await self._load(tenant_id)
            self._by_tenant[tenant_id] = _Answer(now, served, basis)
            return served
        finally:
            del self._resolving[tenant_id]
            pending.set_result(None)

    def resolved(self, tenant_id: str) -> bool:
        """Whether ``resolve`` answers the tenant at once (its model was read before)."""
        return tenant_id in self._by_tenant

    async def refreshed(self) -> None:
        """Wait for the background refresh running now (tests, shutdown)."""
        if self._round is not None:
            await asyncio.gather(self._round, return_exceptions=True)

    def forget(self, tenant_id: str | None = None) -> None:
        """Re-resolve ``tenant_id`` (None: every tenant) on its next vector (after a
        promotion or a fallback, in tests)."""
        if tenant_id is None:
            self._by_tenant.clear()
        else:
            self._by_tenant.pop(tenant_id, None)

    def tenants(self) -> list[str]:
        """Return the tenants this process has resolved a model for (the ones it serves)."""
        return sorted(self._by_tenant)

    def fallback_of(self, tenant_id: str) -> Fallback | None:
        """Return the fallback in force for the tenant when it was last resolved."""
        return self._in_force.get(tenant_id)

    def unavailable_reason(self, tenant_id: str) -> str:
        """Return why ``resolve`` answers None for the tenant (the reason of its ``hold``)."""
        fallback = self._in_force.get(tenant_id)
        if fallback is not None and fallback.holds:
            return fallback.hold_reason()
        return no_model_reason(self._settings.model)

    # --- the refresh round ---------------------------------------------------------------

    async def _refresh(self, now: float) -> None:
        snapshot = dict(self._by_tenant)
        try:
            await self._refresh_round(snapshot, now)
        except Exception:  # keep serving what is known; the next round tries again
            log.exception("ml_model_refresh_failed", tenants=len(snapshot))
            for tenant_id, answer in snapshot.items():
                self._settle(snapshot, tenant_id, _Answer(now, answer.model, answer.basis))
        finally:
            self._round = None

    async def _refresh_round(self, snapshot: dict[str, _Answer], now: float) -> None:
        since_ms = int((now - marks_lookback_s(self._settings.refresh_s)) * 1000)
        observation = await observe(
            self._database, self._fallbacks, self._settings.model, snapshot, marks_since_ms=since_ms
        )
        todo = plan(
            {tenant_id: answer.basis for tenant_id, answer in snapshot.items()},
            observation,
            marks_seen=self._marks_seen,
            in_fallback=frozenset(self._in_force),
        )
        for tenant_id in todo.unchanged:
            basis = observation.basis_of(tenant_id)
            self._settle(snapshot, tenant_id, _Answer(now, snapshot[tenant_id].model, basis))
        each = todo.each + await self._resolve_platform(snapshot, todo.platform, observation, now)
        for tenant_id in each:
            await self._reload(snapshot, tenant_id, observation, now)
        self._marks_seen = observation.marks

    async def _resolve_platform(
        self,
        snapshot: dict[str, _Answer],
        tenant_ids: Iterable[str],
        observation: Observation,
        now: float,
    ) -> list[str]:
        """Serve the platform's new production version to ``tenant_ids`` (tenants without
        a model of their own) with one read of it; return those to resolve one by one."""
        tenant_ids = list(tenant_ids)
        platform = observation.owners.get(None)
        if not tenant_ids or platform is None:
            return tenant_ids
        version: ModelVersion | None = None
        if platform.production_id is not None:
            async with self._database.unit_of_work(system=True, read_only=True) as uow:
                version = await self._registry.production(uow, self._settings.model)
            if version is None or version.id != platform.production_id:
                return tenant_ids  # changed again since the look: resolve each
        # A fallback counts from the promotion on: one since then left a mark in the read.
        checks_marks = self._fallbacks is not None and version is not None
        since_ms = 0 if version is None else promoted_ms(version)
        if checks_marks and since_ms < observation.marks_since_ms:
            return tenant_ids  # promoted before the marks read: only the log can tell
        remaining = []
        for tenant_id in tenant_ids:
            if checks_marks and observation.fell_back(tenant_id, since_ms=since_ms):
                remaining.append(tenant_id)
                continue
            self._in_force.pop(tenant_id, None)
            served = None if version is None else await self._served(version)
            self._settle(snapshot, tenant_id, _Answer(now, served, observation.basis_of(tenant_id)))
        return remaining

    async def _reload(
        self, snapshot: dict[str, _Answer], tenant_id: str, observation: Observation, now: float
    ) -> None:
        try:
            served = await self._load(tenant_id)
        except Exception:  # keep serving what is known; resolved again at the next round
            log.exception("ml_model_refresh_failed", tenant_id=tenant_id)
            self._settle(snapshot, tenant_id, _Answer(now, snapshot[tenant_id].model, None))
        else:
            self._settle(snapshot, tenant_id, _Answer(now, served, observation.basis_of(tenant_id)))

    def _settle(self, snapshot: dict[str, _Answer], tenant_id: str, answer: _Answer) -> None:
        if self._by_tenant.get(tenant_id) is snapshot[tenant_id]:  # not forgotten meanwhile
            self._by_tenant[tenant_id] = answer

    # --- resolving one tenant ------------------------------------------------------------

    async def _basis_of(self, tenant_id: str) -> Basis | None:
        try:
            observation = await observe(
                self._database, None, self._settings.model, [tenant_id], marks_since_ms=0
            )
        except Exception:  # resolved again at the next round
            log.exception("ml_model_basis_failed", tenant_id=tenant_id)
            return None
        return observation.basis_of(tenant_id)

    async def _load(self, tenant_id: str) -> ServedModel | None:
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        try:
            async with self._database.unit_of_work(tenant, read_only=True) as uow:
                version = await self._registry.production(uow, self._settings.model, viewer=tenant)
        except ModelNotFoundError:
            return None
        if version is None:
            self._in_force.pop(tenant_id, None)
            return None
        if self._fallbacks is not None:
            fallback = await self._fallbacks.active(tenant_id, version)
            if fallback is None:
                self._in_force.pop(tenant_id, None)
            else:
                self._in_force[tenant_id] = fallback
                if fallback.holds:
                    return None
                try:
                    version = await self._version(tenant, version, fallback.to_version)
                except ModelNotFoundError:  # the version fallen back to is gone: hold
                    return None
        return await self._served(version)

    async def _served(self, version: ModelVersion) -> ServedModel:
        """The version served: one ``ServedModel`` per version, its bundle loaded once per
        artifact. Every tenant's copy of a model then shares one ONNX session (one model
        call scores the keys of all of them, ``trading.tick.scoring.predict_all``), also
        when a hundred tenants' first ticks resolve at once (before: each loaded its own)."""
        served = self._bundles.get(version.id)
        if served is None:
            bundle = await self._bundle_of(version)
            served = self._bundles.setdefault(version.id, ServedModel(version, bundle))
        return served

    async def _bundle_of(self, version: ModelVersion) -> ModelBundle:
        sha256 = version.artifact_sha256
        bundle = self._sessions.get(sha256)
        if bundle is not None:
            return bundle
        loading = self._loading.get(sha256)
        if loading is None:  # the first reader loads it; the others wait for that load
            loading = asyncio.ensure_future(self._load_bundle(version))
            self._loading[sha256] = loading
            loading.add_done_callback(lambda _: self._loading.pop(sha256, None))
        return await asyncio.shield(loading)

    async def _load_bundle(self, version: ModelVersion) -> ModelBundle:
        bundle = ModelBundle(await self._registry.read_artifact(version))
        self._sessions[version.artifact_sha256] = bundle
        log.info("ml_model_loaded", model=version.ref, window=bundle.window)
        return bundle

    async def _version(
        self, tenant: TenantContext, production: ModelVersion, number: int
    ) -> ModelVersion:
        """Return version ``number`` of the production version's name, same owner."""
        owner = None if production.tenant_id is None else tenant
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            return await self._registry.get(uow, production.name, number, owner=owner)
