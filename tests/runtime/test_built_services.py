"""The runtime hands services their parts: builders record what they built, and no
wiring module reads another service off the kernel (issue 22 point 4)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chainflow.core.errors import ConfigurationError
from chainflow.core.settings import Settings
from chainflow.runtime.built import BuiltServices
from chainflow.runtime.kernel import Kernel

RUNTIME = Path(__file__).parents[2] / "src" / "chainflow" / "runtime"
SERVICE_PARTS = {
    "config",
    "users",
    "credential_resolver",
    "bridge",
    "features",
    "ml",
    "trading",
    "risk",
    "backtest",
    "notify",
}


class TestRecord:
    def test_a_part_is_recorded_once(self) -> None:
        built = BuiltServices()
        service = object()
        built.record("risk", {"risk": service})
        assert built.risk is service
        with pytest.raises(ConfigurationError, match="already handed over"):
            built.record("risk", {"risk": object()})

    def test_an_unknown_part_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="unknown part 'desk'"):
            BuiltServices().record("trading", {"desk": object()})


def test_the_kernel_shows_what_its_builders_handed_over(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, services="hub,storage,features,ml,trading,risk")
    kernel = Kernel(settings).build()
    assert kernel.features is not None and kernel.built.features is kernel.features
    assert kernel.trading is not None and kernel.ml is not None
    # risk reads the accounts of the trading service built in this process
    assert kernel.risk is not None
    assert kernel.users is None and kernel.notify is None  # not built here


def _kernel_service_reads(path: Path) -> list[str]:
    """Return ``kernel.<service>`` reads and writes in ``path`` as ``line: text``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in SERVICE_PARTS
            and isinstance(node.value, ast.Name)
            and node.value.id == "kernel"
        ):
            found.append(f"{path.name}:{node.lineno}: kernel.{node.attr}")
    return found


def test_no_wiring_module_reads_a_service_off_the_kernel() -> None:
    offenders = [
        hit
        for path in sorted(RUNTIME.glob("*.py"))
        if path.name not in {"kernel.py", "server.py", "operator_tasks.py"}
        for hit in _kernel_service_reads(path)
    ]
    assert offenders == []
