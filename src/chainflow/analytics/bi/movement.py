"""Tenant movements per month and cohort retention, from the months each tenant was active.

"Active" is whatever set of months the caller passes: months with metered usage (the
platform's activity) or months covered by a paid period (paying tenants). For month ``m``:

- **new**: active in ``m`` for the first time;
- **churned**: active in ``m - 1``, not in ``m``;
- **reactivated**: active in ``m``, not in ``m - 1``, but in some month before that.

A cohort is the tenants who signed up in one month; its row counts how many of them were
active in the signup month and in each month after it (``active[k]`` for month + k).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Movement:
    month: int
    active: int
    new: int
    churned: int
    reactivated: int


@dataclass(frozen=True, slots=True)
class Cohort:
    month: int
    tenants: int
    active: tuple[int, ...]


def movements(months_by_tenant: Mapping[str, Set[int]], first: int, last: int) -> list[Movement]:
    """Return the movement of each month from ``first`` to ``last`` (inclusive)."""
    counts = {month: [0, 0, 0, 0] for month in range(first, last + 1)}
    for months in months_by_tenant.values():
        if not months:
            continue
        earliest = min(months)
        for month, row in counts.items():
            now, before = month in months, month - 1 in months
            if now:
                row[0] += 1
                if not before:
                    row[2 if earliest < month else 1] += 1
            elif before:
                row[3] += 1
    return [
        Movement(month, active=a, new=n, reactivated=r, churned=c)
        for month, (a, n, r, c) in counts.items()
    ]


def cohorts(
    signups: Mapping[str, int], months_by_tenant: Mapping[str, Set[int]], first: int, last: int
) -> list[Cohort]:
    """Return one cohort per signup month from ``first`` to ``last``; ``active[k]`` counts
    the cohort's tenants active in its month + k, up to ``last``."""
    members: dict[int, list[str]] = {month: [] for month in range(first, last + 1)}
    for tenant_id, month in signups.items():
        if first <= month <= last:
            members[month].append(tenant_id)
    rows = []
    for month, tenants in members.items():
        active = [0] * (last - month + 1)
        for tenant_id in tenants:
            for seen in months_by_tenant.get(tenant_id, ()):
                if month <= seen <= last:
                    active[seen - month] += 1
        rows.append(Cohort(month, len(tenants), tuple(active)))
    return rows
