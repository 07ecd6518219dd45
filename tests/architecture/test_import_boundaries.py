"""The import contracts deny by default: a new module of a service is private from its first line.

Each test copies ``src/chainflow`` to a temporary directory, adds modules to the copy and
runs ``lint-imports`` with the project's own ``[tool.importlinter]`` config against it (the
copy comes first on ``PYTHONPATH``, so it is the copy that is analysed). The real source
tree is never written to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "pyproject.toml"


def _lint_imports_command() -> list[str]:
    # The console script beside this interpreter (.venv or CI's .ci/venv), else on PATH.
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is not installed (it is in the project's test extra)")
    return [found, "--config", str(CONFIG), "--no-cache"]


@pytest.fixture
def src_copy(tmp_path: Path) -> Path:
    """A copy of the ``chainflow`` package, without bytecode, in ``tmp_path / "src"``."""
    target = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "chainflow",
        target / "chainflow",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return target


def _add_module(src: Path, dotted: str, body: str) -> None:
    path = src.joinpath(*dotted.split(".")).with_suffix(".py")
    assert not path.exists(), f"{dotted} exists already: pick another name for the test"
    path.write_text(f'"""Added by the boundary test."""\n\n{body}\n')


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        _lint_imports_command(),
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_project_config_keeps_every_contract_on_an_unchanged_copy(src_copy: Path) -> None:
    result = _lint(src_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_new_module_imported_from_another_service_breaks_its_contract(
    src_copy: Path,
) -> None:
    # analytics sits above trading, so the layers allow the import: only privacy refuses it.
    _add_module(src_copy, "chainflow.trading.new_internal", "VALUE = 1")
    _add_module(
        src_copy, "chainflow.analytics.new_consumer", "from chainflow.trading import new_internal"
    )
    result = _lint(src_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "trading internals are private BROKEN" in result.stdout
    assert "chainflow.analytics.new_consumer -> chainflow.trading.new_internal" in result.stdout
    assert "1 broken" in result.stdout


def test_a_new_module_in_a_subpackage_is_private_too(src_copy: Path) -> None:
    importing = "from chainflow.analytics.bi import new_internal"
    _add_module(src_copy, "chainflow.analytics.bi.new_internal", "VALUE = 1")
    _add_module(src_copy, "chainflow.runtime.new_consumer", importing)
    _add_module(src_copy, "chainflow.users.new_consumer", importing)
    result = _lint(src_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "analytics internals are private BROKEN" in result.stdout
    # the runtime, the composition root, may import internals; a sibling service may not
    assert "chainflow.users.new_consumer -> chainflow.analytics.bi.new_internal" in result.stdout
    assert "chainflow.runtime.new_consumer" not in result.stdout


def test_importing_another_services_api_keeps_every_contract(src_copy: Path) -> None:
    _add_module(src_copy, "chainflow.trading.new_internal", "VALUE = 1")
    _add_module(
        src_copy,
        "chainflow.analytics.new_consumer",
        "from chainflow.trading import api\n\nSTRATEGY = api.Strategy",
    )
    result = _lint(src_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_service_may_import_the_demo(src_copy: Path) -> None:
    _add_module(
        src_copy, "chainflow.ml.new_sample_user", "from chainflow.demo import sample_market"
    )
    result = _lint(src_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Layers: cli > demo > runtime" in result.stdout
    assert "chainflow.ml.new_sample_user -> chainflow.demo.sample_market" in result.stdout


# --- only the runtime imports concrete services and routers (STYLE.md section 3) -----------

CONCRETE = "Only the runtime imports concrete services and routers"


def _append(src: Path, dotted: str, line: str) -> None:
    path = src.joinpath(*dotted.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}\n")


def test_an_api_that_re_exports_its_concrete_service_breaks_the_contract(src_copy: Path) -> None:
    # trading.api may import trading.service (same service), but every service that imports
    # trading.api would then reach the concrete service through it.
    _append(
        src_copy, "chainflow.trading.api", "from chainflow.trading.service import TradingService"
    )
    result = _lint(src_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{CONCRETE} BROKEN" in result.stdout
    assert "chainflow.notify is not allowed to import chainflow.trading.service" in result.stdout
    assert "chainflow.trading.api -> chainflow.trading.service" in result.stdout
    assert "1 broken" in result.stdout


def test_another_service_importing_a_router_module_breaks_the_contract(src_copy: Path) -> None:
    _add_module(
        src_copy,
        "chainflow.analytics.new_consumer",
        "from chainflow.trading.routes import build_trading_router",
    )
    result = _lint(src_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{CONCRETE} BROKEN" in result.stdout
    assert "chainflow.analytics.new_consumer -> chainflow.trading.routes" in result.stdout


def test_a_new_service_module_in_a_subpackage_is_covered(src_copy: Path) -> None:
    # the contract names ``chainflow.**.service``: a new sub-service is concrete from its
    # first line, and importing its package's api keeps it out of reach.
    (src_copy / "chainflow" / "risk" / "new_area").mkdir()
    _add_module(src_copy, "chainflow.risk.new_area.__init__", "")
    _add_module(src_copy, "chainflow.risk.new_area.service", "class NewService: ...")
    _append(
        src_copy, "chainflow.risk.api", "from chainflow.risk.new_area.service import NewService"
    )
    result = _lint(src_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{CONCRETE} BROKEN" in result.stdout
    assert "chainflow.trading is not allowed to import chainflow.risk.new_area.service" in (
        result.stdout
    )


def test_the_demo_may_not_import_a_concrete_service_itself(src_copy: Path) -> None:
    _add_module(
        src_copy,
        "chainflow.demo.new_consumer",
        "from chainflow.trading.service import TradingService",
    )
    result = _lint(src_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "The CLI and the demo import no concrete service or router themselves BROKEN" in (
        result.stdout
    )
    assert "chainflow.demo.new_consumer -> chainflow.trading.service" in result.stdout
