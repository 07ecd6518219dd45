"""Subjects of the live dashboard frames (built here only, tokens escaped)."""

from __future__ import annotations

from chainflow.core.messages import topic


def dashboard_topic(tenant_id: str) -> str:
    """Return ``analytics.dashboard.<tenant>``: the tenant's ``dashboard`` frames (JSON)."""
    return topic("analytics", "dashboard", tokens=(tenant_id,))


def dashboard_request_topic() -> str:
    """Return ``analytics.dashboard.current``: request (body = tenant id) the tenant's last
    dashboard frame, answered with the frame's JSON or an empty body."""
    return topic("analytics", "dashboard", "current")
