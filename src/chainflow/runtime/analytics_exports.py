"""The export service of analytics over this process's stores: the bars and predictions
tables of the data bridge and the ml service, and the trading service's signals table.

Signals are read in pages by keyset on (ts, id), each page in its own short read-only unit
of work of the tenant, so an export never holds a transaction open while the client reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_

from chainflow.analytics.api import ExportQuery, export_datasets
from chainflow.analytics.exports.routes import build_exports_router
from chainflow.analytics.exports.service import ExportService
from chainflow.bridge.bar_table import BAR_TABLE
from chainflow.core.ids import TenantId
from chainflow.core.tenancy import TenantContext
from chainflow.ml.live.prediction_table import PREDICTIONS_TABLE
from chainflow.storage.relational import Database, TenantRepository
from chainflow.trading.models import SignalRecord

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel

__all__ = ["RelationalSignalSource", "build_export_service", "build_exports_router"]


class SignalExportRepository(TenantRepository[SignalRecord]):
    """One tenant's signals in (ts, id) order, a page after a keyset cursor."""

    async def page(
        self, query: ExportQuery, after: tuple[int, str] | None, limit: int
    ) -> Sequence[SignalRecord]:
        statement = self._select().where(
            SignalRecord.ts >= query.start_ms, SignalRecord.ts < query.end_ms
        )
        if query.symbol:
            statement = statement.where(SignalRecord.symbol == query.symbol)
        if query.timeframe:
            statement = statement.where(SignalRecord.timeframe == query.timeframe)
        if after is not None:
            ts, row_id = after
            statement = statement.where(
                or_(SignalRecord.ts > ts, and_(SignalRecord.ts == ts, SignalRecord.id > row_id))
            )
        statement = statement.order_by(SignalRecord.ts, SignalRecord.id).limit(limit)
        return (await self.session.execute(statement)).scalars().all()


def signal_row(record: SignalRecord) -> dict[str, Any]:
    return {
        "ts": record.ts,
        "symbol": record.symbol,
        "timeframe": record.timeframe,
        "action": record.action,
        "confidence": record.confidence,
        "size": record.size,
        "stop_loss": record.stop_loss,
        "take_profit": record.take_profit,
        "model": record.model,
        "reasons": "; ".join(str(reason) for reason in record.reasons),
    }


class RelationalSignalSource:
    """The ``signals`` export source over the relational store."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def batches(
        self, query: ExportQuery, batch_rows: int
    ) -> AsyncIterator[Sequence[dict[str, Any]]]:
        tenant = TenantContext(tenant_id=TenantId(query.tenant_id))
        after: tuple[int, str] | None = None
        while True:
            async with self._database.unit_of_work(tenant, read_only=True) as uow:
                records = await SignalExportRepository(uow.session, tenant).page(
                    query, after, batch_rows
                )
                rows = [signal_row(record) for record in records]
                if records:
                    after = (records[-1].ts, records[-1].id)
            if rows:
                yield rows
            if len(rows) < batch_rows:
                return


def build_export_service(kernel: Kernel) -> ExportService:
    """Return the export service over this process's time-series and relational stores."""
    infra = kernel.infra
    datasets = export_datasets(
        store=infra.timeseries,
        bars=BAR_TABLE,
        predictions=PREDICTIONS_TABLE,
        signals=RelationalSignalSource(infra.database),
    )
    return ExportService(datasets)
