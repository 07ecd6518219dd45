"""The trading service's relational tables, per tenant (RLS): issued signals, paper accounts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.storage.relational import Base, IdMixin, TenantOwned, TimestampMixin


class SignalRecord(Base, IdMixin, TimestampMixin, TenantOwned):
    """One issued signal: the stable action of a symbol changed at bar ``ts`` (open, ms)."""

    __tablename__ = "signals"
    __table_args__ = (
        Index("ix_signals_tenant_id_symbol_ts", "tenant_id", "symbol", "ts"),
        # The newest signals of a tenant, whatever the symbol (migration 0021).
        Index("ix_signals_tenant_id_ts_id", "tenant_id", "ts", "id"),
    )

    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    timeframe: Mapped[str] = mapped_column(String(8), nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    action: Mapped[str] = mapped_column(String(8), nullable=False)
    confidence: Mapped[float] = mapped_column(Float, nullable=False)
    size: Mapped[float] = mapped_column(Float, nullable=False)
    stop_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    take_profit: Mapped[float | None] = mapped_column(Float, nullable=True)
    model: Mapped[str] = mapped_column(String(100), nullable=False)
    reasons: Mapped[list[Any]] = mapped_column(nullable=False)


class PaperAccountRecord(Base, IdMixin, TimestampMixin, TenantOwned):
    """A tenant's paper account as one JSON document (``PaperDesk.dump``), saved often."""

    __tablename__ = "paper_accounts"

    document: Mapped[dict[str, Any]] = mapped_column(nullable=False)
