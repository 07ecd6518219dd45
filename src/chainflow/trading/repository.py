"""All queries of the trading service's tables; tenant-scoped."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from sqlalchemy import Integer, Select, Text, bindparam, cast, select, type_coerce

from chainflow.storage.relational import LeanRead, ReadStatement, TenantRepository
from chainflow.trading.events import SignalIssued
from chainflow.trading.models import PaperAccountRecord, SignalRecord


class StoredSignal(NamedTuple):
    """One stored signal as ``latest`` reads it: ``SignalIssued``'s stored fields."""

    symbol: str
    ts: int
    action: str
    confidence: float
    size: float
    stop_loss: float | None
    take_profit: float | None
    model: str
    reasons: list[str]


_SIGNALS = SignalRecord.__table__
# The newest signals of a tenant (of one symbol), built once: a statement built per call
# and its cache key cost more than running it (benchmarks/http.py). The tenant filter is
# a bound parameter like the others; ``latest`` always passes it. ``reasons`` is read
# without the JSON type's result processing: on SQLite it is the stored text, decoded by
# orjson (the type's ``json.loads`` per row was a tenth of the read's time); asyncpg hands
# PostgreSQL's over decoded already.
_NEWEST_FIRST = (_SIGNALS.c.ts.desc(), _SIGNALS.c.id.desc())
_STORED_COLUMNS = tuple(
    type_coerce(_SIGNALS.c.reasons, Text) if name == "reasons" else _SIGNALS.c[name]
    for name in StoredSignal._fields
)
_LATEST = (
    select(*_STORED_COLUMNS)
    .where(_SIGNALS.c.tenant_id == bindparam("tenant_id"))
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit", type_=Integer))
)
_LATEST_OF_SYMBOL = _LATEST.where(_SIGNALS.c.symbol == bindparam("symbol"))


def _newest_stored_text(*, of_symbol: bool) -> Select[Any]:
    """``_LATEST`` (``_LATEST_OF_SYMBOL``) with ``reasons`` cast to text on every backend:
    the lean read decodes it with orjson on PostgreSQL too (the driver's JSON codec is
    ``json.loads``, a quarter of the rows' decoding)."""
    columns = (
        cast(_SIGNALS.c.reasons, Text) if name == "reasons" else _SIGNALS.c[name]
        for name in StoredSignal._fields
    )
    statement = (
        select(*columns)
        .where(_SIGNALS.c.tenant_id == bindparam("tenant_id"))
        .order_by(*_NEWEST_FIRST)
        .limit(bindparam("limit", type_=Integer))
    )
    return statement.where(_SIGNALS.c.symbol == bindparam("symbol")) if of_symbol else statement


_READ_LATEST = ReadStatement(_newest_stored_text(of_symbol=False))
_READ_LATEST_OF_SYMBOL = ReadStatement(_newest_stored_text(of_symbol=True))


def _stored_signal(
    symbol: str,
    ts: int,
    action: str,
    confidence: float,
    size: float,
    stop_loss: float | None,
    take_profit: float | None,
    model: str,
    reasons: str | list[str],
) -> StoredSignal:
    """Return a row of ``_LATEST`` as a ``StoredSignal``, ``reasons`` decoded."""
    decoded = orjson.loads(reasons) if isinstance(reasons, str) else reasons
    return StoredSignal(
        symbol, ts, action, confidence, size, stop_loss, take_profit, model, decoded
    )


async def read_latest_signals(
    read: LeanRead, *, symbol: str | None, limit: int
) -> list[StoredSignal]:
    """Return the read's tenant's newest signals, as ``SignalRepository.latest`` does.

    The same statement on a lean read (``Database.lean_read``): no ORM session for the
    hot listing (``GET /api/v1/signals``, benchmarks/http.py). Tests compare the two.
    """
    tenant = read.tenant
    if tenant is None:
        raise ValueError("read_latest_signals needs a lean read opened for a tenant")
    parameters: dict[str, Any] = {"tenant_id": tenant.tenant_id, "limit": limit}
    statement = _READ_LATEST
    if symbol is not None:
        statement = _READ_LATEST_OF_SYMBOL
        parameters["symbol"] = symbol
    rows = await read.fetch(statement, parameters)
    return [_stored_signal(*row) for row in rows]


class SignalRepository(TenantRepository[SignalRecord]):
    async def record(self, signal: SignalIssued, timeframe: str) -> SignalRecord:
        """Store an issued signal for this tenant."""
        return await self.add(
            SignalRecord(
                symbol=signal.symbol,
                timeframe=timeframe,
                ts=signal.ts,
                action=signal.action,
                confidence=signal.confidence,
                size=signal.size,
                stop_loss=signal.stop_loss,
                take_profit=signal.take_profit,
                model=signal.model,
                reasons=list(signal.reasons),
            )
        )

    async def stored_for(self, symbol: str, timeframe: str, ts: int) -> bool:
        """Return whether a signal of the key's bar ``ts`` is stored (a prediction run again
        after a crash; index on (tenant_id, symbol, ts))."""
        statement = (
            select(SignalRecord.id)
            .where(
                self._tenant_filter(),
                SignalRecord.symbol == symbol,
                SignalRecord.ts == ts,
                SignalRecord.timeframe == timeframe,
            )
            .limit(1)
        )
        return await self.session.scalar(statement) is not None

    async def latest(self, *, symbol: str | None, limit: int) -> list[StoredSignal]:
        """Return the tenant's newest signals (by bar ts, then issue order), newest first.

        A Core select of the stored fields on the unit of work's connection, not of
        ``SignalRecord`` through the ORM session: no ORM object or ORM execution step for a
        read that only copies values out (``GET /api/v1/signals``). Taking the connection
        begins the session's transaction as a query would (on PostgreSQL: the tenant is set
        for row-level security). The index on (tenant_id, ts, id) hands the rows over in
        this order, so a page of the newest signals reads only that page (migration 0021).
        """
        parameters: dict[str, Any] = {"tenant_id": self.tenant.tenant_id, "limit": limit}
        statement = _LATEST
        if symbol is not None:
            statement = _LATEST_OF_SYMBOL
            parameters["symbol"] = symbol
        connection = await self.session.connection()
        result = await connection.execute(statement, parameters)
        return [_stored_signal(*row) for row in result]


class PaperAccountRepository(TenantRepository[PaperAccountRecord]):
    async def load(self) -> dict[str, Any] | None:
        """Return the tenant's saved paper account document, if any."""
        found = (await self.session.execute(self._select())).scalar_one_or_none()
        return None if found is None else dict(found.document)

    async def save(self, document: dict[str, Any]) -> None:
        """Store the tenant's paper account document (replacing the saved one)."""
        found = (await self.session.execute(self._select())).scalar_one_or_none()
        if found is None:
            await self.add(PaperAccountRecord(document=document))
        else:
            found.document = document
