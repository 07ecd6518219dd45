"""The probe routes: ``/health`` (liveness), ``/ready`` (dependencies), ``/metrics``.

``/ready`` answers anyone, for load balancers and orchestrators, but shows an anonymous
caller only whether each backend answers, which backend it is and how fast: error texts,
file locations and URLs are shown to an authenticated platform superadmin only.

``readiness_info`` adds facts that inform without gating readiness, such as ``models``:
whether a production model serves, and how to make one when none does. A missing model is
not a broken dependency: the status stays ``ok`` and the answer 200.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from chainflow.core.errors import ChainflowError
from chainflow.core.health import HealthReport, ReadinessProbe
from chainflow.gateway.auth import Authenticator
from chainflow.gateway.metrics import HttpMetrics

_READINESS_EXAMPLE = {
    "status": "ok",
    "checks": {"database": {"name": "database", "ok": True, "backend": "sqlite"}},
    "models": {"name": "fx-default", "production": "fx-default@1", "timeframe": "M5"},
}
ReadinessInfo = Callable[[], Awaitable[Mapping[str, Any]]]
"""Extra top-level sections of ``/ready`` that do not change its status."""


def build_probe_router(
    *,
    version: str,
    service_names: Sequence[str],
    readiness: ReadinessProbe,
    metrics: HttpMetrics,
    metrics_registry: CollectorRegistry,
    readiness_info: ReadinessInfo | None = None,
) -> APIRouter:
    """Return the router of ``/health``, ``/ready`` and ``/metrics``."""
    router = APIRouter(tags=["probes"])

    @router.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": version, "services": list(service_names)}

    @router.get(
        "/ready",
        summary="Readiness: every configured backend answers",
        responses={
            200: {"content": {"application/json": {"example": _READINESS_EXAMPLE}}},
            503: {"description": "A backend does not answer"},
        },
    )
    async def ready(request: Request) -> JSONResponse:
        reports = await readiness()
        for report in reports:
            metrics.dependency_up.labels(report.name, report.backend).set(1 if report.ok else 0)
        body = readiness_body(reports, detailed=await _is_superadmin(request))
        if readiness_info is not None:
            body.update({k: v for k, v in (await readiness_info()).items() if k not in body})
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @router.get(
        "/metrics",
        summary="Prometheus metrics (text exposition format)",
        response_class=PlainTextResponse,
    )
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    return router


def readiness_body(reports: Sequence[HealthReport], *, detailed: bool) -> dict[str, Any]:
    """Return the ``/ready`` document; ``detailed`` adds error texts, paths and URLs."""
    ok = all(r.ok for r in reports)
    return {
        "status": "ok" if ok else "unavailable",
        "checks": {r.name: r.to_dict() if detailed else r.to_public_dict() for r in reports},
    }


async def _is_superadmin(request: Request) -> bool:
    header = request.headers.get("authorization")
    authenticator = getattr(request.app.state, "authenticator", None)
    if not header or not isinstance(authenticator, Authenticator):
        return False
    try:
        principal = await authenticator.authenticate(header)
    except ChainflowError:
        # A probe never fails on credentials: a bad one just gets the anonymous view.
        return False
    return principal.is_superadmin
