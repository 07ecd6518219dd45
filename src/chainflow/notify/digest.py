"""Digests: events held per user, channel and address, sent as one summary at the boundary.

Intake stores a held event as a ``NotificationDigestItem`` (its rendered subject, keyed like
an outbox row, so a redelivered event is held once). ``DigestFlusher.flush_due`` runs in
the delivery worker's rounds: it gathers the items whose ``due_at`` has passed, renders one
``digest`` message per (user, channel, address, due_at) and, in one transaction, inserts
it into the outbox and marks its items with the new row's id. The outbox row's key is
derived from the group, so two workers flushing at once queue it once.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chainflow.core.clock import Clock
from chainflow.core.ids import new_id
from chainflow.core.logging import get_logger
from chainflow.notify.channels.base import SEVERITIES
from chainflow.notify.models import NotificationDigestItem
from chainflow.notify.repository import DigestQueue, insert_if_absent
from chainflow.notify.templates import TemplateOverride, TemplateRenderer
from chainflow.storage.relational import Database, TenantRepository

__all__ = ["DIGEST_KIND", "NEVER_DIGESTED", "DigestFlusher", "DigestRepository"]

log = get_logger("chainflow.notify.digest")

DIGEST_KIND = "digest"
NEVER_DIGESTED = frozenset(
    {
        DIGEST_KIND,
        "binding_disabled",
        "test",
        "phone_verification",
        # billing reminders carry a pay button and a deadline: never held
        "renewal_due",
        "payment_failed",
        "subscription_expiring",
    }
)
ITEMS_SHOWN = 50
BATCH = 2000

GroupKey = tuple[str, str, str, str, datetime]  # tenant, user, channel, address, due_at


class DigestRepository(TenantRepository[NotificationDigestItem]):
    async def add_if_absent(self, values: Mapping[str, Any]) -> bool:
        """Hold one event for a digest unless its key is held already; return whether new."""
        row = {**values, "tenant_id": self.tenant.tenant_id}
        return await insert_if_absent(self.session, NotificationDigestItem, row)

    async def pending(self, user_id: str) -> Sequence[NotificationDigestItem]:
        """Return the user's held events not yet sent in a digest, oldest first."""
        statement = (
            self._select()
            .where(NotificationDigestItem.user_id == user_id)
            .where(NotificationDigestItem.digest_id.is_(None))
            .order_by(NotificationDigestItem.event_at, NotificationDigestItem.id)
        )
        return (await self.session.execute(statement)).scalars().all()


@dataclass(frozen=True, slots=True)
class _Digest:
    key: GroupKey
    item_ids: list[str]
    row: dict[str, Any]


def _group_key_hash(key: GroupKey) -> str:
    tenant_id, user_id, channel, address, due_at = key
    raw = "\n".join((DIGEST_KIND, tenant_id, user_id, channel, address, due_at.isoformat()))
    return hashlib.sha256(raw.encode()).hexdigest()


class DigestFlusher:
    """Turns due digest items into outbox rows; one per process, called by the worker."""

    def __init__(
        self,
        *,
        database: Database,
        renderer: TemplateRenderer,
        clock: Clock,
        tenant_name: Callable[[str], Awaitable[str]],
        unsubscribe_url: str,
    ) -> None:
        self._database = database
        self._renderer = renderer
        self._clock = clock
        self._tenant_name = tenant_name
        self._unsubscribe_url = unsubscribe_url

    async def flush_due(self) -> int:
        """Queue every due digest; return how many outbox rows were new."""
        now = self._clock.now()
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            queue = DigestQueue(uow.session)
            groups: dict[GroupKey, list[NotificationDigestItem]] = defaultdict(list)
            for item in await queue.due(now=now, limit=BATCH):
                key = (item.tenant_id, item.user_id, item.channel, item.address, item.due_at)
                groups[key].append(item)
            tenants = sorted({key[0] for key in groups})
            overrides: dict[str, dict[tuple[str, str], TemplateOverride]] = defaultdict(dict)
            for row in await queue.overrides(DIGEST_KIND, tenants) if tenants else ():
                overrides[row.tenant_id][(row.channel, row.locale)] = TemplateOverride(
                    subject=row.subject, text=row.body
                )
        if not groups:
            return 0
        names = {tenant_id: await self._tenant_name(tenant_id) for tenant_id in tenants}
        digests = [
            self._digest(key, group, names[key[0]], overrides.get(key[0], {}), now)
            for key, group in groups.items()
        ]
        added = 0
        async with self._database.unit_of_work(system=True) as uow:
            queue = DigestQueue(uow.session)
            for digest in digests:
                added += await queue.queue(digest.row, digest.item_ids, now)
        if added:
            log.info("notify_digests_queued", digests=added, items=sum(map(len, groups.values())))
        return added

    def _digest(
        self,
        key: GroupKey,
        items: Sequence[NotificationDigestItem],
        tenant_name: str,
        overrides: Mapping[tuple[str, str], TemplateOverride],
        now: datetime,
    ) -> _Digest:
        tenant_id, user_id, channel, address, due_at = key
        locale = self._renderer.locale_of(items[0].locale)
        data = {
            "tenant_name": tenant_name or "ChainFlow",
            "period": items[-1].period,
            "count": len(items),
            "more": max(0, len(items) - ITEMS_SHOWN),
            "items": [
                {
                    "at_ms": int(item.event_at.timestamp() * 1000),
                    "severity": item.severity,
                    "subject": item.subject,
                    "kind": item.event_type,
                }
                for item in items[:ITEMS_SHOWN]
            ],
        }
        rendered = self._renderer.render(
            DIGEST_KIND, channel, locale, data, overrides.get((channel, locale))
        )
        severity = max((item.severity for item in items), key=SEVERITIES.index)
        key_hash = _group_key_hash(key)
        row = {
            "id": new_id(),
            "tenant_id": tenant_id,
            "idempotency_key": key_hash,
            "event_id": key_hash,
            "event_type": DIGEST_KIND,
            "user_id": user_id,
            "channel": channel,
            "address": address,
            "severity": severity,
            "subject": rendered.subject,
            "body_text": rendered.text,
            "body_html": rendered.html,
            "meta": {
                "kind": DIGEST_KIND,
                "from_name": tenant_name,
                "unsubscribe_url": self._unsubscribe_url,
            },
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "event_at": due_at,  # latency counts from the boundary, not the first event
            "created_at": now,
            "updated_at": now,
        }
        return _Digest(key=key, item_ids=[item.id for item in items], row=row)
