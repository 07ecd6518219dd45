"""Which channels a tenant's tier allows (``core.auth`` ``TIER_LIMITS``), and the checks.

E-mail, the account's own address, is always allowed and not counted: identity mail must
reach every user. ``TierLimits.notification_channels`` is how many of the other channels
(Telegram, SMS, push) a user may enable; SMS also needs ``Feature.SMS_NOTIFICATIONS`` (it
costs money per message). Preferences that go beyond are refused when saved
(``check_channels``); if the tier shrinks later, delivery keeps only what is still allowed
(``allowed_channels``).
"""

from __future__ import annotations

from collections.abc import Iterable

from chainflow.core.auth import Feature, TierLimits
from chainflow.notify.channels.base import CHANNELS
from chainflow.notify.errors import ChannelNotInTierError

__all__ = ["FREE_CHANNEL", "allowed_channels", "check_channels"]

FREE_CHANNEL = "email"


def _needs_feature(channel: str, limits: TierLimits) -> bool:
    return channel == "sms" and Feature.SMS_NOTIFICATIONS not in limits.features


def allowed_channels(limits: TierLimits, wanted: Iterable[str]) -> frozenset[str]:
    """Return the subset of ``wanted`` the tier allows (extra channels in ``CHANNELS`` order)."""
    wanted_set = set(wanted)
    extra = [
        c
        for c in CHANNELS
        if c in wanted_set and c != FREE_CHANNEL and not _needs_feature(c, limits)
    ]
    allowed = set(extra[: max(0, limits.notification_channels)])
    if FREE_CHANNEL in wanted_set:
        allowed.add(FREE_CHANNEL)
    return frozenset(allowed)


def check_channels(limits: TierLimits, tier: str, wanted: Iterable[str]) -> None:
    """Raise ``ChannelNotInTierError`` (403) if the tier does not allow every channel."""
    wanted_set = set(wanted)
    if "sms" in wanted_set and _needs_feature("sms", limits):
        raise ChannelNotInTierError(
            f"expected channels your {tier} tier includes; SMS needs a tier with "
            f"{Feature.SMS_NOTIFICATIONS.value}",
            details={"tier": tier, "channel": "sms", "feature": Feature.SMS_NOTIFICATIONS.value},
        )
    extra = sorted(wanted_set - {FREE_CHANNEL})
    if len(extra) > limits.notification_channels:
        raise ChannelNotInTierError(
            f"expected at most {limits.notification_channels} channel(s) besides e-mail on "
            f"your {tier} tier; received {len(extra)} ({', '.join(extra)})",
            details={"tier": tier, "limit": limits.notification_channels, "channels": extra},
        )
