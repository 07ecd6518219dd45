"""The record of live fallbacks: which model version a tenant is no longer served, and why.

A fallback belongs to one tenant (a platform model serves every tenant; one tenant's bad
live record must not take it away from the others), so it is not a stage change of the
registry's shared rows: it is a row of ``model_fallbacks`` in the time-series store, keyed
by (tenant, model name, when), with who decided it and why, like a promotion override.

``FallbackLog.active`` answers what the tenant is served instead of its production
version: it follows the fallbacks recorded since that version was promoted, from the
production version to the one that replaced it (``to_version``), and on if that one fell
back too; ``to_version`` 0 means ``hold``. A fallback therefore ends when a new production
version is promoted (by hand, or by the retrain schedule) or the same version is promoted
again: recovery alone never re-promotes a model.

Each fallback also leaves a mark under the platform's own series key (``_platform``, as
``analytics_usage_monthly`` does): table ``model_fallback_marks``, symbol = model name,
ts = the fallback's ``at_ms``, ``subject_tenant``, from and to version. ``marked_since``
reads every tenant's recent fallbacks of a name in one scan, so that a process serving
many tenants learns of a fallback another process recorded without scanning each
tenant's log (``chainflow.ml.live.model_refresh``). The mark is appended after the
fallback itself: a mark seen means its fallback is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chainflow.core.ids import TenantId
from chainflow.ml.registry.types import ModelVersion
from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec, TimeSeriesStore

F, N, S = ColumnType.FLOAT64, ColumnType.INT64, ColumnType.STRING
HOLD_VERSION = 0  # ``to_version`` of a fallback to hold
HOLD_REASON_CODE = "model_underperforming"
PLATFORM_KEY = TenantId("_platform")  # the series key of the marks (one scan for all tenants)
END_OF_TIME_MS = 2**62

FALLBACKS_TABLE = TableSpec(
    "model_fallbacks",
    tuple(
        ColumnSpec(name, kind)
        for name, kind in (
            ("from_version", N),
            ("to_version", N),
            ("reason", S),
            ("detail", S),
            ("decided_by", S),
            ("market", S),
            ("timeframe", S),
            ("hit_rate", F),
            ("baseline_accuracy", F),
            ("scored", N),
            ("streak", N),
        )
    ),
)

FALLBACK_MARKS_TABLE = TableSpec(
    "model_fallback_marks",
    (
        ColumnSpec("subject_tenant", S),
        ColumnSpec("from_version", N),
        ColumnSpec("to_version", N),
    ),
)


@dataclass(frozen=True, slots=True)
class FallbackMark:
    """That tenant ``tenant_id`` fell back from ``from_version`` at ``at_ms``."""

    tenant_id: str
    at_ms: int
    from_version: int
    to_version: int


@dataclass(frozen=True, slots=True)
class Fallback:
    """One recorded fallback of a tenant's model ``name`` (``symbol`` column = name)."""

    name: str
    at_ms: int
    from_version: int
    to_version: int  # HOLD_VERSION: the tenant gets hold
    reason: str  # machine code, e.g. model_underperforming
    detail: str  # the sentence shown to people
    decided_by: str
    market: str  # the symbol whose live record triggered it
    timeframe: str
    hit_rate: float
    baseline_accuracy: float
    scored: int
    streak: int

    @property
    def holds(self) -> bool:
        return self.to_version == HOLD_VERSION

    def hold_reason(self) -> str:
        """The reason a ``hold`` gives while this fallback is in force."""
        return f"{self.reason}: {self.name}@{self.from_version} {self.detail}"

    def to_row(self, tenant_id: str) -> dict[str, Any]:
        return {
            "tenant_id": tenant_id,
            "symbol": self.name,
            "ts": self.at_ms,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "reason": self.reason,
            "detail": self.detail,
            "decided_by": self.decided_by,
            "market": self.market,
            "timeframe": self.timeframe,
            "hit_rate": self.hit_rate,
            "baseline_accuracy": self.baseline_accuracy,
            "scored": self.scored,
            "streak": self.streak,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Fallback:
        return cls(
            name=str(row["symbol"]),
            at_ms=int(row["ts"]),
            from_version=int(row["from_version"]),
            to_version=int(row["to_version"]),
            reason=str(row["reason"]),
            detail=str(row["detail"]),
            decided_by=str(row["decided_by"]),
            market=str(row["market"]),
            timeframe=str(row["timeframe"]),
            hit_rate=float(row["hit_rate"]),
            baseline_accuracy=float(row["baseline_accuracy"]),
            scored=int(row["scored"]),
            streak=int(row["streak"]),
        )


def promoted_ms(version: ModelVersion) -> int:
    """Return when ``version`` was promoted, epoch ms (0 when never)."""
    return 0 if version.promoted_at is None else int(version.promoted_at.timestamp() * 1000)


class FallbackLog:
    """Read and append the tenants' fallbacks in the time-series store."""

    def __init__(self, store: TimeSeriesStore) -> None:
        self._store = store

    async def record(self, tenant_id: str, fallback: Fallback) -> None:
        await self._store.ensure_table(FALLBACKS_TABLE)
        await self._store.append(FALLBACKS_TABLE.name, [fallback.to_row(tenant_id)])
        await self._store.ensure_table(FALLBACK_MARKS_TABLE)
        mark = {
            "tenant_id": PLATFORM_KEY,
            "symbol": fallback.name,
            "ts": fallback.at_ms,
            "subject_tenant": tenant_id,
            "from_version": fallback.from_version,
            "to_version": fallback.to_version,
        }
        await self._store.append(FALLBACK_MARKS_TABLE.name, [mark])

    async def marked_since(self, name: str, since_ms: int) -> list[FallbackMark]:
        """Return the marks of every tenant's fallbacks of ``name`` at or after ``since_ms``."""
        await self._store.ensure_table(FALLBACK_MARKS_TABLE)
        rows = await self._store.scan(
            FALLBACK_MARKS_TABLE.name,
            tenant_id=PLATFORM_KEY,
            symbol=name,
            start_ms=since_ms,
            end_ms=END_OF_TIME_MS,
        )
        return [
            FallbackMark(
                tenant_id=str(row["subject_tenant"]),
                at_ms=int(row["ts"]),
                from_version=int(row["from_version"]),
                to_version=int(row["to_version"]),
            )
            for row in rows
        ]

    async def history(self, tenant_id: str, name: str, *, since_ms: int = 0) -> list[Fallback]:
        """Return the tenant's fallbacks of ``name`` recorded at or after ``since_ms``."""
        await self._store.ensure_table(FALLBACKS_TABLE)
        rows = await self._store.scan(
            FALLBACKS_TABLE.name,
            tenant_id=TenantId(tenant_id),
            symbol=name,
            start_ms=since_ms,
            end_ms=2**62,
        )
        return [Fallback.from_row(row) for row in rows]

    async def chain(self, tenant_id: str, production: ModelVersion) -> list[Fallback]:
        """Return the fallbacks in force for ``production``, in order (empty: none)."""
        current, chain = production.version, []
        for fallback in await self.history(
            tenant_id, production.name, since_ms=promoted_ms(production)
        ):
            if fallback.from_version != current:
                continue  # a fallback of a version not served any more
            chain.append(fallback)
            if fallback.holds:
                break
            current = fallback.to_version
        return chain

    async def active(self, tenant_id: str, production: ModelVersion) -> Fallback | None:
        """Return the fallback in force for ``production`` (the last of its chain), if any."""
        chain = await self.chain(tenant_id, production)
        return chain[-1] if chain else None

    async def affecting(
        self, tenant_id: str, production: ModelVersion, version: int
    ) -> Fallback | None:
        """Return the fallback in force for ``production`` if version ``version`` of its
        name takes part in it: the production version itself, one fallen back from, or the
        one served instead (what a model card of ``version`` shows)."""
        chain = await self.chain(tenant_id, production)
        involved = {production.version} | {f.to_version for f in chain}
        return chain[-1] if chain and version in involved else None
