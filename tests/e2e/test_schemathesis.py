"""Schemathesis over every operation of the served API (issue 14).

A real ``chainflow serve`` on embedded storage in a temporary home; the caller is a
registered, signed-in superadmin on the enterprise tier (so that the rate limit leaves room
for every example), with a bearer token and an API key. Valid and invalid requests alike
(generation mode ``all``, plus schemathesis's coverage phase: boundary values, missing
credentials, unexpected methods); a fixed seed and a few examples per operation keep the run
short and repeatable. Every response must be no 5xx, have a status code the OpenAPI document
lists for its operation, and the content type it documents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from schemathesis import BaseSchema, Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    status_code_conformance,
)

from chainflow.runtime.kernel import Kernel
from tests.fixtures.processes import running_server
from tests.fixtures.settings import embedded_settings, register_embedded_user

EMAIL = "fuzz@example.com"
PASSWORD = "Conformance-Probe-2026!"
SECRET_KEY = "schemathesis-secret-key-long-enough-0123456789"
SEED = 14
EXAMPLES_PER_OPERATION = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@dataclass(frozen=True, slots=True)
class ServedApi:
    base_url: str
    access_token: str
    api_key: str


async def _make_enterprise_superadmin(home: Path) -> None:
    kernel = Kernel(embedded_settings(home), services="hub,storage,users")
    await kernel.start(serving=False)
    try:
        async with kernel.infra.database.unit_of_work(system=True) as uow:
            await kernel.users.admin.grant_superadmin(uow, EMAIL)
            tenant_id = await kernel.users.admin.tenant_id_for_email(uow, EMAIL)
            await kernel.users.admin.change_tier(uow, None, tenant_id, "enterprise")
    finally:
        await kernel.stop()


@pytest.fixture(scope="module")
def served_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    home = tmp_path_factory.mktemp("schemathesis") / "home"
    register_embedded_user(home, EMAIL, PASSWORD)
    asyncio.run(_make_enterprise_superadmin(home))
    # E-mail configured (to a closed port: queued, never delivered), so that e-mailing
    # routes answer as on a real deployment instead of 503 "no e-mail delivery".
    env = {
        "CHAINFLOW_ENV": "test",
        "CHAINFLOW_SECRET_KEY": SECRET_KEY,
        "CHAINFLOW_NOTIFY_SMTP_HOST": "127.0.0.1",
        "CHAINFLOW_NOTIFY_SMTP_PORT": "9",
    }
    with running_server(home, env=env) as base:
        credentials = {"email": EMAIL, "password": PASSWORD}
        login = httpx.post(base + "/api/v1/auth/login", json=credentials)
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        created = httpx.post(
            base + "/api/v1/api-keys",
            json={"name": "schemathesis", "scopes": ["read", "signals:read"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        yield ServedApi(base, token, created.json()["key"])


@pytest.fixture(scope="module")
def api_schema(served_api: ServedApi) -> BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "database": "none",
            },
        }
    )
    return schemathesis.openapi.from_url(served_api.base_url + "/openapi.json", config=config)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # Schemathesis 4.32 renames the running item through ``Node._nodeid``, which pytest 9.2
    # replaced by ``Node._id``; give it the attribute so that its per-operation reports work.
    request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_answers_as_documented_with_a_token(
    case: Case, served_api: ServedApi
) -> None:
    headers = {"Authorization": f"Bearer {served_api.access_token}"}
    case.call_and_validate(base_url=served_api.base_url, headers=headers, checks=CHECKS)


@schema.include(method="GET").parametrize()
def test_every_read_answers_as_documented_with_an_api_key(
    case: Case, served_api: ServedApi
) -> None:
    headers = {"Authorization": f"Bearer {served_api.api_key}"}
    case.call_and_validate(base_url=served_api.base_url, headers=headers, checks=CHECKS)
