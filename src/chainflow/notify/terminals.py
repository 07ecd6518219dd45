"""MT5 terminals that stay away: ``terminal_disconnected`` after N minutes, then
``terminal_reconnected`` to whoever was told.

The bridge publishes every ``WS /ws/ticks`` connection opening and closing
(``bridge.connections.<tenant>``, payload ``ConnectionChanged``). ``TerminalWatch``
consumes them durably and keeps one ``notification_terminals`` row per terminal (its API
key): its newest connection and whether it is ``up`` or ``down``. A connection that closes
while a newer one of the same key is open (a reconnect that overtook the close) changes
nothing. ``sweep`` runs every ``check_s`` of wall time and compares the injected clock
with each ``down`` row: a member whose wait (``Preferences.terminal_offline_min``, else
the server's setting) has passed gets one alert, recorded in the row's ``alerted`` list;
a terminal back before that sends nothing. When it comes back, each alerted member hears
so. Each message's event id is derived from the row, the connection and the user, so a
sweep of two processes at once, or a redelivered event, queues it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chainflow.core.clock import Clock
from chainflow.core.errors import MalformedEventError
from chainflow.core.ids import TenantId, new_id
from chainflow.core.logging import get_logger
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import BusMessage, EventBus, Subscription
from chainflow.notify.directory import RecipientDirectory
from chainflow.notify.events import NotifyEvent
from chainflow.notify.intake import OutboxWriter
from chainflow.notify.models import NotificationTerminal
from chainflow.notify.preferences import Preferences
from chainflow.notify.repository import PreferenceRepository, terminals_down
from chainflow.storage.relational import Database, TenantRepository

__all__ = ["ConnectionChange", "TerminalName", "TerminalRepository", "TerminalWatch"]

log = get_logger("chainflow.notify.terminals")

TerminalName = Callable[[str, str], Awaitable[str]]
"""``(tenant_id, api_key_id) -> label``: the key's name ('' when unknown)."""

