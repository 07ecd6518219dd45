"""``/api/v1/notifications/devices``: the caller's push subscriptions, FCM tokens and phones.

- ``POST`` stores a Web Push subscription (``kind=webpush``), an FCM registration token
  (``fcm``) or a phone number (``sms``: a one-time code is sent to it by SMS; SMS needs a
  tier with ``sms_notifications``);
- ``POST /{id}/verify`` confirms a phone with its code;
- ``GET`` lists them (addresses shortened), ``DELETE /{id}`` removes one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from chainflow.core.auth import Permission, Principal
from chainflow.core.ids import new_id
from chainflow.gateway.api import require_permission
from chainflow.notify.channels.fcm import FCM_ADDRESS_PREFIX
from chainflow.notify.devices import DeviceBook, NewDevice
from chainflow.notify.errors import ChannelUnavailableError
from chainflow.notify.events import NotifyEvent
from chainflow.notify.schemas import DeviceCreate, DevicePage, DeviceRead, DeviceVerify
from chainflow.notify.service import NotifyService
from chainflow.notify.tiers import check_channels

__all__ = ["build_device_router", "new_device"]

Member = Annotated[Principal, Depends(require_permission(Permission.PROFILE_READ))]


def new_device(body: DeviceCreate) -> NewDevice:
    """Return the stored form of a device request."""
    if body.subscription is not None:
        return NewDevice("push", "webpush", body.subscription.address(), body.label)
    if body.token is not None:
        return NewDevice("push", "fcm", FCM_ADDRESS_PREFIX + body.token, body.label)
    return NewDevice("sms", "sms", str(body.phone), body.label)


def build_device_router(*, devices: DeviceBook, service: NotifyService) -> APIRouter:
    """Return the routes; mount under ``/api/v1`` before the notifications router."""
    router = APIRouter(prefix="/notifications/devices", tags=["notifications"])

    async def send_code(principal: Principal, phone: str, code: str, expires: datetime) -> None:
        event = NotifyEvent(
            event_id=new_id(),
            kind="phone_verification",
            tenant_id=str(principal.tenant_id),
            severity="info",
            occurred_at_ms=service.now_ms(),
            data={"code": code, "expires_at_ms": int(expires.timestamp() * 1000)},
            user_id=str(principal.user_id),
            phone=phone,
            sensitive=True,
        )
        await service.writer.accept(event)

    @router.post("", status_code=201, summary="Add a push subscription, FCM token or phone")
    async def add_device(principal: Member, body: DeviceCreate) -> DeviceRead:
        device = new_device(body)
        if device.channel not in service.channels.names:
            raise ChannelUnavailableError(
                f"expected a channel configured here ({', '.join(sorted(service.channels.names))}"
                f"); received {device.channel!r}"
            )
        if device.channel == "sms":
            check_channels(principal.limits, principal.tier.value, ["sms"])
        return await devices.register(principal, device, send_code)

    @router.post("/{device_id}/verify", summary="Confirm a phone number with its code")
    async def verify_device(principal: Member, device_id: str, body: DeviceVerify) -> DeviceRead:
        return await devices.verify(principal, device_id, body.code)

    @router.get("", summary="Your push subscriptions, FCM tokens and phone numbers")
    async def list_devices(principal: Member) -> DevicePage:
        return DevicePage(items=await devices.list(principal))

    @router.delete("/{device_id}", status_code=204, summary="Remove one of your devices")
    async def delete_device(principal: Member, device_id: str) -> Response:
        await devices.delete(principal, device_id)
        return Response(status_code=204)

    return router
