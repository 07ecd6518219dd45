"""The model card's live part and a live fallback over the whole embedded kernel's API
(issue 23.6/23.7): the ml service wires the registry routes to the time-series store, so a
card shows the caller's tenant's scores since the promotion, and a fallback recorded for
the tenant (``chainflow.ml.registry.fallback_log``) appears on the cards of the versions it involves
and on the model's entry of ``GET /api/v1/models`` until a version is promoted."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chainflow.ml.api import Fallback
from chainflow.ml.cards.model_card import epoch_ms
from chainflow.ml.live.prediction_table import SCORES_TABLE
from chainflow.ml.registry.fallback_log import FallbackLog
from chainflow.ml.registry.model_registry import ModelRegistry, local_model_registry
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings
from tests.ml.test_registry_routes import log_in, registration, sign_up

NAME = "fx-live"
BASELINE = 0.4
DETAIL = (
    "stayed below its baseline for 8 consecutive scored predictions on EURUSD H1: "
    "live hit rate 0.250 over the last 12, baseline accuracy 0.400"
)


@dataclass
class World:
    http: httpx.AsyncClient
    kernel: Kernel
    registry: ModelRegistry
    tokens: dict[str, str]
    tenants: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def card(self, who: str, version: int, output: str = "json") -> httpx.Response:
        return await self.http.get(
            f"/api/v1/models/{NAME}/{version}/card",
            params={"format": output},
            headers=self.headers(who),
        )

    async def listed(self, who: str) -> dict[str, Any]:
        response = await self.http.get("/api/v1/models", headers=self.headers(who))
        assert response.status_code == 200, response.text
        [item] = [m for m in response.json()["items"] if m["name"] == NAME]
        return dict(item)

    async def fall_back(self, who: str, from_version: int, to_version: int) -> Fallback:
        fallback = Fallback(
            name=NAME,
            at_ms=self.kernel.clock.now_ms(),
            from_version=from_version,
            to_version=to_version,
            reason="model_underperforming",
            detail=DETAIL,
            decided_by="chainflow live monitor",
            market="EURUSD",
            timeframe="H1",
            hit_rate=0.25,
            baseline_accuracy=BASELINE,
            scored=12,
            streak=8,
        )
        await FallbackLog(self.kernel.infra.timeseries).record(self.tenants[who], fallback)
        return fallback


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    kernel = Kernel(embedded_settings(tmp_path / "home"))
    app = create_app(kernel)
    await kernel.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            people = {
                "root": "root@example.com",
                "alice": "alice@example.com",
                "bob": "bob@example.com",
            }
            tenants = {who: (await sign_up(http, email))[0] for who, email in people.items()}
            assert kernel.users is not None
            database = kernel.infra.database
            async with database.unit_of_work(system=True) as uow:
                await kernel.users.admin.grant_superadmin(uow, people["root"])
            registry = local_model_registry(kernel.settings.home, kernel.clock)
            model = dataclasses.replace(
                registration(NAME),
                metrics={
                    "oos": {"accuracy": 0.55},
                    "baselines": {"majority": {"accuracy": BASELINE}},
                    "verdict": {"passed": True, "sentence": "beats both baselines (p=0.004)"},
                },
            )
            async with database.unit_of_work(system=True) as uow:
                for version in (1, 2):
                    await registry.register(uow, model, f"v{version}".encode())
                await registry.promote(uow, NAME, 1)
                await registry.promote(uow, NAME, 2)  # v1: archived, once in production
            tokens = {who: await log_in(http, email) for who, email in people.items()}
            yield World(http, kernel, registry, tokens, tenants)
    finally:
        await kernel.stop()


def score(tenant: str, ts: int, *, hit: bool) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "symbol": "EURUSD",
        "ts": ts,
        "timeframe": "H1",
        "model": f"{NAME}@2",
        "p_down": 0.2,
        "p_flat": 0.2,
        "p_up": 0.6,
        "realized": 2 if hit else 0,
        "scored_at_ts": ts,
    }


class TestCardLive:
    async def test_the_card_shows_the_callers_scores_since_the_promotion(
        self, world: World
    ) -> None:
        async with world.kernel.infra.database.unit_of_work(system=True) as uow:
            production = await world.registry.get(uow, NAME, 2)
        assert production.promoted_at is not None
        promoted = epoch_ms(production.promoted_at)
        bob = world.tenants["bob"]
        rows = [score(bob, promoted - (i + 1) * 3_600_000, hit=False) for i in range(5)]
        rows += [score(bob, promoted + (i + 1) * 3_600_000, hit=i % 4 != 0) for i in range(12)]
        await world.kernel.infra.timeseries.ensure_table(SCORES_TABLE)
        await world.kernel.infra.timeseries.append(SCORES_TABLE.name, rows)

        card = (await world.card("bob", 2)).json()
        others = (await world.card("alice", 2)).json()

        live = card["live"]
        assert live["available"] is True and live["since_ts"] == promoted
        assert live["window"] == world.kernel.settings.ml.performance_window
        [eurusd] = live["symbols"]
        assert (eurusd["symbol"], eurusd["timeframe"], eurusd["scored"]) == ("EURUSD", "H1", 12)
        assert eurusd["hit_rate"] == pytest.approx(0.75)
        assert eurusd["baseline_accuracy"] == BASELINE and eurusd["below_baseline"] is False
        assert "12 scored predictions since the promotion" in live["note"]
        assert others["live"]["available"] is True
        assert others["live"]["symbols"][0]["scored"] == 0
        page = (await world.card("bob", 2, "html")).text
        assert "12 scored predictions since the promotion" in page


class TestFallbackShown:
    async def test_card_and_listing_show_the_fallback_until_a_promotion(self, world: World) -> None:
        assert (await world.listed("bob"))["fallback"] is None
        assert (await world.card("bob", 2)).json()["fallback"] is None

        first = await world.fall_back("bob", 2, 1)

        card = (await world.card("bob", 2)).json()["fallback"]
        assert card == {
            "since_ts": first.at_ms,
            "model": f"{NAME}@2",
            "fallback": f"{NAME}@1",
            "serves": f"{NAME}@1",
            "reason": "model_underperforming",
            "detail": DETAIL,
            "decided_by": "chainflow live monitor",
            "symbol": "EURUSD",
            "timeframe": "H1",
            "hit_rate": 0.25,
            "baseline_accuracy": BASELINE,
            "scored": 12,
            "streak": 8,
        }
        assert (await world.card("bob", 1)).json()["fallback"] == card  # the one serving
        assert (await world.card("alice", 2)).json()["fallback"] is None  # bob's alone
        listed = await world.listed("bob")
        assert listed["production_version"] == 2 and listed["fallback"] == card
        assert (await world.listed("alice"))["fallback"] is None

        await world.fall_back("bob", 1, 0)  # the version fallen back to failed too

        held = (await world.listed("bob"))["fallback"]
        assert (held["model"], held["fallback"], held["serves"]) == (f"{NAME}@1", None, "hold")
        assert (await world.card("bob", 2)).json()["fallback"] == held

        await asyncio.sleep(0.01)  # the promotion is later than the fallbacks
        promoted = await world.http.post(
            f"/api/v1/models/{NAME}/1/promote", headers=world.headers("root")
        )
        assert promoted.status_code == 200, promoted.text
        assert (await world.listed("bob"))["fallback"] is None
        assert (await world.card("bob", 1)).json()["fallback"] is None

    async def test_the_html_card_says_it_under_its_stylesheet_policy(self, world: World) -> None:
        await world.fall_back("bob", 2, 0)

        response = await world.card("bob", 2, "html")

        assert response.status_code == 200, response.text
        page = response.text
        assert "Live fallback since" in page and "your signals are hold" in page
        assert "<h2>Live fallback</h2>" in page and DETAIL in page
        assert "serves instead</th><td>hold</td>" in page
        assert "Live fallback" not in (await world.card("alice", 2, "html")).text
        policy = response.headers["content-security-policy"]
        [stylesheet] = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
        digest = base64.b64encode(hashlib.sha256(stylesheet.encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in policy
