"""The Envoy front proxy (``deploy/k8s/envoy/envoy.yaml``) routes each request to the layer
that serves it: every ``/api/v1`` prefix a service declares (``runtime/services.py``) to the
layer running that service, WebSockets with the upgrade to the layer running the bridge,
the rest to the gateway; its clusters are the Kubernetes Services and compose aliases."""

from __future__ import annotations

from typing import Any

from chainflow.runtime.services import SERVICES
from tests.deploy.deployfiles import (
    DEPLOY,
    ENVOY_CONFIG,
    K8S,
    base_manifests,
    cluster_addresses,
    compose_layers,
    envoy_clusters,
    envoy_routes,
    layer_deployments,
    load_yaml,
    of_kind,
    proxy_manifests,
)

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def layer_running(service: str) -> str:
    (name,) = [name for name, services in layer_deployments().items() if service in services]
    return name


def prefix_of(route: dict[str, Any]) -> str:
    match = route["match"]
    return str(match.get("path_separated_prefix", match.get("prefix")))


def matches(route: dict[str, Any], path: str) -> bool:
    """Envoy's semantics of the two match kinds used."""
    match = route["match"]
    if "prefix" in match:
        return path.startswith(match["prefix"])
    prefix = match["path_separated_prefix"]
    return path == prefix or path.startswith(prefix + "/")


def route_for(path: str) -> dict[str, Any]:
    """The first route that matches ``path``, as Envoy picks it."""
    return next(route for route in envoy_routes() if matches(route, path))


class TestListener:
    def test_one_http_listener_with_websocket_upgrades(self) -> None:
        config = load_yaml(ENVOY_CONFIG)
        assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
        (listener,) = config["static_resources"]["listeners"]
        assert listener["address"]["socket_address"]["port_value"] == 8000
        (chain,) = listener["filter_chains"]
        (manager,) = chain["filters"]
        typed = manager["typed_config"]
        assert typed["@type"] == HCM + "HttpConnectionManager"
        assert {"upgrade_type": "websocket"} in typed["upgrade_configs"]
        assert typed["use_remote_address"] is True
        assert typed["http_filters"][-1]["typed_config"]["@type"] == ROUTER


class TestRoutes:
    def test_every_service_prefix_reaches_the_layer_running_it(self) -> None:
        for spec in SERVICES:
            for prefix in spec.route_prefixes:
                for path in (prefix, prefix + "/anything"):
                    route = route_for(path)
                    assert route["route"]["cluster"] == layer_running(spec.name), path

    def test_websockets_reach_the_bridge_without_timeouts(self) -> None:
        for path in ("/ws/ticks", "/ws/stream"):
            action = route_for(path)["route"]
            assert action["cluster"] == layer_running("bridge"), path
            assert action["timeout"] == "0s" and action["idle_timeout"] == "0s"

    def test_everything_else_reaches_the_gateway(self) -> None:
        for path in ("/", "/docs", "/openapi.json", "/app/index.html", "/api/v1/unknown"):
            assert route_for(path)["route"]["cluster"] == layer_running("gateway"), path
        assert envoy_routes()[-1]["match"] == {"prefix": "/"}

    def test_metrics_are_not_public(self) -> None:
        assert route_for("/metrics")["direct_response"]["status"] == 404

    def test_path_separated_prefixes_do_not_capture_longer_names(self) -> None:
        # /api/v1/me must not take a longer name such as /api/v1/meters
        assert route_for("/api/v1/meters")["route"]["cluster"] == layer_running("gateway")

    def test_no_route_is_shadowed_by_an_earlier_one(self) -> None:
        routes = envoy_routes()
        for index, route in enumerate(routes):
            earlier = [r for r in routes[:index] if matches(r, prefix_of(route))]
            assert not earlier, f"{prefix_of(route)} is taken by {prefix_of(earlier[0])}"


class TestClusters:
    def test_every_route_names_a_cluster_that_health_checks_ready(self) -> None:
        clusters = envoy_clusters()
        used = {r["route"]["cluster"] for r in envoy_routes() if "route" in r}
        assert used == set(clusters)
        for name, cluster in clusters.items():
            (check,) = cluster["health_checks"]
            assert check["http_health_check"]["path"] == "/ready", name
            assert cluster["type"] == "STRICT_DNS", name

    def test_clusters_are_the_headless_services_of_the_layers(self) -> None:
        services = of_kind(base_manifests(), "Service")
        for name, cluster in envoy_clusters().items():
            ((address, port),) = cluster_addresses(cluster)
            assert address == name and address in layer_deployments()
            spec = services[address]["spec"]
            assert spec["clusterIP"] == "None", f"{address}: Envoy balances over pod addresses"
            assert port in {p["port"] for p in spec["ports"]}

    def test_clusters_are_compose_aliases_of_the_layers(self) -> None:
        compose = load_yaml(DEPLOY / "compose.yml")["services"]
        for cluster in envoy_clusters().values():
            ((address, _port),) = cluster_addresses(cluster)
            owners = [
                layer
                for layer in compose_layers()
                if address in compose[layer]["networks"]["default"]["aliases"]
            ]
            assert len(owners) == 1, f"{address} is an alias of {owners}"


class TestDeployments:
    def test_compose_mounts_this_file_where_envoy_reads_it(self) -> None:
        envoy = load_yaml(DEPLOY / "compose.yml")["services"]["envoy"]
        assert "./k8s/envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro" in envoy["volumes"]
        assert envoy["command"][:2] == ["-c", "/etc/envoy/envoy.yaml"]
        assert envoy["ports"] == ["8000:8000"]

    def test_the_overlay_mounts_the_generated_config(self) -> None:
        overlay = load_yaml(K8S / "envoy" / "kustomization.yaml")
        (generator,) = overlay["configMapGenerator"]
        assert generator["files"] == ["envoy.yaml"]
        deployment = of_kind(proxy_manifests(), "Deployment")["chainflow-envoy"]
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"][:2] == ["-c", "/etc/envoy/envoy.yaml"]
        (mount,) = container["volumeMounts"]
        assert mount["mountPath"] == "/etc/envoy"
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["configMap"]["name"] == generator["name"]
