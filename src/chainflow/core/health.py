"""Health reports shared by every backend and service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The health of one dependency or service: ``ok`` plus what was checked."""

    name: str
    ok: bool
    backend: str = ""
    latency_ms: float | None = None
    detail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "ok": self.ok, "backend": self.backend}
        if self.latency_ms is not None:
            out["latency_ms"] = round(self.latency_ms, 3)
        if self.detail:
            out["detail"] = self.detail
        if self.extra:
            out.update(self.extra)
        return out

    def to_public_dict(self) -> dict[str, Any]:
        """Return what an anonymous caller may see: no error text, no paths or URLs.

        ``detail`` and string ``extra`` values (a DuckDB file, a redacted database URL) stay
        out; flags and counters such as ``rls_enforced`` stay in.
        """
        out: dict[str, Any] = {"name": self.name, "ok": self.ok, "backend": self.backend}
        if self.latency_ms is not None:
            out["latency_ms"] = round(self.latency_ms, 3)
        out.update({k: v for k, v in self.extra.items() if isinstance(v, bool | int | float)})
        return out


ReadinessProbe = Callable[[], Awaitable[Sequence[HealthReport]]]
