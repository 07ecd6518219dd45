"""Which served tenants a refresh must re-resolve, from one look at the registry.

``ServedModels`` re-checks every tenant it serves each ``refresh_s``. Re-resolving each
one (``ModelRegistry.production`` and ``FallbackLog.active``: three or four queries) made
the refresh O(tenants): about 3,000 queries every 10 s at 1,000 tenants. A refresh round
reads instead:

- one statement for the fingerprints of the served model name (``ModelFingerprintRepository``:
  per owner, how many versions, the latest, when a row last changed, and which version is
  in production since when), for the served tenants and the platform, in a ``system=True``
  read-only unit of work filtered by those tenant ids;
- with a fallback log, one scan of the fallback marks of the name (``FallbackLog.marked_since``)
  over the last ``MARKS_LOOKBACK_S`` (at least three ``refresh_s``).

Each tenant's answer keeps the ``Basis`` it was resolved against (the fingerprints of its
own model and the platform's, read before it was resolved: one more statement when a tenant
is first served). ``plan`` compares it with the
new look: a tenant whose model did not change is re-stamped with no query; one whose own
model changed, or which fell back (a new mark), is re-resolved alone; tenants served the
platform's model whose production version changed are resolved together
(``PlatformChange``: one read of that version; each tenant's fallback log is read only if
a mark says it fell back since that promotion). A change of other versions (a new
candidate, an archive) matters only to a tenant with a fallback in force, which serves
one of them.

A fallback whose mark is first visible later than ``MARKS_LOOKBACK_S`` after its ``at_ms``
(a clock that far behind, or an append that slow) is missed until the next promotion of
the tenant's model; so is one recorded by a process that stopped between appending the
fallback and its mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from chainflow.ml.registry.fallback_log import FallbackLog, FallbackMark
from chainflow.ml.repository import ModelFingerprintRepository, OwnerFingerprint
from chainflow.storage.relational import Database

MARKS_LOOKBACK_S = 300.0


def marks_lookback_s(refresh_s: float) -> float:
    """Return how far back a round reads fallback marks: five minutes, or three rounds."""
    return max(MARKS_LOOKBACK_S, 3 * refresh_s)


@dataclass(frozen=True, slots=True)
class Basis:
    """The fingerprints a tenant's answer was resolved against (None: no version)."""

    own: OwnerFingerprint | None
    platform: OwnerFingerprint | None


@dataclass(frozen=True, slots=True)
class Observation:
    """One look at the registry and the fallback marks, for the tenants served."""

    owners: Mapping[str | None, OwnerFingerprint]
    marks: frozenset[FallbackMark]
    marks_since_ms: int

    def basis_of(self, tenant_id: str) -> Basis:
        return Basis(own=self.owners.get(tenant_id), platform=self.owners.get(None))

    def fell_back(self, tenant_id: str, *, since_ms: int) -> bool:
        """Return whether a mark says ``tenant_id`` fell back at or after ``since_ms``."""
        return any(m.tenant_id == tenant_id and m.at_ms >= since_ms for m in self.marks)


class Change(Enum):
    NONE = "none"
    PLATFORM_PRODUCTION = "platform_production"
    TENANT = "tenant"


@dataclass(slots=True)
class RefreshPlan:
    """What a round does with each served tenant."""

    unchanged: list[str] = field(default_factory=list)
    platform: list[str] = field(default_factory=list)
    each: list[str] = field(default_factory=list)


async def observe(
    database: Database,
    fallbacks: FallbackLog | None,
    name: str,
    tenant_ids: Iterable[str],
    *,
    marks_since_ms: int,
) -> Observation:
    """Read the fingerprints of ``name`` (one statement) and the marks since ``marks_since_ms``
    (one scan, with a fallback log)."""
    async with database.unit_of_work(system=True, read_only=True) as uow:
        owners = await ModelFingerprintRepository(uow.session).fingerprints(
            name, sorted(tenant_ids)
        )
    marks: frozenset[FallbackMark] = frozenset()
    if fallbacks is not None:
        marks = frozenset(await fallbacks.marked_since(name, marks_since_ms))
    return Observation(owners=owners, marks=marks, marks_since_ms=marks_since_ms)


def change_of(before: Basis | None, after: Basis, *, in_fallback: bool) -> Change:
    """Return what changed for a tenant between the basis of its answer and ``after``."""
    if before is None:
        return Change.TENANT  # resolved without a basis (a failed refresh): resolve again
    if (before.own is None) != (after.own is None):
        return Change.TENANT  # its own model of the name appeared or went
    own = after.own is not None
    was, now = (before.own, after.own) if own else (before.platform, after.platform)
    if was == now:
        return Change.NONE
    if was is None or now is None:
        return Change.TENANT
    if (was.production_id, was.production_promoted_at) != (
        now.production_id,
        now.production_promoted_at,
    ):
        return Change.TENANT if own else Change.PLATFORM_PRODUCTION
    return Change.TENANT if in_fallback else Change.NONE


def plan(
    bases: Mapping[str, Basis | None],
    observation: Observation,
    *,
    marks_seen: frozenset[FallbackMark],
    in_fallback: frozenset[str],
) -> RefreshPlan:
    """Sort the served tenants (``bases``: the basis of each answer) by what they need."""
    fell_back = {m.tenant_id for m in observation.marks - marks_seen}
    result = RefreshPlan()
    for tenant_id, before in bases.items():
        change = change_of(
            before, observation.basis_of(tenant_id), in_fallback=tenant_id in in_fallback
        )
        if tenant_id in fell_back or change is Change.TENANT:
            result.each.append(tenant_id)
        elif change is Change.PLATFORM_PRODUCTION:
            result.platform.append(tenant_id)
        else:
            result.unchanged.append(tenant_id)
    return result
