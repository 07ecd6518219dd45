"""Two ``chainflow serve`` processes on PostgreSQL, Redis and NATS: the scaled form."""

from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import running_server
from tests.fixtures.scaled import run_cli, scaled_environment


@pytest.fixture
def scaled_env():
    with scaled_environment("e2e") as env:
        yield env


class TestTwoProcesses:
    def test_gateway_routes_to_hub_in_another_process(self, tmp_path: Path, scaled_env) -> None:
        run_cli(scaled_env, "db", "upgrade")
        with (
            running_server(
                tmp_path / "b", scaled_env, ("--services", "hub,storage,users")
            ) as hub_url,
            running_server(tmp_path / "a", scaled_env, ("--services", "gateway")) as gateway_url,
        ):
            ready = httpx.get(gateway_url + "/ready").json()
            assert ready["checks"]["database"]["backend"] == "postgresql"
            assert ready["checks"]["bus"]["backend"] == "nats"
            # The gateway process has no hub router; it forwards to the hub process.
            response = httpx.get(gateway_url + "/api/v1/hub/services", timeout=10)
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            urls = {i["url"]: i["services"] for i in items}
            assert urls[hub_url] == ["hub", "storage", "users"]
            assert urls[gateway_url] == ["gateway"]
            health = httpx.get(gateway_url + "/api/v1/hub/health", timeout=10).json()
            assert health["status"] == "ok", health
            assert health["services"]["gateway"] == {"instances": 1, "ready": 1}

            # Identity through the gateway: the users routes are forwarded to process B,
            # and the gateway resolves the access token by asking B over NATS.
            credentials = {"email": "scaled@example.com", "password": "Two-Process-Pass-42"}
            registered = httpx.post(gateway_url + "/api/v1/auth/register", json=credentials)
            assert registered.status_code == 201, registered.text
            login = httpx.post(gateway_url + "/api/v1/auth/login", json=credentials)
            assert login.status_code == 200, login.text
            bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
            overview = httpx.get(gateway_url + "/api/v1/me/overview", headers=bearer, timeout=10)
            assert overview.status_code == 200, overview.text
            assert overview.json()["principal"]["tenant_id"] == registered.json()["tenant_id"]
            assert "ratelimit-remaining" in overview.headers
            me = httpx.get(gateway_url + "/api/v1/users/me", headers=bearer, timeout=10)
            assert me.status_code == 200 and me.json()["email"] == credentials["email"]
            bad = httpx.get(
                gateway_url + "/api/v1/me/overview", headers={"Authorization": "Bearer nope"}
            )
            assert bad.status_code == 401

        # With the hub process gone, the gateway answers 503 in the error shape.
        with running_server(tmp_path / "a2", scaled_env, ("--services", "gateway")) as gw:
            response = httpx.get(gw + "/api/v1/hub/services", timeout=10)
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "dependency_unavailable"
