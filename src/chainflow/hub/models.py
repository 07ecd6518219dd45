"""The hub's tables: cluster-wide config overrides (global, not tenant-owned)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.storage.relational import Base


class ConfigOverride(Base):
    """One overridden config key; ``value`` is the JSON document of the typed value."""

    __tablename__ = "hub_config_overrides"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
