"""The operations files in ``deploy/`` hold together: the alert rules have Prometheus's rule
schema (``promtool check rules`` when it is installed), every metric and label an alert or a
dashboard panel queries is one the code registers, every expression reads as PromQL, and
the compose file provisions Prometheus and Grafana with these files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from chainflow.runtime.metrics import BackendStatsCollector
from tests.deploy.promql import BUILTIN_METRICS, read
from tests.fixtures.settings import embedded_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
TARGET_LABELS = {"instance", "job", "process"}  # added by the scrape, not by the code
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created", ""),
}
DURATION = re.compile(r"^\d+(ms|s|m|h|d|w|y)$")
RULE_KEYS = {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
SEVERITIES = {"critical", "warning", "info"}

Labels = dict[str, set[str] | None]  # metric -> label names (None: no sample to read them)


def add_families(registry: Any, labels: Labels) -> None:
    for family in registry.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            labels.setdefault(family.name + suffix, None)
        for sample in family.samples:
            known = labels.get(sample.name) or set()
            labels[sample.name] = known | set(sample.labels)


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Labels:
    """Every metric the code registers, with the labels of its samples."""
    import asyncio

    async def collect() -> Labels:
        kernel = Kernel(embedded_settings(tmp_path_factory.mktemp("metrics")))
        app = create_app(kernel)
        await kernel.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                for path in ("/health", "/ready", "/metrics"):
                    await http.get(path)
            labels: Labels = {}
            add_families(kernel.metrics_registry, labels)
            assert kernel.notify is not None
            await kernel.notify.worker.refresh_depth()
            add_families(kernel.metrics_registry, labels)
        finally:
            await kernel.stop()
        # the ingest counters (and ticks per tier) appear once a tick arrived: read them
        # from the same collector
        ingest = {"ticks_stored": 1, "rejected_stale": 1, "messages": 1, "rate_limited": 0}
        registry = CollectorRegistry()
        registry.register(
            BackendStatsCollector(
                timeseries_stats=lambda: {},
                running_services=lambda: ("bridge",),
                backends=lambda: {"timeseries": "duckdb"},
                ingest_stats=lambda: ingest,
                ticks_by_tier=lambda: {"pro": 1},
            )
        )
        add_families(registry, labels)
        return labels

    return asyncio.run(collect())


def alert_rules() -> Iterator[dict[str, Any]]:
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        yield from group["rules"]


def panel_exprs() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                yield f"{path.name}: {panel['title']}", target["expr"]


def every_expr() -> list[tuple[str, str]]:
    rules = [(f"alert {rule['alert']}", str(rule["expr"])) for rule in alert_rules()]
    return rules + list(panel_exprs())


def check_known(where: str, expr: str, registered: Labels) -> None:
    selectors, grouping = read(expr)
    assert selectors, f"{where}: no metric in {expr!r}"
    allowed = set(TARGET_LABELS) | {"le"}
    for selector in selectors:
        if selector.metric in BUILTIN_METRICS:
            continue
        assert selector.metric in registered, f"{where}: {selector.metric} is not registered"
        labels = registered[selector.metric]
        if labels is not None:
            unknown = set(selector.labels) - labels - TARGET_LABELS
            assert not unknown, f"{where}: {selector.metric} has no label {sorted(unknown)}"
            allowed |= labels
        else:
            allowed = allowed | set(grouping)  # no sample to read the labels from
    unknown_grouping = set(grouping) - allowed
    assert not unknown_grouping, f"{where}: grouping by unknown {sorted(unknown_grouping)}"


class TestAlertRules:
    def test_rules_have_the_prometheus_rule_schema(self) -> None:
        document = yaml.safe_load(ALERTS.read_text())
        assert set(document) == {"groups"} and document["groups"]
        names: set[str] = set()
        for group in document["groups"]:
            assert set(group) <= {"name", "rules", "interval"} and group["rules"], group
            assert isinstance(group["name"], str) and group["name"]
            for rule in group["rules"]:
                assert set(rule) <= RULE_KEYS and {"alert", "expr"} <= set(rule), rule
                assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"]), rule["alert"]
                assert rule["alert"] not in names, f"duplicate alert {rule['alert']}"
                names.add(rule["alert"])
                assert isinstance(rule["expr"], str) and rule["expr"].strip()
                assert DURATION.match(str(rule.get("for", "0s"))), rule.get("for")
                assert rule["labels"]["severity"] in SEVERITIES, rule["labels"]
                assert all(isinstance(v, str) for v in rule["labels"].values())
                annotations = rule["annotations"]
                assert {"summary", "description"} <= set(annotations), annotations
                assert all(isinstance(v, str) and v for v in annotations.values())

    def test_every_alert_reads_registered_metrics(self, registered: Labels) -> None:
        for rule in alert_rules():
            check_known(f"alert {rule['alert']}", str(rule["expr"]), registered)

    @pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
    def test_promtool_accepts_the_rules(self) -> None:
        checked = subprocess.run(
            ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


class TestDashboards:
    def test_panels_query_registered_metrics(self, registered: Labels) -> None:
        exprs = list(panel_exprs())
        assert len(exprs) >= 10
        for where, expr in exprs:
            check_known(where, expr, registered)

    def test_dashboards_use_the_provisioned_datasource(self) -> None:
        datasources = yaml.safe_load(
            (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
        )["datasources"]
        uids = {source["uid"] for source in datasources}
        assert DASHBOARDS
        seen_uids: set[str] = set()
        for path in DASHBOARDS:
            dashboard = json.loads(path.read_text())
            assert dashboard["uid"] not in seen_uids and dashboard["title"]
            seen_uids.add(dashboard["uid"])
            ids = [panel["id"] for panel in dashboard["panels"]]
            assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
            for panel in dashboard["panels"]:
                assert panel["datasource"]["uid"] in uids, panel["title"]
                assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
                for target in panel["targets"]:
                    assert target["datasource"]["uid"] in uids, panel["title"]


class TestExpressions:
    def test_the_reader_refuses_broken_promql(self) -> None:
        for broken in ("sum(rate(x[5m])", "rat(x[5m])", "x{a=b}", "sum(x))"):
            with pytest.raises(ValueError):
                read(broken)

    def test_every_expression_is_balanced_and_known(self, registered: Labels) -> None:
        for where, expr in every_expr():
            check_known(where, expr, registered)


class TestCompose:
    def test_compose_provisions_prometheus_and_grafana_from_deploy(self) -> None:
        compose = yaml.safe_load((DEPLOY / "compose.yml").read_text())
        services = compose["services"]
        mounts = [m.split(":")[0] for m in services["prometheus"]["volumes"]]
        mounts += [m.split(":")[0] for m in services["grafana"]["volumes"]]
        for mount in mounts:
            if mount.startswith("./"):
                assert (DEPLOY / mount).exists(), mount
        assert "./prometheus/alerts.yml" in mounts and "./grafana/dashboards" in mounts
        prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
        assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
        (job,) = prometheus["scrape_configs"]
        (discovery,) = job["dns_sd_configs"]
        assert discovery["type"] == "A" and discovery["port"] == 8000
        # every replica of every ChainFlow layer, found by its compose service's name
        serving = {name for name, svc in services.items() if svc.get("command", [""])[0] == "serve"}
        assert set(discovery["names"]) == serving and len(serving) == 4
        relabel = {"source_labels": ["__meta_dns_name"], "target_label": "process"}
        assert relabel in job["relabel_configs"]
