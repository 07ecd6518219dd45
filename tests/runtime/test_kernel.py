from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from chainflow.core.errors import ConfigurationError
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from chainflow.runtime.services import SERVICE_NAMES, SERVICES, resolve_services
from tests.fixtures.settings import embedded_settings


class TestServiceTable:
    def test_has_the_twelve_services_in_layer_order(self) -> None:
        assert SERVICE_NAMES == (
            "gateway",
            "hub",
            "storage",
            "bridge",
            "features",
            "ml",
            "trading",
            "risk",
            "backtest",
            "users",
            "notify",
            "analytics",
        )
        assert [s.layer for s in SERVICES] == sorted(s.layer for s in SERVICES)

    def test_subset_is_returned_in_layer_order(self) -> None:
        names = [s.name for s in resolve_services("users, hub ,bridge")]
        assert names == ["hub", "bridge", "users"]

    def test_unknown_service_names_the_valid_ones(self) -> None:
        with pytest.raises(ConfigurationError, match="received unknown bogus"):
            resolve_services("hub,bogus")


class TestEmbeddedKernel:
    async def test_starts_ready_on_embedded_backends(self, tmp_path: Path) -> None:
        kernel = Kernel(embedded_settings(tmp_path))
        await kernel.start()
        try:
            reports = {r.name: r for r in await kernel.readiness()}
            assert set(reports) == {"database", "timeseries", "cache", "bus", "registry"}
            assert all(r.ok for r in reports.values()), reports
            assert reports["database"].backend == "sqlite"
            assert reports["timeseries"].backend == "duckdb"
            assert reports["cache"].backend == "memory"
            assert reports["bus"].backend == "memory"
            running = (
                "gateway",
                "hub",
                "storage",
                "bridge",
                "features",
                "ml",
                "trading",
                "risk",
                "backtest",
                "users",
                "notify",
                "analytics",
            )
            assert kernel.running_names == running
            instances = await kernel.infra.registry.discover("hub")
            assert [i.instance_id for i in instances] == [kernel.instance_id]
        finally:
            await kernel.stop()
        assert (tmp_path / "chainflow.db").exists()
        assert (tmp_path / "timeseries.duckdb").exists()

    async def test_app_serves_probes_and_hub_routes(self, tmp_path: Path) -> None:
        kernel = Kernel(embedded_settings(tmp_path))
        app = create_app(kernel)
        await kernel.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                assert (await client.get("/health")).status_code == 200
                ready = await client.get("/ready")
                assert ready.status_code == 200, ready.text
                assert set(ready.json()["checks"]) == {
                    "database",
                    "timeseries",
                    "cache",
                    "bus",
                    "registry",
                }
                services = (await client.get("/api/v1/hub/services")).json()["items"]
                assert services[0]["services"] == [
                    "gateway",
                    "hub",
                    "storage",
                    "bridge",
                    "features",
                    "ml",
                    "trading",
                    "risk",
                    "backtest",
                    "users",
                    "notify",
                    "analytics",
                ]
                health = (await client.get("/api/v1/hub/health")).json()
                assert health["status"] == "ok"
                assert health["services"]["hub"] == {"instances": 1, "ready": 1}
                metrics = (await client.get("/metrics")).text
                assert 'route="/api/v1/hub/services"' in metrics
                assert 'chainflow_service_running{service="hub"} 1.0' in metrics
                info = 'chainflow_backend_info{backend="duckdb",workload="timeseries"} 1.0'
                assert info in metrics
                assert "chainflow_timeseries_commits_total" in metrics
        finally:
            await kernel.stop()

    async def test_timeseries_commits_are_counted(self, tmp_path: Path) -> None:
        from chainflow.core.ids import TenantId
        from chainflow.core.market import Tick

        kernel = Kernel(embedded_settings(tmp_path))
        await kernel.start()
        try:
            ticks = [Tick("EURUSD", 1_700_000_000_000 + i, 1.1, 1.1001, 1.0) for i in range(25)]
            await kernel.infra.timeseries.append_ticks(TenantId("t1"), ticks)
            text = generate_latest(kernel.metrics_registry).decode()
            assert "chainflow_timeseries_rows_total 25.0" in text
            assert "chainflow_timeseries_commits_total 1.0" in text
        finally:
            await kernel.stop()

    async def test_restart_keeps_the_schema_and_data_dir(self, tmp_path: Path) -> None:
        for _ in range(2):
            kernel = Kernel(embedded_settings(tmp_path))
            await kernel.start()
            await kernel.stop()

    async def test_analytics_builds_without_trading(self, tmp_path: Path) -> None:
        kernel = Kernel(embedded_settings(tmp_path), services="hub,analytics").build()
        try:
            assert kernel.running_names == ("hub", "analytics")
            assert kernel.enabled_names == ("hub", "analytics")
        finally:
            await kernel.stop()

    async def test_bad_timeseries_url_is_configuration_error(self, tmp_path: Path) -> None:
        from chainflow.core.settings import TimeSeriesSettings

        settings = embedded_settings(
            tmp_path, timeseries=TimeSeriesSettings(url="influx://u:pw123@h:1/x")
        )
        kernel = Kernel(settings)
        with pytest.raises(ConfigurationError) as caught:
            kernel.build()
        assert "pw123" not in caught.value.message
        await kernel.stop()