MAX_LABEL = 100


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """One connection opened (``connected``) or closed (``disconnected``) at ``at_ms``."""

    tenant_id: str
    connection: str
    terminal_key: str
    state: str
    at_ms: int

    @classmethod
    def from_json(cls, data: bytes) -> ConnectionChange:
        """Parse the bridge's ``ConnectionChanged`` payload; raise ``MalformedEventError``."""
        try:
            raw: dict[str, Any] = json.loads(data)
            change = cls(
                tenant_id=str(raw["tenant_id"]),
                connection=str(raw["connection"]),
                terminal_key=str(raw.get("api_key_id") or "user:" + str(raw["user_id"])),
                state=str(raw["state"]),
                at_ms=int(raw["ts"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEventError(
                f"expected a connection change: {type(exc).__name__}"
            ) from exc
        if change.state not in ("connected", "disconnected") or not change.tenant_id:
            raise MalformedEventError(
                f"expected state connected or disconnected; got {change.state!r}"
            )
        return change


@dataclass(frozen=True, slots=True)
class AwayTerminal:
    """A ``down`` row as the sweep read it."""

    id: str
    tenant_id: str
    terminal_key: str
    label: str
    connection_id: str
    disconnected_at: datetime
    alerted: tuple[str, ...]


class TerminalRepository(TenantRepository[NotificationTerminal]):
    async def get(self, terminal_key: str) -> NotificationTerminal | None:
        statement = self._select().where(NotificationTerminal.terminal_key == terminal_key)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def mark_alerted(
        self, away: AwayTerminal, alerted: list[str], *, settled: bool, at: datetime
    ) -> None:
        """Record who was told, unless the terminal came back (or moved on) meanwhile."""
        statement = (
            self._update()
            .where(NotificationTerminal.id == away.id)
            .where(NotificationTerminal.connection_id == away.connection_id)
            .where(NotificationTerminal.state == "down")
            .values(alerted=alerted, settled=settled, updated_at=at)
        )
        await self.session.execute(statement)


def _event_id(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class TerminalWatch:
    """Consumes connection changes, sweeps for terminals away too long (see the module)."""

    def __init__(
        self,
        *,
        database: Database,
        writer: OutboxWriter,
        directory: RecipientDirectory,
        clock: Clock,
        offline_min: float,
        check_s: float,
        terminal_name: TerminalName | None = None,
    ) -> None:
        self._database = database
        self._writer = writer
        self._directory = directory
        self._clock = clock
        self._offline_min = offline_min
        self._check_s = check_s
        self._terminal_name = terminal_name
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, bus: EventBus, subject: str, durable: str) -> None:
        """Consume ``subject`` durably and sweep every ``check_s`` until ``stop``."""
        self._subscription = await bus.subscribe(subject, self.handle, durable=durable)
        self._task = asyncio.create_task(self._run(), name="notify.terminals")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await subscription.unsubscribe()

    async def handle(self, message: BusMessage) -> None:
        """Record one change; an unreadable payload is terminated, a failure redelivered."""
        try:
            change = ConnectionChange.from_json(message.data)
        except ValueError as e:
            log.error("notify_connection_unreadable", subject=message.subject, error=str(e))
            await message.term()
            return
        await self.record(change)
        await message.ack()

    async def record(self, change: ConnectionChange) -> None:
        """Apply one connection change; a reconnect tells whoever heard it was away."""
        tenant = TenantContext(tenant_id=TenantId(change.tenant_id))
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            row = await TerminalRepository(uow.session, tenant).get(change.terminal_key)
            away = _away(row)
            label = row.label if row is not None else ""
        if not label:
            label = await self._label(change)
        if change.state == "connected":
            if away is not None and away.alerted:
                await self._tell_back(away, change)
            await self._mark_up(tenant, change, label)
        else:
            await self._mark_down(tenant, change, label)

    async def sweep(self) -> int:
        """Alert the members whose wait for a ``down`` terminal passed; return how many
        messages were queued."""
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            rows = await terminals_down(uow.session)
            away = [terminal for terminal in map(_away, rows) if terminal is not None]
        queued = 0
        for terminal in away:
            queued += await self._sweep_one(terminal)
        return queued

    async def _sweep_one(self, away: AwayTerminal) -> int:
        now = self._clock.now()
        members = await self._directory.members(away.tenant_id)
        tenant = TenantContext(tenant_id=TenantId(away.tenant_id))
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            documents = await PreferenceRepository(uow.session, tenant).documents(
                [m.user_id for m in members]
            )
        away_s = (now - away.disconnected_at).total_seconds()
        due: list[str] = []
        waiting = False
        for member in members:
            if member.user_id in away.alerted:
                continue
            preferences = Preferences.model_validate(documents.get(member.user_id, {}))
            wait_min = preferences.terminal_offline_min or self._offline_min
            if away_s >= wait_min * 60:
                due.append(member.user_id)
            else:
                waiting = True
        queued = 0
        for user_id in due:
            event = NotifyEvent(
                event_id=_event_id(away.id, away.connection_id, "down", user_id),
                kind="terminal_disconnected",
                tenant_id=away.tenant_id,
                severity="warning",
                occurred_at_ms=_ms(now),
                data={
                    "terminal": away.label or away.terminal_key,
                    "disconnected_at_ms": _ms(away.disconnected_at),
                    "minutes": int(away_s // 60),
                },
                user_id=user_id,
            )
            queued += await self._writer.accept(event)
        if due or not waiting:
            async with self._database.unit_of_work(tenant) as uow:
                await TerminalRepository(uow.session, tenant).mark_alerted(
                    away, [*away.alerted, *due], settled=not waiting, at=now
                )
        return queued

    async def _tell_back(self, away: AwayTerminal, change: ConnectionChange) -> None:
        minutes = max(0, (change.at_ms - _ms(away.disconnected_at)) // 60_000)
        for user_id in away.alerted:
            await self._writer.accept(
                NotifyEvent(
                    event_id=_event_id(away.id, change.connection, "up", user_id),
                    kind="terminal_reconnected",
                    tenant_id=away.tenant_id,
                    severity="info",
                    occurred_at_ms=change.at_ms,
                    data={"terminal": away.label or away.terminal_key, "minutes": minutes},
                    user_id=user_id,
                )
            )

    async def _mark_up(self, tenant: TenantContext, change: ConnectionChange, label: str) -> None:
        async with self._database.unit_of_work(tenant) as uow:
            repository = TerminalRepository(uow.session, tenant)
            row = await repository.get(change.terminal_key)
            if row is None:
                await repository.add(self._new_row(change, "up", label))
                return
            row.connection_id = change.connection
            row.state = "up"
            row.disconnected_at = None
            row.alerted = []
            row.settled = False
            row.label = label

    async def _mark_down(self, tenant: TenantContext, change: ConnectionChange, label: str) -> None:
        async with self._database.unit_of_work(tenant) as uow:
            repository = TerminalRepository(uow.session, tenant)
            row = await repository.get(change.terminal_key)
            if row is None:  # its opening was never seen: away from now on
                await repository.add(self._new_row(change, "down", label))
                return
            if row.connection_id != change.connection or row.state != "up":
                return  # a newer connection is open, or this close was recorded already
            row.state = "down"
            row.disconnected_at = datetime.fromtimestamp(change.at_ms / 1000, tz=UTC)
            row.alerted = []
            row.settled = False

    def _new_row(self, change: ConnectionChange, state: str, label: str) -> NotificationTerminal:
        down = state == "down"
        return NotificationTerminal(
            id=new_id(),
            terminal_key=change.terminal_key,
            label=label[:MAX_LABEL],
            connection_id=change.connection,
            state=state,
            disconnected_at=(datetime.fromtimestamp(change.at_ms / 1000, tz=UTC) if down else None),
            alerted=[],
            settled=False,
        )

    async def _label(self, change: ConnectionChange) -> str:
        if self._terminal_name is None or change.terminal_key.startswith("user:"):
            return ""
        try:
            return (await self._terminal_name(change.tenant_id, change.terminal_key))[:MAX_LABEL]
        except Exception as e:  # a label is a nicety: never lose the change for it
            log.warning("notify_terminal_label_failed", error=type(e).__name__)
            return ""

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as e:  # the database is down: try again next round
                log.warning("notify_terminal_sweep_failed", error=type(e).__name__)
            await asyncio.sleep(self._check_s)


def _away(row: NotificationTerminal | None) -> AwayTerminal | None:
    """Return the row as an away terminal, or None when it is not ``down``."""
    if row is None or row.state != "down" or row.disconnected_at is None:
        return None
    return AwayTerminal(
        id=row.id,
        tenant_id=row.tenant_id,
        terminal_key=row.terminal_key,
        label=row.label,
        connection_id=row.connection_id,
        disconnected_at=row.disconnected_at,
        alerted=tuple(row.alerted or ()),
    )
