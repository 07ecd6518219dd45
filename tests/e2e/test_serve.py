"""``chainflow serve`` as a user runs it: a real process, real HTTP."""

from pathlib import Path

import httpx

from tests.fixtures.processes import running_server


class TestServeEmbedded:
    def test_health_ready_metrics_with_nothing_else_running(self, tmp_path: Path) -> None:
        with running_server(tmp_path / "home") as base:
            assert httpx.get(base + "/health").status_code == 200
            ready = httpx.get(base + "/ready")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert {c["backend"] for c in checks.values()} >= {"sqlite", "duckdb", "memory"}
            metrics = httpx.get(base + "/metrics")
            assert metrics.status_code == 200
            assert "# TYPE chainflow_http_requests_total counter" in metrics.text
            assert httpx.get(base + "/openapi.json").json()["info"]["title"] == "ChainFlow"
        assert (tmp_path / "home" / "chainflow.db").exists()
