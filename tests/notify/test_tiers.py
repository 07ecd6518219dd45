"""Per-tier channel limits: the rules, and preferences refused or accepted by tier."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chainflow.core.auth import TIER_LIMITS, Tier
from chainflow.notify.errors import ChannelNotInTierError
from chainflow.notify.tiers import allowed_channels, check_channels
from chainflow.runtime import operator_tasks
from tests.notify.hub import Hub, open_hub
from tests.notify.peers.smtp import SmtpServer, smtp_server


class TestRules:
    def test_email_is_free_sms_needs_the_feature_and_others_count(self) -> None:
        free, pro = TIER_LIMITS[Tier.FREE], TIER_LIMITS[Tier.PRO]
        enterprise = TIER_LIMITS[Tier.ENTERPRISE]
        every = ("email", "telegram", "sms", "push")
        assert allowed_channels(free, every) == {"email", "telegram"}
        assert allowed_channels(pro, every) == {"email", "telegram", "push"}
        assert allowed_channels(enterprise, every) == set(every)
        check_channels(free, "free", ["email", "push"])
        with pytest.raises(ChannelNotInTierError, match="SMS needs"):
            check_channels(pro, "pro", ["email", "sms"])
        with pytest.raises(ChannelNotInTierError, match=r"at most 1 .* received 2"):
            check_channels(free, "free", ["telegram", "push"])


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
async def hub(tmp_path: Path, smtp: SmtpServer) -> AsyncIterator[Hub]:
    async with open_hub(tmp_path / "home", smtp) as hub:
        yield hub


class TestPreferencesByTier:
    async def test_free_tier_refuses_sms_and_a_second_extra_channel(self, hub: Hub) -> None:
        sms = await hub.http.put(
            "/api/v1/notifications/preferences", json={"events": {"circuit_breaker": ["sms"]}}
        )
        assert sms.status_code == 403, sms.text
        error = sms.json()["error"]
        assert error["code"] == "notification_channel_not_in_tier"
        assert "sms_notifications" in error["message"]
        two = await hub.http.put(
            "/api/v1/notifications/preferences",
            json={"default_channels": ["email", "telegram", "push"]},
        )
        assert two.status_code == 403 and "received 2 (push, telegram)" in two.text
        stored = await hub.http.get("/api/v1/notifications/preferences")
        assert stored.json()["default_channels"] == ["email", "telegram"]  # unchanged

    async def test_enterprise_tier_may_enable_sms(self, hub: Hub) -> None:
        await operator_tasks.change_tier(hub.kernel, hub.email, "enterprise")
        put = await hub.http.put(
            "/api/v1/notifications/preferences",
            json={"default_channels": ["email", "sms", "telegram", "push"]},
        )
        assert put.status_code == 200, put.text
