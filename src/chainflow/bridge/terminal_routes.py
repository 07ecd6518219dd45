"""``GET /api/v1/terminals``: the tenant's MT5 terminals connected to this process now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from chainflow.bridge.terminals import LiveTerminal, TerminalRegistry
from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission

TenantMember = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]


class TerminalOut(BaseModel):
    connection_id: str
    api_key_id: str = Field(description="the API key it authenticated with (GET /api-keys)")
    user_id: str = Field(description="the user who owns that key")
    connected_at: int = Field(description="server time it connected, epoch ms")
    symbols: list[str] = Field(description="the symbols its hello declared (none before hello)")
    ticks: int = Field(description="ticks stored from this connection (new ticks only)")
    messages: int = Field(description="frames received on this connection")


class TerminalsOut(BaseModel):
    items: list[TerminalOut] = Field(description="oldest connection first")


def _out(terminal: LiveTerminal) -> TerminalOut:
    return TerminalOut(
        connection_id=terminal.connection_id,
        api_key_id=terminal.api_key_id,
        user_id=terminal.user_id,
        connected_at=terminal.connected_at_ms,
        symbols=list(terminal.symbols()),
        ticks=terminal.meter.ticks,
        messages=terminal.meter.messages,
    )


def build_terminal_router(*, terminals: TerminalRegistry) -> APIRouter:
    router = APIRouter(tags=["market"])

    @router.get(
        "/terminals",
        summary="The tenant's MT5 terminals connected now (WS /ws/ticks)",
        description=(
            "Each open `/ws/ticks` connection of the tenant served by this bridge process; "
            "with several bridge processes, each lists the connections it serves."
        ),
    )
    async def list_terminals(principal: TenantMember) -> TerminalsOut:
        live = terminals.of_tenant(principal.tenant_id)
        return TerminalsOut(items=[_out(t) for t in live])

    return router
