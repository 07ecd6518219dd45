"""The delivery worker: claims due outbox rows, sends them, records the outcome.

Each round claims a batch in one transaction (``sending``, one more attempt), sends every
message through its channel outside any transaction, then settles each row in its own
transaction: ``sent``, back to ``pending`` after a backoff, ``failed`` or ``dead``.

At most once per idempotency key, with one window: a crash after the provider accepted a
message and before its row is settled leaves the row ``sending``; after
``claim_timeout_s`` another round claims it again and the message goes out a second time.
Channels pass the key to providers that deduplicate on it (``Message.idempotency_key``;
e-mail uses it as the ``Message-ID``, which lets a receiving system drop the copy).

A round first queues the digests that came due (``DigestFlusher``), at most once per
``digest_poll_s`` of the injected clock, so their rows are claimed in the same round.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.core.settings.notify import NotifySettings
from chainflow.notify.channels.base import DeliveryResult, Message
from chainflow.notify.channels.registry import ChannelRegistry
from chainflow.notify.digest import DigestFlusher
from chainflow.notify.metrics import NotifyMetrics
from chainflow.notify.models import NotificationOutbox
from chainflow.notify.repository import OutboxQueue
from chainflow.notify.retry import RetryPolicy
from chainflow.storage.relational import Database

__all__ = ["BindingDisabled", "Claimed", "DeliveryWorker"]

log = get_logger("chainflow.notify.delivery")

ERROR_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Claimed:
    """One claimed row: what to send and what identifies this attempt."""

    id: str
    tenant_id: str
    user_id: str | None
    attempt: int
    event_at: datetime
    sensitive: bool
    message: Message


BindingDisabled = Callable[[Claimed, DeliveryResult], Awaitable[None]]


def _claimed(row: NotificationOutbox) -> Claimed:
    meta = {str(k): str(v) for k, v in (row.meta or {}).items()}
    return Claimed(
        id=row.id,
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        attempt=row.attempts,
        event_at=row.event_at,
        sensitive=meta.get("sensitive") == "1",
        message=Message(
            idempotency_key=row.idempotency_key,
            channel=row.channel,
            address=row.address,
            subject=row.subject,
            text=row.body_text,
            html=row.body_html,
            severity=row.severity,
            metadata=meta,
        ),
    )


class DeliveryWorker:
    """Delivers the outbox in rounds; ``wake()`` starts the next round at once."""

    def __init__(
        self,
        *,
        database: Database,
        channels: ChannelRegistry,
        clock: Clock,
        settings: NotifySettings,
        metrics: NotifyMetrics,
        on_binding_disabled: BindingDisabled | None = None,
        digests: DigestFlusher | None = None,
        digest_poll_s: float = 5.0,
    ) -> None:
        self._database = database
        self._channels = channels
        self._clock = clock
        self._settings = settings
        self._metrics = metrics
        self._on_binding_disabled = on_binding_disabled
        self._digests = digests
        self._digest_poll_s = digest_poll_s
        self._digests_at = float("-inf")
        self._policy = RetryPolicy(
            base_s=settings.backoff_base_s,
            max_s=settings.backoff_max_s,
            max_attempts=settings.max_attempts,
        )
        self._sends = asyncio.Semaphore(settings.worker_concurrency)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Start the next round now (new rows were committed)."""
        self._wake.set()

    async def start(self) -> None:
        """Run rounds in a background task until ``stop``."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="notify.delivery")

    async def stop(self) -> None:
        """Stop after the current round's sends (rows left ``sending`` are reclaimed later)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> int:
        """Claim one batch of due rows, deliver them and return how many were claimed."""
        await self._flush_digests()
        now = self._clock.now()
        async with self._database.unit_of_work(system=True) as uow:
            rows = await OutboxQueue(uow.session).claim(
                now=now,
                limit=self._settings.worker_batch,
                stale_after_s=self._settings.claim_timeout_s,
            )
            claimed = [_claimed(row) for row in rows]
        if claimed:
            await asyncio.gather(*(self._deliver(item) for item in claimed))
        return len(claimed)

    async def drain(self, *, max_rounds: int = 100) -> int:
        """Queue due digests, then run rounds until nothing is due (tests, the CLI); return
        rows claimed."""
        await self._flush_digests(force=True)
        total = 0
        for _ in range(max_rounds):
            claimed = await self.run_once()
            total += claimed
            if not claimed:
                break
        return total

    async def refresh_depth(self) -> dict[str, int]:
        """Read the queue depth into the gauge and return it."""
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            depth = await OutboxQueue(uow.session).depth()
        for state, count in depth.items():
            self._metrics.queue_depth.labels(state).set(count)
        return depth

    async def _flush_digests(self, *, force: bool = False) -> None:
        if self._digests is None:
            return
        if not force and self._clock.monotonic() - self._digests_at < self._digest_poll_s:
            return
        self._digests_at = self._clock.monotonic()
        try:
            await self._digests.flush_due()
        except Exception as e:  # the digests wait for the next round; deliveries go on
            log.error("notify_digest_flush_failed", error=f"{type(e).__name__}: {e}")

    async def _run(self) -> None:
        depth_at = float("-inf")
        while True:
            try:
                claimed = await self.run_once()
                # the gauge once per poll interval, not per round: under load a round per
                # event would pay one more SQLite transaction for a value nobody reads
                if self._clock.monotonic() - depth_at >= self._settings.worker_poll_s:
                    depth_at = self._clock.monotonic()
                    await self.refresh_depth()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # keep delivering: a bad round must not stop the hub
                log.error("notify_round_failed", error=f"{type(e).__name__}: {e}")
                claimed = 0
            if claimed >= self._settings.worker_batch:
                continue  # more may be due right now
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.worker_poll_s)

    async def _deliver(self, item: Claimed) -> None:
        result = await self._send(item)
        outcome = self._policy.outcome(result, item.attempt)
        now = self._clock.now()
        values: dict[str, object] = {"state": outcome.state, "updated_at": now}
        channel = item.message.channel
        if outcome.state == "sent":
            values |= {"sent_at": now, "last_error": None, "provider_id": result.provider_id}
            if item.sensitive:  # the body holds a single-use secret: keep no copy
                values |= {"body_text": "", "body_html": None}
        else:
            values["last_error"] = (result.error or "delivery failed")[:ERROR_LIMIT]
            if outcome.state == "pending":
                values["next_attempt_at"] = now + timedelta(seconds=outcome.delay_s)
        async with self._database.unit_of_work(system=True) as uow:
            settled = await OutboxQueue(uow.session).settle(item.id, item.attempt, values)
        if not settled:
            log.warning("notify_settle_lost", notification_id=item.id, attempt=item.attempt)
            return
        if outcome.state == "sent":
            self._metrics.delivered.labels(channel).inc()
            latency = max(0.0, (now - item.event_at).total_seconds())
            self._metrics.latency.labels(channel).observe(latency)
        else:
            self._metrics.failed.labels(
                channel, "retry" if outcome.state == "pending" else outcome.state
            ).inc()
            log.warning(
                "notify_delivery_failed",
                notification_id=item.id,
                channel=channel,
                attempt=item.attempt,
                state=outcome.state,
                error=values["last_error"],
            )
        if result.disable_binding and self._on_binding_disabled is not None:
            await self._on_binding_disabled(item, result)

    async def _send(self, item: Claimed) -> DeliveryResult:
        channel = self._channels.get(item.message.channel)
        if channel is None:
            return DeliveryResult(
                ok=False,
                permanent=True,
                error=f"channel {item.message.channel!r} is not configured in this process",
            )
        async with self._sends:
            try:
                return await channel.send(item.message)
            except Exception as e:  # a channel bug must not lose the row: retry it
                return DeliveryResult(ok=False, error=f"{type(e).__name__}: {e}")
