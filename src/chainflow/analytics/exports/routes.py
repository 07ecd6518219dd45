"""``GET /api/v1/analytics/exports/{dataset}``: one tenant's rows as a streamed CSV or Parquet.

``from``/``to`` are epoch milliseconds or ISO-8601 times (``to`` exclusive); the range is
clipped to the tier's data retention, like the market data routes. Every check runs before
the response starts, so a bad request is a 400 in the error shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from chainflow.analytics.exports.datasets import ExportQuery
from chainflow.analytics.exports.errors import ExportRangeInvalidError
from chainflow.analytics.exports.service import END_OF_TIME_MS, ExportService
from chainflow.core.auth import Permission, Principal
from chainflow.core.clock import Clock
from chainflow.gateway.api import require_permission

Reader = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]
DAY_MS = 86_400_000
TIME_HELP = "epoch milliseconds or ISO-8601 (UTC when no offset is given)"


def parse_time(value: str | None, name: str) -> int | None:
    """Return ``value`` (epoch ms or ISO-8601) as epoch ms; None stays None."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise ExportRangeInvalidError(
            f"{name} must be {TIME_HELP}; received {value!r}", details={"field": name}
        ) from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def build_exports_router(*, service: ExportService, clock: Clock) -> APIRouter:
    """Return the exports router, to mount under ``/api/v1/analytics``."""
    router = APIRouter(prefix="/exports", tags=["analytics"])

    @router.get(
        "/{dataset}",
        summary="Stream the tenant's trades, signals, bars or predictions as CSV or Parquet",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}},
            400: {
                "description": (
                    "Unknown dataset or format, a symbol missing for bars or predictions, "
                    "or a range that is not one (the error shape)"
                )
            },
        },
    )
    async def get_export(
        principal: Reader,
        dataset: str,
        output_format: Annotated[str, Query(alias="format")] = "csv",
        start: Annotated[str | None, Query(alias="from", description=TIME_HELP)] = None,
        end: Annotated[str | None, Query(alias="to", description=TIME_HELP)] = None,
        symbol: Annotated[str | None, Query(max_length=32)] = None,
        timeframe: Annotated[str | None, Query(max_length=8)] = None,
    ) -> StreamingResponse:
        now = clock.now_ms()
        oldest = now - principal.limits.data_retention_days * DAY_MS
        begin = max(parse_time(start, "from") or 0, oldest)
        stop = min(parse_time(end, "to") or END_OF_TIME_MS, END_OF_TIME_MS)
        query = ExportQuery(
            tenant_id=str(principal.tenant_id),
            start_ms=begin,
            end_ms=stop,
            symbol=symbol.upper() if symbol else None,
            timeframe=timeframe,
        )
        stream = service.open(dataset, output_format, query)
        return StreamingResponse(
            stream.chunks,
            media_type=stream.media_type,
            headers={"Content-Disposition": f'attachment; filename="{stream.filename}"'},
        )

    return router
