"""``deploy/compose.yml`` is a valid compose file (the compose specification's JSON schema,
vendored in ``schemas/``) whose ChainFlow services run every service once per layer with
replicas, set only real settings with valid values, reach the backends it starts, and whose
image entrypoint gives each replica its own registry URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from chainflow.core.settings import Settings
from chainflow.runtime.services import SERVICE_NAMES, SERVICES
from tests.deploy.deployfiles import (
    DEPLOY,
    PARTITIONED_SERVICES,
    SCHEMAS,
    SINGLE_REPLICA_LAYERS,
    assert_partitions_shared,
    compose_layers,
    interpolate,
    load_yaml,
    setting_names,
)

COMPOSE = DEPLOY / "compose.yml"
URL_SETTINGS = (
    "CHAINFLOW_DATABASE_URL",
    "CHAINFLOW_TIMESERIES_URL",
    "CHAINFLOW_CACHE_URL",
    "CHAINFLOW_BUS_URL",
    "CHAINFLOW_VECTOR_URL",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def waits_for(services: dict[str, Any], name: str) -> set[str]:
    """The services ``name`` starts after, directly or through its dependencies."""
    seen: set[str] = set()
    pending = [name]
    while pending:
        for dependency in services[pending.pop()].get("depends_on", []):
            if dependency not in seen:
                seen.add(dependency)
                pending.append(dependency)
    return seen


def chainflow_environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: interpolate(str(value)) for key, value in service["environment"].items()}


class TestSchema:
    def test_compose_file_has_the_compose_spec_schema(self, compose: dict[str, Any]) -> None:
        schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(compose), key=lambda e: e.path
        )
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]

    def test_the_schema_refuses_a_misspelt_key(self, compose: dict[str, Any]) -> None:
        schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
        broken = dict(compose, services={"edge": {"image": "x", "replica": 2}})
        assert not jsonschema.Draft202012Validator(schema).is_valid(broken)

    def test_every_variable_has_a_default_or_is_required_by_name(self) -> None:
        interpolated = interpolate(COMPOSE.read_text())
        assert "${" not in interpolated
        with pytest.raises(AssertionError, match="CHAINFLOW_SECRET_KEY"):
            interpolate(COMPOSE.read_text(), environment={})


class TestReferences:
    def test_dependencies_volumes_and_mounts_exist(self, compose: dict[str, Any]) -> None:
        services = compose["services"]
        for name, service in services.items():
            for dependency in service.get("depends_on", []):
                assert dependency in services, f"{name} depends on unknown {dependency}"
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("./"):
                    assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
                else:
                    assert source in compose["volumes"], f"{name}: undeclared volume {source}"
        build = services["migrate"]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()

    def test_layers_share_the_image_the_migration_builds(self, compose: dict[str, Any]) -> None:
        services = compose["services"]
        image = services["migrate"]["image"]
        for name in compose_layers():
            assert services[name]["image"] == image, name
            assert services[name]["pull_policy"] == "never", name
            assert services[name]["depends_on"]["migrate"] == {
                "condition": "service_completed_successfully"
            }

    def test_backend_urls_name_services_of_this_file(self, compose: dict[str, Any]) -> None:
        services = compose["services"]
        for name in compose_layers():
            environment = chainflow_environment(services[name])
            for setting in URL_SETTINGS:
                host = urlsplit(environment[setting]).hostname
                assert host in services, f"{name}: {setting} points at unknown host {host}"
                assert host in waits_for(services, name), f"{name} must wait for {host}"

    def test_database_role_is_the_one_the_init_script_creates(
        self, compose: dict[str, Any]
    ) -> None:
        url = urlsplit(chainflow_environment(compose["services"]["edge"])["CHAINFLOW_DATABASE_URL"])
        script = (DEPLOY / "postgres" / "init-chainflow.sh").read_text()
        (create_role,) = [line for line in script.splitlines() if "CREATE ROLE" in line]
        assert create_role.startswith(f"CREATE ROLE {url.username} LOGIN PASSWORD ")
        assert "SUPERUSER" not in create_role.upper() and "BYPASSRLS" not in create_role.upper()
        assert f"CREATE DATABASE {url.path.lstrip('/')} OWNER {url.username};" in script
        postgres = compose["services"]["postgres"]["environment"]
        assert postgres["POSTGRES_USER"] != url.username  # the superuser is another role


class TestLayers:
    def test_each_service_runs_in_exactly_one_layer(self) -> None:
        layers = compose_layers()
        served = [service for services in layers.values() for service in services]
        assert sorted(served) == sorted(SERVICE_NAMES)

    def test_each_layer_holds_the_services_of_one_design_layer(self) -> None:
        layer_of = {spec.name: spec.layer for spec in SERVICES}
        numbers = set()
        for name, services in compose_layers().items():
            layer = {layer_of[service] for service in services}
            assert len(layer) == 1, f"{name} mixes layers {sorted(layer)}"
            numbers |= layer
        assert numbers == {1, 2, 3, 4}

    def test_each_layer_has_replicas_and_a_readiness_healthcheck(
        self, compose: dict[str, Any]
    ) -> None:
        for name in compose_layers():
            service = compose["services"][name]
            replicas = service["deploy"]["replicas"]
            assert replicas == 1 if name in SINGLE_REPLICA_LAYERS else replicas >= 2, name
            assert "/ready" in " ".join(service["healthcheck"]["test"]), name
            assert f"chainflow-{name}" in service["networks"]["default"]["aliases"]
            assert "ports" not in service, f"{name}: reach the layers through Envoy only"


class TestSettings:
    def test_every_chainflow_variable_is_a_setting(self, compose: dict[str, Any]) -> None:
        known = setting_names()
        assert {"CHAINFLOW_DATABASE_URL", "CHAINFLOW_HTTP_PUBLIC_URL"} <= known
        for name in compose_layers():
            unknown = {
                key
                for key in compose["services"][name]["environment"]
                if key.startswith("CHAINFLOW_") and key not in known
            }
            assert not unknown, f"{name} sets unknown settings {sorted(unknown)}"

    def test_settings_build_from_each_layers_environment(
        self, compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in compose_layers():
            for key in [k for k in os.environ if k.startswith("CHAINFLOW_")]:
                monkeypatch.delenv(key)
            for key, value in chainflow_environment(compose["services"][name]).items():
                monkeypatch.setenv(key, value)
            settings = Settings(_env_file=None)  # type: ignore[call-arg]
            assert settings.env == "prod"
            assert settings.ml.artifacts_url == "database"
            assert settings.auth.trust_forwarded_for is True
            assert settings.cache.url.startswith("redis://")
            assert settings.bus.url.startswith("nats://")

    def test_partitioned_layers_share_one_partition_count_and_leases(
        self, compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        counts: set[str] = set()
        for name, served in compose_layers().items():
            service = compose["services"][name]
            environment = chainflow_environment(service)
            # Every process publishing or consuming keyed subjects agrees on the count.
            counts.add(environment.get("CHAINFLOW_BUS_PARTITIONS", "unset"))
            if not PARTITIONED_SERVICES & set(served):
                continue
            assert service["deploy"]["replicas"] >= 2, name
            for key in [k for k in os.environ if k.startswith("CHAINFLOW_")]:
                monkeypatch.delenv(key)
            for key, value in environment.items():
                monkeypatch.setenv(key, value)
            settings = Settings(_env_file=None)  # type: ignore[call-arg]
            assert_partitions_shared(settings, name)
            assert service["deploy"]["replicas"] <= settings.bus.partitions, name
        assert len(counts) == 1 and "unset" not in counts, counts


class TestEntrypoint:
    """The image's entrypoint, run with a stand-in ``chainflow`` that prints its input."""

    def run(self, tmp_path: Path, environment: dict[str, str]) -> list[str]:
        fake = tmp_path / "bin" / "chainflow"
        fake.parent.mkdir()
        fake.write_text('#!/bin/sh\necho "$CHAINFLOW_HTTP_PUBLIC_URL"\necho "$@"\n')
        fake.chmod(0o755)
        python_dir = str(Path(sys.executable).parent)  # the image has `python` on its PATH
        env = {"PATH": f"{fake.parent}:{python_dir}:/usr/bin:/bin", **environment}
        done = subprocess.run(
            ["sh", str(DEPLOY / "docker-entrypoint.sh"), "serve", "--services", "bridge"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    def test_derives_the_public_url_from_the_container_address(self, tmp_path: Path) -> None:
        url, args = self.run(tmp_path, {"CHAINFLOW_HTTP_PORT": "8123"})
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.port == 8123 and parts.hostname
        assert args == "serve --services bridge"

    def test_keeps_a_public_url_that_is_set(self, tmp_path: Path) -> None:
        url, _ = self.run(tmp_path, {"CHAINFLOW_HTTP_PUBLIC_URL": "http://10.0.0.7:8000"})
        assert url == "http://10.0.0.7:8000"

    def test_the_image_uses_it(self) -> None:
        dockerfile = (DEPLOY / "Dockerfile").read_text()
        assert "COPY deploy/docker-entrypoint.sh /usr/local/bin/chainflow-entrypoint" in dockerfile
        assert 'ENTRYPOINT ["chainflow-entrypoint"]' in dockerfile
