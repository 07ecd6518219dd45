"""``/api/v1/notifications``: the caller's delivery log, retry, test-send, preview and
preferences."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission
from chainflow.notify.schemas import (
    NotificationPage,
    NotificationRead,
    Preferences,
    PreviewCreate,
    PreviewRead,
    TestSendCreate,
    TestSendRead,
)
from chainflow.notify.service import NotifyService

Member = Annotated[Principal, Depends(require_permission(Permission.PROFILE_READ))]
State = Literal["pending", "sending", "sent", "failed", "dead"]


def build_notify_router(*, service: NotifyService) -> APIRouter:
    router = APIRouter(prefix="/notifications", tags=["notifications"])

    @router.get("", summary="Your notifications and their delivery state, newest first")
    async def list_notifications(
        principal: Member,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        state: State | None = None,
    ) -> NotificationPage:
        return NotificationPage(items=await service.log(principal, limit=limit, state=state))

    @router.get("/preferences", summary="Your notification preferences")
    async def get_preferences(principal: Member) -> Preferences:
        return await service.preferences(principal.tenant, principal.user_id)

    @router.put("/preferences", summary="Replace your notification preferences")
    async def put_preferences(principal: Member, body: Preferences) -> Preferences:
        return await service.save_preferences(principal, body)

    @router.post("/preview", summary="Render a notification template with sample data")
    async def preview(principal: Member, body: PreviewCreate) -> PreviewRead:
        return await service.preview(principal.tenant, body)

    @router.post("/test", status_code=202, summary="Send yourself a test notification")
    async def test_send(principal: Member, body: TestSendCreate) -> TestSendRead:
        return TestSendRead(queued=await service.test_send(principal, body.channel))

    @router.post(
        "/{notification_id}/retry",
        status_code=202,
        summary="Queue one of your failed or dead notifications again",
    )
    async def retry(principal: Member, notification_id: str) -> NotificationRead:
        return await service.retry(principal, notification_id)

    return router
