"""The backtest service's relational table: asynchronous backtest jobs, per tenant (RLS)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.storage.relational import Base, IdMixin, TenantOwned, TimestampMixin, UTCDateTime


class BacktestJob(Base, IdMixin, TimestampMixin, TenantOwned):
    """One backtest, optimization or walk-forward job: its request, status and result.

    ``status`` moves ``queued`` -> ``running`` -> ``succeeded`` | ``failed``, or to
    ``cancelled`` (by the tenant) or ``interrupted`` (by a shutdown), both of which a resume
    moves back to ``queued``; ``progress`` goes from 0 to 1. ``request`` is the validated
    request body; ``result`` the summary (``BacktestResult.to_json`` and a downsampled
    equity curve) once it succeeded; ``error`` the reason once it failed; ``checkpoint``
    the finished part of a search or walk-forward (``backtest.checkpoint``), saved while
    it runs.
    """

    __tablename__ = "backtest_jobs"
    __table_args__ = (Index("ix_backtest_jobs_tenant_id_created_at", "tenant_id", "created_at"),)

    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    timeframe: Mapped[str] = mapped_column(String(8), nullable=False)
    strategy: Mapped[str] = mapped_column(String(64), nullable=False)
    request: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
