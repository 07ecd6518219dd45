"""Acting on live performance: stop serving a model that stays below its baseline.

``CHAINFLOW_ML_FALLBACK_AFTER=N`` (0, the default, is off) counts, per (tenant, model
version, symbol, timeframe), the consecutive scored predictions after which the rolling
hit rate (``chainflow.ml.training.performance.LivePerformance``) is below the accuracy of the
training run's majority baseline. A count is a number of scored bars, not a duration, so
it means the same on M1 and D1 and under a replay as live. When one symbol's count reaches
``N``, the tenant's model is replaced (its production version is served to every symbol
of the tenant, so it is replaced for all):

- by the version of the same name that was production before it (archived, once
  promoted, the most recently archived first), skipping any version the tenant already
  fell back from;
- else by ``hold``: no model serves the tenant, and the per-tick path answers ``hold``
  with the reason ``model_underperforming: <name@version> ...``
  (``ServedModels.unavailable_reason``).

The decision is recorded (``chainflow.ml.registry.fallback_log``: who, why, when, the numbers) and
published as ``ModelFellBack`` on ``ml.alerts.<tenant>``, which the notification hub
turns into a message to the tenant's owners. Nothing changes in the registry's stages: a
platform model stays production for the other tenants. A model that recovers is not
re-promoted: the fallback stays until a version of the name is promoted (by hand, or by
the retrain schedule) or the same version is promoted again.

The count survives a restart: it is rebuilt from the stored scores when the tracker is
(``replay``).
"""

from __future__ import annotations

from collections.abc import Callable

from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.core.logging import get_logger
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import EventBus
from chainflow.ml.errors import InvalidMlInputError, ModelNotFoundError
from chainflow.ml.events import ModelFellBack, alerts_topic
from chainflow.ml.live.model_cache import ServedModel
from chainflow.ml.registry.fallback_log import HOLD_REASON_CODE, HOLD_VERSION, Fallback, FallbackLog
from chainflow.ml.registry.model_registry import ModelRegistry
from chainflow.ml.registry.types import ModelStage, ModelVersion
from chainflow.ml.training.performance import LivePerformance
from chainflow.storage.relational import Database

log = get_logger("chainflow.ml.live_actions")

DECIDED_BY = "chainflow live monitor"
StreakKey = tuple[str, str, str, str]  # tenant, name@version, symbol, timeframe


