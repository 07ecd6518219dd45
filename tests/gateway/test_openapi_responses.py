"""The OpenAPI document lists the error answers each operation gives, in the error shape."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, Depends
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from chainflow.core.health import HealthReport
from chainflow.gateway.api import CurrentPrincipal, MountedRouter, current_principal
from chainflow.gateway.app import create_gateway

ERROR_REF = {"$ref": "#/components/schemas/Error"}


class Body(BaseModel):
    name: str


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: str, principal: CurrentPrincipal) -> dict[str, str]:
        return {"id": thing_id, "tenant_id": principal.tenant_id}

    @router.post("/things", dependencies=[Depends(current_principal)])
    async def create_thing(body: Body) -> Body:
        return body

    @router.get("/public")
    async def public() -> dict[str, str]:
        return {}

    @router.post("/auth/login")
    async def login(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @router.post(
        "/things/{thing_id}/archive",
        dependencies=[Depends(current_principal)],
        responses={409: {"description": "Archived"}},
    )
    async def archive_thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @router.get("/search", responses={404: {"description": "No such symbol"}})
    async def search(q: str) -> dict[str, str]:
        return {"q": q}

    return router


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    async def readiness() -> list[HealthReport]:
        return []

    app = create_gateway(
        title="t",
        version="0",
        routers=[MountedRouter(service="demo", router=_router())],
        readiness=readiness,
        metrics_registry=CollectorRegistry(),
    )
    return app.openapi()


def _codes(schema: dict[str, Any], method: str, path: str) -> list[str]:
    return sorted(schema["paths"][path][method]["responses"])


class TestErrorResponses:
    def test_authenticated_read_with_a_path_parameter(self, schema: dict[str, Any]) -> None:
        assert _codes(schema, "get", "/api/v1/things/{thing_id}") == [
            "200",
            "401",
            "403",
            "404",
            "422",
            "429",
        ]

    def test_authenticated_write_with_a_body(self, schema: dict[str, Any]) -> None:
        assert _codes(schema, "post", "/api/v1/things") == [
            "200",
            "400",
            "401",
            "403",
            "409",
            "413",
            "422",
            "429",
        ]

    def test_public_route_without_input_documents_no_errors(self, schema: dict[str, Any]) -> None:
        assert _codes(schema, "get", "/api/v1/public") == ["200"]
        assert _codes(schema, "get", "/health") == ["200"]
        assert _codes(schema, "get", "/ready") == ["200", "503"]

    def test_credential_exchange_documents_refusals_and_throttling(
        self, schema: dict[str, Any]
    ) -> None:
        assert _codes(schema, "post", "/api/v1/auth/login") == [
            "200",
            "400",
            "401",
            "403",
            "409",
            "413",
            "422",
            "429",
        ]

    def test_a_route_keeps_what_it_declares(self, schema: dict[str, Any]) -> None:
        responses = schema["paths"]["/api/v1/search"]["get"]["responses"]
        assert responses["404"] == {"description": "No such symbol"}
        assert responses["422"]["content"]["application/json"]["schema"] == ERROR_REF
        archive = schema["paths"]["/api/v1/things/{thing_id}/archive"]["post"]["responses"]
        assert archive["409"] == {"description": "Archived"}
        assert archive["404"]["content"]["application/json"]["schema"] == ERROR_REF

    def test_every_error_uses_the_error_shape(self, schema: dict[str, Any]) -> None:
        assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
        assert "HTTPValidationError" not in schema["components"]["schemas"]
        for item in schema["paths"].values():
            for operation in item.values():
                for status, response in operation["responses"].items():
                    if int(status) >= 400 and "content" in response:
                        content = response["content"]["application/json"]
                        assert content["schema"] == ERROR_REF, (status, response)

    def test_429_documents_retry_after_and_401_the_challenge(self, schema: dict[str, Any]) -> None:
        responses = schema["paths"]["/api/v1/things"]["post"]["responses"]
        assert "Retry-After" in responses["429"]["headers"]
        assert "WWW-Authenticate" in responses["401"]["headers"]
