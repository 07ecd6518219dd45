"""The MT5 terminals connected to this process: one entry per live ``WS /ws/ticks`` session.

``/ws/ticks`` registers a session when it is admitted (after authentication and the
connection limiter) and removes it in its ``finally``, where it also announces the
disconnect on ``bridge.connections.<tenant>``. ``GET /api/v1/terminals`` reads the tenant's
entries. The registry is in memory: with several bridge processes each lists the terminals
connected to it.

An entry counts what its session meters (``TerminalMeter`` stands in for the session's
``UsageMeter`` and forwards to it): frames received and ticks stored (new ticks; a resent
tick already stored is not counted again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chainflow.bridge.usage import UsageMeter
from chainflow.core.auth import Principal


class TerminalMeter:
    """One session's counts, forwarded to the process's ``UsageMeter`` when there is one."""

    def __init__(self, inner: UsageMeter | None = None) -> None:
        self._inner = inner
        self.ticks = 0
        self.messages = 0

    def record(self, tenant_id: str, *, ticks: int, messages: int) -> None:
        self.ticks += ticks
        self.messages += messages
        if self._inner is not None:
            self._inner.record(tenant_id, ticks=ticks, messages=messages)


@dataclass(slots=True)
class LiveTerminal:
    """A connected terminal; ``symbols`` reads what its ``hello`` declared, live."""

    connection_id: str
    tenant_id: str
    api_key_id: str
    user_id: str
    connected_at_ms: int
    meter: TerminalMeter
    symbols: Callable[[], tuple[str, ...]]


class TerminalRegistry:
    """The live terminals of this process, by tenant, in the order they connected."""

    def __init__(self) -> None:
        self._by_tenant: dict[str, dict[str, LiveTerminal]] = {}

    def open(
        self,
        principal: Principal,
        connection_id: str,
        *,
        connected_at_ms: int,
        meter: TerminalMeter,
        symbols: Callable[[], tuple[str, ...]],
    ) -> LiveTerminal:
        terminal = LiveTerminal(
            connection_id=connection_id,
            tenant_id=principal.tenant_id,
            api_key_id=principal.api_key_id or "",
            user_id=principal.user_id,
            connected_at_ms=connected_at_ms,
            meter=meter,
            symbols=symbols,
        )
        self._by_tenant.setdefault(terminal.tenant_id, {})[connection_id] = terminal
        return terminal

    def close(self, terminal: LiveTerminal) -> None:
        live = self._by_tenant.get(terminal.tenant_id)
        if live is None:
            return
        live.pop(terminal.connection_id, None)
        if not live:
            del self._by_tenant[terminal.tenant_id]

    def of_tenant(self, tenant_id: str) -> list[LiveTerminal]:
        return list(self._by_tenant.get(tenant_id, {}).values())

    def __len__(self) -> int:
        return sum(len(live) for live in self._by_tenant.values())
