"""Read the deployment files in ``deploy/`` for the tests beside this module: the compose file
(with compose's ``${VAR:-default}`` interpolation), the Kubernetes manifests, the Envoy
config, and the names of ChainFlow's settings they may set."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from chainflow.core.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
ENVOY_CONFIG = K8S / "envoy" / "envoy.yaml"
ADAPTER_VALUES = K8S / "prometheus-adapter" / "values.yaml"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
SINGLE_REPLICA_LAYERS: frozenset[str] = frozenset()
"""Layers that run one replica (none: every stateful service shares partitions)."""
PARTITIONED_SERVICES = frozenset({"features", "ml", "trading"})
"""Services whose replicas share the keyed streams' partitions (tenant partitions of the
bars, feature vectors, ticks and predictions, under leases in the shared cache): a layer
running one of them runs two replicas or more."""
# What compose needs from the environment (``${VAR:?message}``), and test values for it.
REQUIRED_ENV = {
    "CHAINFLOW_SECRET_KEY": "a-test-secret-key-of-more-than-32-characters",
    "GRAFANA_ADMIN_PASSWORD": "test-password",
}
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def assert_partitions_shared(settings: Settings, what: str) -> None:
    """The settings of a process whose replicas share partitions: the bus and the leases
    are shared servers (NATS, Redis), and a lease outlives a heartbeat round."""
    assert settings.bus.url.startswith("nats://"), what
    assert settings.cache.url.startswith("redis://"), f"{what}: leases need a shared cache"
    assert settings.hub.instance_ttl_s > settings.hub.heartbeat_interval_s, what


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def interpolate(value: str, environment: Mapping[str, str] = REQUIRED_ENV) -> str:
    """Return ``value`` with compose's variables replaced: the environment's value, else the
    ``:-`` default; a ``:?`` variable missing from ``environment`` is an error, as in compose."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in environment:
            return environment[name]
        if op == ":-":
            return arg
        raise AssertionError(f"compose needs {name} from the environment: {arg}")

    return _VARIABLE.sub(replace, value)


def setting_names() -> set[str]:
    """Every ``CHAINFLOW_*`` environment variable the settings model reads."""
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        area = field.annotation
        if isinstance(area, type) and issubclass(area, BaseSettings):
            prefix = str(area.model_config.get("env_prefix", ""))
            names |= {f"{prefix}{name}".upper() for name in area.model_fields}
        else:
            names.add(f"CHAINFLOW_{field_name}".upper())
    return names


def served_services(args: list[str]) -> list[str]:
    """The services a ``serve --services a,b`` command line runs."""
    assert args[:2] == ["serve", "--services"] and len(args) == 3, args
    return args[2].split(",")


@dataclass(frozen=True)
class Manifest:
    path: Path
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])


def base_manifests() -> list[Manifest]:
    """The resources the base kustomization lists, in its order."""
    kustomization = load_yaml(BASE / "kustomization.yaml")
    return [
        Manifest(BASE / resource, doc)
        for resource in kustomization["resources"]
        for doc in load_documents(BASE / resource)
    ]


def proxy_manifests() -> list[Manifest]:
    """The Envoy overlay's own resources (it adds them to the base)."""
    path = K8S / "envoy" / "proxy.yaml"
    return [Manifest(path, doc) for doc in load_documents(path)]


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, dict[str, Any]]:
    return {m.name: m.body for m in manifests if m.kind == kind}


def layer_deployments() -> dict[str, list[str]]:
    """Deployment name -> the services its ChainFlow container serves."""
    layers: dict[str, list[str]] = {}
    for name, deployment in of_kind(base_manifests(), "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        layers[name] = served_services(container["args"])
    return layers


def compose_layers() -> dict[str, list[str]]:
    """Compose service name -> the services its command serves (ChainFlow layers only)."""
    services = load_yaml(DEPLOY / "compose.yml")["services"]
    return {
        name: served_services(service["command"])
        for name, service in services.items()
        if service.get("command", [""])[0] == "serve"
    }


def envoy_routes() -> list[dict[str, Any]]:
    (listener,) = load_yaml(ENVOY_CONFIG)["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (manager,) = chain["filters"]
    (host,) = manager["typed_config"]["route_config"]["virtual_hosts"]
    return list(host["routes"])


def envoy_clusters() -> dict[str, dict[str, Any]]:
    clusters = load_yaml(ENVOY_CONFIG)["static_resources"]["clusters"]
    return {cluster["name"]: cluster for cluster in clusters}


def cluster_addresses(cluster: dict[str, Any]) -> Iterator[tuple[str, int]]:
    for locality in cluster["load_assignment"]["endpoints"]:
        for endpoint in locality["lb_endpoints"]:
            socket = endpoint["endpoint"]["address"]["socket_address"]
            yield socket["address"], int(socket["port_value"])
