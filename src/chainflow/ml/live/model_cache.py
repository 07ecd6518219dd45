"""Which model serves a tenant, loaded once: the registry's production version, cached.

``ServedModels.resolve(tenant)`` returns the tenant's production version of the configured
model name (its own custom model, else the platform's) with its ONNX bundle loaded into one
ONNX Runtime session. The answer is cached per tenant for ``refresh_s``; bundles are cached
per model version, so a promotion or rollback takes effect within ``refresh_s`` without
reloading unchanged models.

A live fallback (``chainflow.ml.registry.fallback_log``, decided by ``chainflow.ml.live.actions``)
takes precedence over the production version for its tenant: ``resolve`` returns the
version the tenant falls back to, or None for ``hold``; ``unavailable_reason`` then says
why (``model_underperforming: ...``) instead of "no production model".
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import numpy as np

from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.core.logging import get_logger
from chainflow.core.settings import MlSettings
from chainflow.core.tenancy import TenantContext
from chainflow.ml.errors import ModelNotFoundError
from chainflow.ml.live.model_hint import no_model_reason
from chainflow.ml.registry.fallback_log import Fallback, FallbackLog
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


class ServedModels:
    """The production model of each tenant, re-resolved every ``refresh_s`` seconds."""

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
        self._by_tenant: dict[str, tuple[float, ServedModel | None]] = {}
        self._in_force: dict[str, Fallback] = {}
        self._bundles: dict[str, ServedModel] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}

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
        returned at once while one background task reads the registry again (the hot path
        never waits on the database for a tenant it already serves).
        """
        now = self._clock.now_ms() / 1000.0
        cached = self._by_tenant.get(tenant_id)
        if cached is None:
            served = await self._load(tenant_id)
            self._by_tenant[tenant_id] = (now, served)
            return served
        if now - cached[0] >= self._settings.refresh_s and tenant_id not in self._refreshing:
            task = asyncio.create_task(self._refresh(tenant_id, now), name="ml-model-refresh")
            self._refreshing[tenant_id] = task
        return cached[1]

    async def refreshed(self) -> None:
        """Wait for the background refreshes running now (tests, shutdown)."""
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)

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

    async def _refresh(self, tenant_id: str, now: float) -> None:
        try:
            served = await self._load(tenant_id)
        except Exception:  # keep serving what is known; the next call tries again
            log.exception("ml_model_refresh_failed", tenant_id=tenant_id)
            known = self._by_tenant.get(tenant_id)
            if known is not None:
                self._by_tenant[tenant_id] = (now, known[1])
        else:
            if tenant_id in self._by_tenant:  # not forgotten meanwhile
                self._by_tenant[tenant_id] = (now, served)
        finally:
            self._refreshing.pop(tenant_id, None)

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
        served = self._bundles.get(version.id)
        if served is None:
            bundle = ModelBundle(await self._registry.read_artifact(version))
            served = self._bundles[version.id] = ServedModel(version, bundle)
            log.info("ml_model_loaded", model=version.ref, window=bundle.window)
        return served

    async def _version(
        self, tenant: TenantContext, production: ModelVersion, number: int
    ) -> ModelVersion:
        """Return version ``number`` of the production version's name, same owner."""
        owner = None if production.tenant_id is None else tenant
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            return await self._registry.get(uow, production.name, number, owner=owner)
