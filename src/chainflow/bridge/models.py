"""The bridge's relational tables."""

from __future__ import annotations

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.storage.relational import Base, IdMixin, TenantOwned, TimestampMixin


class SymbolAlias(Base, IdMixin, TimestampMixin, TenantOwned):
    """A broker symbol (``EURUSD.m``) and the tenant's canonical symbol it means."""

    __tablename__ = "symbol_aliases"
    __table_args__ = (UniqueConstraint("tenant_id", "alias"),)

    alias: Mapped[str] = mapped_column(String(40), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
