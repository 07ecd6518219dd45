"""``deploy/k8s`` holds together: every manifest has its kind's Kubernetes schema (strict: no
unknown field), kustomize renders both entry points, and the cross-references hold: selectors,
named ports, probes, settings, images, autoscaler targets and their prometheus-adapter rules,
disruption budgets, and the same split by layer as the compose file."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client import CollectorRegistry

from chainflow.core.settings import Settings
from chainflow.runtime.metrics import BackendStatsCollector
from tests.deploy.deployfiles import (
    ADAPTER_VALUES,
    BASE,
    K8S,
    PARTITIONED_SERVICES,
    SINGLE_REPLICA_LAYERS,
    Manifest,
    assert_partitions_shared,
    base_manifests,
    compose_layers,
    layer_deployments,
    load_yaml,
    of_kind,
    proxy_manifests,
    setting_names,
)

# The oldest Kubernetes release these manifests are for, and the newest schema shipped.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
WORKLOADS = ("Deployment", "Job")


def every_manifest() -> list[Manifest]:
    return base_manifests() + proxy_manifests()


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def pod_specs(manifests: list[Manifest]) -> list[tuple[str, dict[str, Any]]]:
    return [(m.name, m.body["spec"]["template"]["spec"]) for m in manifests if m.kind in WORKLOADS]


class TestSchemas:
    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    def test_every_manifest_has_its_kind_schema(self, version: str) -> None:
        manifests = every_manifest()
        kinds = {m.kind for m in manifests}
        assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= kinds
        assert {"PodDisruptionBudget", "ConfigMap", "Secret", "Job", "Namespace"} <= kinds
        for manifest in manifests:
            try:
                kubernetes_validate.validate(manifest.body, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = ".".join(str(p) for p in error.path)
                pytest.fail(
                    f"{manifest.path.name} {manifest.kind}/{manifest.name}: {where}: {error}"
                )

    def test_the_strict_schema_refuses_a_misspelt_field(self) -> None:
        deployment = of_kind(base_manifests(), "Deployment")["chainflow-data"]
        broken = yaml.safe_load(yaml.safe_dump(deployment))
        broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)

    def test_kustomization_lists_every_file_of_the_base(self) -> None:
        listed = set(load_yaml(BASE / "kustomization.yaml")["resources"])
        present = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == present
        assert load_yaml(K8S / "kustomization.yaml")["resources"] == ["base"]
        assert "../base" in load_yaml(K8S / "envoy" / "kustomization.yaml")["resources"]

    @pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
    @pytest.mark.parametrize("entry", ["", "envoy"])
    def test_kustomize_renders_valid_manifests(self, entry: str) -> None:
        rendered = subprocess.run(
            ["kubectl", "kustomize", str(K8S / entry)], capture_output=True, text=True, timeout=60
        )
        assert rendered.returncode == 0, rendered.stderr
        documents = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
        expected = len(base_manifests()) + (len(proxy_manifests()) + 1 if entry else 0)
        assert len(documents) == expected  # + the generated Envoy ConfigMap
        for document in documents:
            kubernetes_validate.validate(document, KUBERNETES_VERSIONS[0], strict=True)
            if document["kind"] != "Namespace":
                assert document["metadata"]["namespace"] == "chainflow"
        if entry:
            config = next(d for d in documents if d["kind"] == "ConfigMap" and "envoy" in str(d))
            assert config["data"]["envoy.yaml"] == (K8S / "envoy" / "envoy.yaml").read_text()
            chainflow = next(
                d
                for d in documents
                if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "chainflow"
            )
            assert chainflow["data"]["CHAINFLOW_AUTH_TRUST_FORWARDED_FOR"] == "true"


class TestSelectors:
    def test_each_service_selects_one_deployment_on_a_named_port(self) -> None:
        manifests = every_manifest()
        deployments = of_kind(manifests, "Deployment")
        for name, service in of_kind(manifests, "Service").items():
            selector = service["spec"]["selector"]
            chosen = [
                d
                for d in deployments.values()
                if labels_match(selector, d["spec"]["template"]["metadata"]["labels"])
            ]
            assert len(chosen) == 1, f"Service {name} selects {len(chosen)} Deployments"
            (container,) = chosen[0]["spec"]["template"]["spec"]["containers"]
            ports = {port["name"] for port in container["ports"]}
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in ports, f"Service {name}: {port['targetPort']}"

    def test_each_deployment_selects_its_own_pods(self) -> None:
        for name, deployment in of_kind(every_manifest(), "Deployment").items():
            spec = deployment["spec"]
            assert labels_match(
                spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"]
            )
            assert deployment["metadata"]["labels"] == spec["template"]["metadata"]["labels"], name

    def test_each_pdb_covers_one_deployment_and_lets_a_drain_proceed(self) -> None:
        manifests = every_manifest()
        deployments = of_kind(manifests, "Deployment")
        budgets = of_kind(manifests, "PodDisruptionBudget")
        assert set(budgets) == set(deployments)
        minimum = {
            hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"]["minReplicas"]
            for hpa in of_kind(manifests, "HorizontalPodAutoscaler").values()
        }
        for name, budget in budgets.items():
            selector = budget["spec"]["selector"]["matchLabels"]
            chosen = [
                n
                for n, d in deployments.items()
                if labels_match(selector, d["spec"]["template"]["metadata"]["labels"])
            ]
            assert chosen == [name], f"PodDisruptionBudget {name} selects {chosen}"
            replicas = deployments[name]["spec"].get("replicas") or minimum[name]
            if "maxUnavailable" in budget["spec"]:
                assert budget["spec"]["maxUnavailable"] >= 1, f"{name}: a drain would block"
            else:
                assert budget["spec"]["minAvailable"] < replicas, f"{name}: a drain would block"


class TestPods:
    def test_chainflow_containers_probe_health_and_ready(self) -> None:
        for name, deployment in of_kind(base_manifests(), "Deployment").items():
            template = deployment["spec"]["template"]
            (container,) = template["spec"]["containers"]
            ports = {port["name"]: port["containerPort"] for port in container["ports"]}
            for probe, path in (
                ("startupProbe", "/health"),
                ("livenessProbe", "/health"),
                ("readinessProbe", "/ready"),
            ):
                action = container[probe]["httpGet"]
                assert (action["path"], action["port"]) == (path, "http"), f"{name} {probe}"
            annotations = template["metadata"]["annotations"]
            assert annotations["prometheus.io/path"] == "/metrics"
            assert int(annotations["prometheus.io/port"]) == ports["http"] == 8000
            assert template["spec"]["terminationGracePeriodSeconds"] >= 30

    def test_every_chainflow_container_uses_the_kustomized_image(self) -> None:
        (image,) = load_yaml(BASE / "kustomization.yaml")["images"]
        for name, pod in pod_specs(base_manifests()):
            for container in pod["containers"]:
                assert container["image"] == image["name"], name

    def test_every_variable_is_a_setting_and_the_settings_build(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        manifests = base_manifests()
        config = of_kind(manifests, "ConfigMap")
        secrets = of_kind(manifests, "Secret")
        known = setting_names()
        for name, pod in pod_specs(manifests):
            (container,) = pod["containers"]
            environment: dict[str, str] = {}
            for source in container["envFrom"]:
                if "configMapRef" in source:
                    environment.update(config[source["configMapRef"]["name"]]["data"])
                else:
                    environment.update(secrets[source["secretRef"]["name"]]["stringData"])
            for variable in container.get("env", []):
                value = variable.get("value", "10.1.2.3")  # POD_IP comes from the pod status
                environment[variable["name"]] = value.replace("$(POD_IP)", "10.1.2.3")
            unknown = {k for k in environment if k not in known and k != "POD_IP"}
            assert not unknown, f"{name} sets unknown settings {sorted(unknown)}"
            for key in [k for k in os.environ if k.startswith("CHAINFLOW_")]:
                monkeypatch.delenv(key)
            for key, value in environment.items():
                monkeypatch.setenv(key, value)
            settings = Settings(_env_file=None)  # type: ignore[call-arg]
            assert settings.env == "prod" and settings.http.port == 8000
            if name != "chainflow-migrate":
                assert settings.http.public_url == "http://10.1.2.3:8000"
            if PARTITIONED_SERVICES & set(layer_deployments().get(name, [])):
                assert "CHAINFLOW_BUS_PARTITIONS" in environment, name  # one count for all
                assert_partitions_shared(settings, name)


class TestLayers:
    def test_same_split_by_layer_as_the_compose_file(self) -> None:
        deployments = layer_deployments()
        assert deployments == {f"chainflow-{name}": s for name, s in compose_layers().items()}


class TestAutoscaling:
    def test_hpas_target_deployments_on_metrics_the_adapter_serves(self) -> None:
        manifests = base_manifests()
        deployments = of_kind(manifests, "Deployment")
        rules = load_yaml(ADAPTER_VALUES)["rules"]
        served = {
            "Pods": {rule["name"]["as"] for rule in rules["custom"]},
            "External": {rule["name"]["as"] for rule in rules["external"]},
        }
        autoscalers = of_kind(manifests, "HorizontalPodAutoscaler")
        assert "chainflow-data" in autoscalers  # the layer that ingests
        for name, hpa in autoscalers.items():
            spec = hpa["spec"]
            target = spec["scaleTargetRef"]
            assert (target["kind"], target["apiVersion"]) == ("Deployment", "apps/v1")
            assert target["name"] in deployments, f"HPA {name} scales an unknown Deployment"
            # the autoscaler owns the count: a count in the manifest would reset it on apply
            assert "replicas" not in deployments[target["name"]]["spec"], target["name"]
            layer = target["name"].removeprefix("chainflow-")
            if layer in SINGLE_REPLICA_LAYERS:  # until its hot path is partitioned
                assert spec["minReplicas"] == spec["maxReplicas"] == 1, name
            else:
                assert 2 <= spec["minReplicas"] < spec["maxReplicas"]
            if PARTITIONED_SERVICES & set(layer_deployments()[target["name"]]):
                partitions = int(
                    of_kind(manifests, "ConfigMap")["chainflow"]["data"]["CHAINFLOW_BUS_PARTITIONS"]
                )
                assert spec["maxReplicas"] <= partitions, f"{name}: pods without a partition"
            for metric in spec["metrics"]:
                body = metric[metric["type"].lower()]
                assert body["metric"]["name"] in served[metric["type"]], f"HPA {name}"

    def test_adapter_rules_read_a_counter_the_bridge_exports(self) -> None:
        registry = CollectorRegistry()
        registry.register(
            BackendStatsCollector(
                timeseries_stats=lambda: {},
                running_services=lambda: ("bridge",),
                backends=lambda: {},
                ingest_stats=lambda: {"ticks_stored": 3},
                ticks_by_tier=lambda: {"pro": 3},
            )
        )
        exported = {sample.name for family in registry.collect() for sample in family.samples}
        rules = load_yaml(ADAPTER_VALUES)["rules"]
        for rule in rules["custom"] + rules["external"]:
            metric = rule["seriesQuery"].split("{")[0]
            assert metric in exported, metric
            assert rule["name"]["matches"] == f"^{metric}$"
            assert "rate(<<.Series>>{<<.LabelMatchers>>}" in rule["metricsQuery"]
            assert "by (<<.GroupBy>>)" in rule["metricsQuery"]
        assert {o["resource"] for o in rules["custom"][0]["resources"]["overrides"].values()} == {
            "namespace",
            "pod",
        }
