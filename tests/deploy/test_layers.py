"""Each layer's command line from ``deploy/k8s`` (the same as compose's) starts a real
``chainflow serve`` process that answers the probes the manifests use, with exactly its
services, and the layer Envoy sends WebSockets to is the one that serves them. The processes
run on the embedded backends: which services a process runs, its routes and its probes do not
depend on the backends (the multi-process tests on PostgreSQL, Redis and NATS are elsewhere)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.deploy.deployfiles import base_manifests, of_kind, served_services
from tests.fixtures.processes import running_server

WEBSOCKETS = ("/ws/ticks", "/ws/stream")


@dataclass(frozen=True)
class Layer:
    services: list[str]
    base: str


@pytest.fixture(scope="module", params=sorted(of_kind(base_manifests(), "Deployment")))
def layer(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Layer]:
    """The Deployment's container arguments, run as ``chainflow serve``."""
    deployment = of_kind(base_manifests(), "Deployment")[request.param]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[0] == "serve"
    home = tmp_path_factory.mktemp(request.param) / "home"
    with running_server(home, args=tuple(args[1:])) as base:
        yield Layer(served_services(args), base)


async def first_frame(url: str) -> dict[str, object] | int:
    """The first frame the WebSocket at ``url`` sends, or the HTTP status that refused it."""
    try:
        async with connect(url) as websocket:
            return dict(json.loads(await websocket.recv()))
    except InvalidStatus as refused:
        return refused.response.status_code


class TestProbes:
    def test_health_lists_exactly_the_layers_services(self, layer: Layer) -> None:
        health = httpx.get(layer.base + "/health", timeout=5)
        assert health.status_code == 200
        assert sorted(health.json()["services"]) == sorted(layer.services)

    def test_ready_and_metrics_answer(self, layer: Layer) -> None:
        ready = httpx.get(layer.base + "/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ok"
        metrics = httpx.get(layer.base + "/metrics", timeout=5)
        assert metrics.status_code == 200
        for service in layer.services:
            assert f'chainflow_service_running{{service="{service}"}} 1.0' in metrics.text


class TestWebSockets:
    def test_only_the_bridge_layer_serves_websockets(self, layer: Layer) -> None:
        for path in WEBSOCKETS:
            frame = asyncio.run(first_frame(layer.base.replace("http", "ws", 1) + path))
            if "bridge" in layer.services:
                # served: the route asks for credentials
                assert isinstance(frame, dict) and frame["code"] == "missing_credentials", path
            else:
                assert frame == 403, f"{path} is served outside the bridge layer: {frame}"