class LiveActions:
    """Counts the below-baseline streaks and falls back when one reaches ``after``."""

    def __init__(
        self,
        *,
        after: int,
        registry: ModelRegistry,
        database: Database,
        log_: FallbackLog,
        bus: EventBus,
        clock: Clock,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        if after < 0:
            raise InvalidMlInputError(
                f"expected fallback after >= 0 scored predictions; received {after}"
            )
        self.after = after
        self._registry = registry
        self._database = database
        self._log = log_
        self._bus = bus
        self._clock = clock
        self._on_fallback = on_fallback
        self._streaks: dict[StreakKey, int] = {}
        self._fallen: set[tuple[str, str]] = set()  # (tenant, name@version) replaced here
        self.fallbacks = 0

    def streak(self, key: StreakKey) -> int:
        return self._streaks.get(key, 0)

    def forget(self, owns: Callable[[str], bool]) -> None:
        """Drop the streaks and fallbacks of the tenants ``owns`` names (their partition
        moved): a streak is replayed from the stored scores when the tracker is rebuilt, so
        one kept from an earlier turn here would count twice."""
        self._streaks = {k: v for k, v in self._streaks.items() if not owns(k[0])}
        self._fallen = {f for f in self._fallen if not owns(f[0])}

    def replay(self, key: StreakKey, tracker: LivePerformance) -> None:
        """Count one stored score added to ``tracker`` while it is rebuilt (never acts)."""
        self._streaks[key] = self._streaks.get(key, 0) + 1 if tracker.below_baseline else 0

    async def observe(
        self, key: StreakKey, model: ServedModel, tracker: LivePerformance, ts: int
    ) -> Fallback | None:
        """Count one live score of ``model`` on ``key``; fall back when the streak is long
        enough. Return the fallback made, if any."""
        self.replay(key, tracker)
        tenant_id = key[0]
        if self.after == 0 or self._streaks[key] < self.after:
            return None
        if (tenant_id, model.version.ref) in self._fallen:
            return None
        self._fallen.add((tenant_id, model.version.ref))
        try:
            return await self._fall_back(key, model, tracker, ts)
        except Exception:
            self._fallen.discard((tenant_id, model.version.ref))  # try again on the next score
            raise

    async def _fall_back(
        self, key: StreakKey, model: ServedModel, tracker: LivePerformance, ts: int
    ) -> Fallback:
        tenant_id, ref, symbol, timeframe = key
        target = await self._target(tenant_id, model.version)
        hit_rate, baseline = tracker.hit_rate(), tracker.baseline_accuracy
        streak = self._streaks[key]
        detail = (
            f"stayed below its baseline for {streak} consecutive scored predictions on "
            f"{symbol} {timeframe}: live hit rate {hit_rate:.3f} over the last "
            f"{tracker.count}, baseline accuracy {baseline:.3f}"
        )
        fallback = Fallback(
            name=model.version.name,
            at_ms=self._clock.now_ms(),
            from_version=model.version.version,
            to_version=HOLD_VERSION if target is None else target.version,
            reason=HOLD_REASON_CODE,
            detail=detail,
            decided_by=DECIDED_BY,
            market=symbol,
            timeframe=timeframe,
            hit_rate=hit_rate,
            baseline_accuracy=baseline,
            scored=tracker.count,
            streak=streak,
        )
        await self._log.record(tenant_id, fallback)
        self.fallbacks += 1
        if self._on_fallback is not None:
            self._on_fallback(tenant_id)
        event = ModelFellBack(
            tenant_id=tenant_id,
            model=ref,
            fallback=None if target is None else target.ref,
            reason=HOLD_REASON_CODE,
            detail=detail,
            by=DECIDED_BY,
            symbol=symbol,
            timeframe=timeframe,
            ts=ts,
            hit_rate=hit_rate,
            baseline_accuracy=baseline,
            scored=tracker.count,
            streak=streak,
        )
        await self._bus.publish(alerts_topic(tenant_id), event.to_json())
        log.warning(
            "ml_model_fallback",
            tenant_id=tenant_id,
            model=ref,
            fallback=event.fallback or "hold",
            symbol=symbol,
            timeframe=timeframe,
            hit_rate=round(hit_rate, 4),
            baseline=baseline,
            streak=streak,
        )
        return fallback

    async def _target(self, tenant_id: str, served: ModelVersion) -> ModelVersion | None:
        """Return the version to serve instead of ``served``: the latest archived version
        that was once production and that the tenant has not fallen back from; None: hold."""
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        owner = None if served.tenant_id is None else tenant
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            try:
                versions = await self._registry.versions(uow, served.name, owner=owner)
                production = await self._registry.production(uow, served.name, viewer=tenant)
            except ModelNotFoundError:
                return None
        excluded = {served.version}
        if production is not None:
            excluded.add(production.version)
            excluded.update(f.from_version for f in await self._log.chain(tenant_id, production))
        once_served = [
            v
            for v in versions
            if v.stage == ModelStage.ARCHIVED
            and v.promoted_at is not None
            and v.version not in excluded
        ]
        if not once_served:
            return None
        return max(once_served, key=_archive_order)


def _archive_order(version: ModelVersion) -> tuple[float, float, int]:
    """The registry's rollback order: archived last, then promoted last, then newest."""
    archived = version.archived_at.timestamp() if version.archived_at is not None else 0.0
    promoted = version.promoted_at.timestamp() if version.promoted_at is not None else 0.0
    return (archived, promoted, version.version)
