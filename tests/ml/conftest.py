"""Fixtures shared by the ml tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``CHAINFLOW_HOME`` on the embedded defaults for CLI commands run in-process."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAINFLOW_HOME", str(tmp_path / "home"))
    for name in ("DATABASE_URL", "TIMESERIES_URL", "CACHE_URL", "BUS_URL", "ENV"):
        monkeypatch.delenv(f"CHAINFLOW_{name}", raising=False)
    return tmp_path / "home"
