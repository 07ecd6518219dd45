"""``/api/v1/models`` on the whole embedded kernel: platform and custom models over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chainflow.core.auth import TIER_LIMITS, Tier
from chainflow.core.ids import TenantId
from chainflow.core.tenancy import TenantContext
from chainflow.ml.api import ModelRegistration
from chainflow.ml.registry.model_registry import ModelRegistry, local_model_registry
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings

PASSWORD = "Model-Registry-2026!"
PLATFORM = "fx-gbm"
CUSTOM = "alice-lstm"
WEAK = "fx-weak"
PASSED = {"passed": True, "sentence": "beats both baselines (p=0.004)"}
FAILED = {
    "passed": False,
    "sentence": "does not beat the majority baseline (p=0.41): do not trade it",
}


def registration(
    name: str, family: str = "xgboost", verdict: dict[str, object] | None = PASSED
) -> ModelRegistration:
    metrics: dict[str, object] = {"oos": {"accuracy": 0.55}, "baselines": {"majority": 0.51}}
    if verdict is not None:
        metrics["verdict"] = verdict
    return ModelRegistration(
        name=name,
        family=family,
        feature_set="fx-core@1",
        feature_set_fingerprint="ab" * 32,
        label={"kind": "direction", "horizon": 4},
        symbols=("EURUSD",),
        timeframe="H1",
        train_from_ts=1_700_000_000_000,
        train_to_ts=1_760_000_000_000,
        metrics=metrics,
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


async def sign_up(http: httpx.AsyncClient, email: str) -> tuple[str, str]:
    credentials = {"email": email, "password": PASSWORD}
    registered = await http.post("/api/v1/auth/register", json=credentials)
    assert registered.status_code == 201, registered.text
    return registered.json()["tenant_id"], email


async def log_in(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    kernel = Kernel(embedded_settings(tmp_path / "home"))
    app = create_app(kernel)
    await kernel.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            people = {"root": "root@example.com", "alice": "alice@example.com"}
            people["bob"] = "bob@example.com"
            tenants = {who: (await sign_up(http, email))[0] for who, email in people.items()}
            users, database = kernel.users, kernel.infra.database
            assert users is not None
            async with database.unit_of_work(system=True) as uow:
                await users.admin.grant_superadmin(uow, people["root"])
                await users.admin.change_tier(uow, None, tenants["alice"], "enterprise")
            registry = local_model_registry(kernel.settings.home, kernel.clock)
            alice = TenantContext(tenant_id=TenantId(tenants["alice"]))
            async with database.unit_of_work(system=True) as uow:
                for version in (1, 2):
                    await registry.register(uow, registration(PLATFORM), f"v{version}".encode())
                await registry.promote(uow, PLATFORM, 1)
            async with database.unit_of_work(alice) as uow:
                await registry.register(
                    uow,
                    registration(CUSTOM, "lstm"),
                    b"custom",
                    owner=alice,
                    limits=TIER_LIMITS[Tier.ENTERPRISE],
                )
            tokens = {who: await log_in(http, email) for who, email in people.items()}
            yield World(http, kernel, registry, tokens, tenants)
    finally:
        await kernel.stop()


class TestListModels:
    async def test_a_tenant_sees_platform_models_and_its_own(self, world: World) -> None:
        alice = await world.http.get("/api/v1/models", headers=world.headers("alice"))
        bob = await world.http.get("/api/v1/models", headers=world.headers("bob"))
        assert alice.status_code == 200, alice.text
        assert {(m["name"], m["owner"]) for m in alice.json()["items"]} == {
            (PLATFORM, "platform"),
            (CUSTOM, "tenant"),
        }
        [platform] = bob.json()["items"]
        assert platform == {
            "name": PLATFORM,
            "owner": "platform",
            "family": "xgboost",
            "latest_version": 2,
            "production_version": 1,
            "version_count": 2,
            "production_verdict": {"status": "passed", "sentence": PASSED["sentence"]},
            "production_override": None,
            "fallback": None,
        }

    async def test_without_credentials_is_unauthenticated(self, world: World) -> None:
        assert (await world.http.get("/api/v1/models")).status_code == 401


class TestGetVersions:
    async def test_versions_and_one_version(self, world: World) -> None:
        versions = await world.http.get(f"/api/v1/models/{PLATFORM}", headers=world.headers("bob"))
        assert versions.status_code == 200, versions.text
        body = versions.json()
        assert body["owner"] == "platform"
        assert [(v["version"], v["stage"]) for v in body["items"]] == [
            (1, "production"),
            (2, "candidate"),
        ]
        one = await world.http.get(f"/api/v1/models/{PLATFORM}/2", headers=world.headers("bob"))
        assert one.status_code == 200
        assert one.json()["ref"] == f"{PLATFORM}@2"
        assert one.json()["metrics"]["baselines"] == {"majority": 0.51}
        assert "artifact_path" not in one.json()

    async def test_another_tenants_custom_model_is_not_found(self, world: World) -> None:
        for path in (f"/api/v1/models/{CUSTOM}", f"/api/v1/models/{CUSTOM}/1"):
            response = await world.http.get(path, headers=world.headers("bob"))
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "model_not_found"
        own = await world.http.get(f"/api/v1/models/{CUSTOM}/1", headers=world.headers("alice"))
        assert own.status_code == 200 and own.json()["owner"] == "tenant"

    async def test_unknown_version_is_not_found(self, world: World) -> None:
        response = await world.http.get(
            f"/api/v1/models/{PLATFORM}/9", headers=world.headers("bob")
        )
        assert response.status_code == 404


class TestChanges:
    async def test_only_a_superadmin_changes_platform_models(self, world: World) -> None:
        path = f"/api/v1/models/{PLATFORM}/2/promote"
        denied = await world.http.post(path, headers=world.headers("bob"))
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "permission_denied"
        assert "superadmin" in denied.json()["error"]["message"]

        promoted = await world.http.post(path, headers=world.headers("root"))
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["stage"] == "production"
        stages = await world.http.get(f"/api/v1/models/{PLATFORM}", headers=world.headers("bob"))
        assert [v["stage"] for v in stages.json()["items"]] == ["archived", "production"]

    async def test_rollback_then_nothing_left_to_roll_back(self, world: World) -> None:
        root = world.headers("root")
        await world.http.post(f"/api/v1/models/{PLATFORM}/2/promote", headers=root)
        rolled = await world.http.post(f"/api/v1/models/{PLATFORM}/rollback", headers=root)
        assert rolled.status_code == 200, rolled.text
        assert (rolled.json()["version"], rolled.json()["stage"]) == (1, "production")
        # Rolling back again returns to version 2, the production version before version 1.
        again = await world.http.post(f"/api/v1/models/{PLATFORM}/rollback", headers=root)
        assert again.json()["version"] == 2
        fresh = "never-promoted"
        async with world.kernel.infra.database.unit_of_work(system=True) as uow:
            await world.registry.register(uow, registration(fresh), b"x")
        conflict = await world.http.post(f"/api/v1/models/{fresh}/rollback", headers=root)
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "model_stage_conflict"

    async def test_archive_and_archive_again(self, world: World) -> None:
        root = world.headers("root")
        archived = await world.http.post(f"/api/v1/models/{PLATFORM}/2/archive", headers=root)
        assert archived.status_code == 200 and archived.json()["stage"] == "archived"
        again = await world.http.post(f"/api/v1/models/{PLATFORM}/2/archive", headers=root)
        assert again.status_code == 409

    async def test_a_tenant_manages_its_own_custom_model(self, world: World) -> None:
        path = f"/api/v1/models/{CUSTOM}/1/promote"
        assert (await world.http.post(path, headers=world.headers("bob"))).status_code == 404
        promoted = await world.http.post(path, headers=world.headers("alice"))
        assert promoted.status_code == 200, promoted.text
        assert (promoted.json()["owner"], promoted.json()["stage"]) == ("tenant", "production")

    async def test_a_signals_key_reads_but_cannot_change(self, world: World) -> None:
        created = await world.http.post(
            "/api/v1/api-keys",
            json={"name": "terminal", "scopes": ["signals:read"]},
            headers=world.headers("bob"),
        )
        assert created.status_code == 201, created.text
        key = {"Authorization": f"Bearer {created.json()['key']}"}
        assert (await world.http.get("/api/v1/models", headers=key)).status_code == 200
        denied = await world.http.post(f"/api/v1/models/{PLATFORM}/rollback", headers=key)
        assert denied.status_code == 403
        assert denied.json()["error"]["details"]["required_permission"] == "models:manage"


class TestPromotionGate:
    """Promotion over HTTP refuses a model whose verdict does not beat its baselines."""

    async def register_weak(self, world: World, verdict: dict[str, object] | None) -> str:
        async with world.kernel.infra.database.unit_of_work(system=True) as uow:
            await world.registry.register(uow, registration(WEAK, verdict=verdict), b"w")
        return f"/api/v1/models/{WEAK}/1/promote"

    @pytest.mark.parametrize(("verdict", "status"), [(FAILED, "failed"), (None, "unknown")])
    async def test_refused_with_the_error_shape(
        self, world: World, verdict: dict[str, object] | None, status: str
    ) -> None:
        path = await self.register_weak(world, verdict)
        refused = await world.http.post(path, headers=world.headers("root"))
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "promotion_refused"
        assert error["message"].startswith(f"model {WEAK}@1 was not promoted: it ")
        assert error["details"]["model"] == f"{WEAK}@1"
        assert error["details"]["verdict"] == status
        one = await world.http.get(f"/api/v1/models/{WEAK}/1", headers=world.headers("bob"))
        assert one.json()["stage"] == "candidate"
        assert one.json()["verdict"]["status"] == status
        assert one.json()["promotion_override"] is None

    async def test_force_needs_a_reason(self, world: World) -> None:
        path = await self.register_weak(world, FAILED)
        root = world.headers("root")
        for body in ({"force": True}, {"force": True, "reason": " "}):
            refused = await world.http.post(path, json=body, headers=root)
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["code"] == "invalid_input"
        too_long = await world.http.post(
            path, json={"force": True, "reason": "x" * 501}, headers=root
        )
        assert too_long.status_code == 422

    async def test_forced_promotion_is_stored_and_shown(self, world: World) -> None:
        path = await self.register_weak(world, FAILED)
        body = {"force": True, "reason": "paper account only, to compare live"}
        forced = await world.http.post(path, json=body, headers=world.headers("root"))
        assert forced.status_code == 200, forced.text
        override = forced.json()["promotion_override"]
        assert override["reason"] == body["reason"] and override["verdict"] == "failed"
        assert override["by"].startswith("user ") and override["sentence"] == FAILED["sentence"]
        assert forced.json()["verdict"] == {"status": "failed", "sentence": FAILED["sentence"]}
        listed = await world.http.get("/api/v1/models", headers=world.headers("bob"))
        (weak,) = [m for m in listed.json()["items"] if m["name"] == WEAK]
        assert weak["production_version"] == 1
        assert weak["production_override"] == override
        assert weak["production_verdict"]["status"] == "failed"
        versions = await world.http.get(f"/api/v1/models/{WEAK}", headers=world.headers("bob"))
        assert versions.json()["items"][0]["promotion_override"] == override
