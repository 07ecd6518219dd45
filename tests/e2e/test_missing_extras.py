"""A URL or option that needs an extra the install lacks: one line naming it, exit code 1.

Each test runs the real ``chainflow`` command in a child process whose ``sitecustomize``
makes the driver unimportable (``tests.fixtures.missing_modules``), as on a base install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chainflow.core.market import Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from tests.fixtures.missing_modules import hiding_environment

PASSWORD = "s3cret-pw"
SECRET_KEY = "missing-extras-test-key-0123456789abcdef"  # no dev-key warning on stderr
COMMAND_LIMIT_S = 120.0  # a guard against a server that starts instead of refusing


def run_without(
    tmp_path: Path, hidden: list[str], env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m chainflow ARGS`` with ``hidden`` packages unimportable."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
    child_env.update(
        {
            "CHAINFLOW_HOME": str(tmp_path / "home"),
            "CHAINFLOW_SECRET_KEY": SECRET_KEY,
            "CHAINFLOW_LOG_LEVEL": "INFO",
            **hiding_environment(tmp_path / "hide", hidden),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "chainflow", *args],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=COMMAND_LIMIT_S,
        cwd=tmp_path,
    )


def assert_names_the_extra(
    result: subprocess.CompletedProcess[str], extra: str, *, progress_bar: bool = False
) -> None:
    """Exit code 1, no traceback, one error line naming the extra; nothing else on stderr
    but, where the command may draw one before opening the backends, its progress bar."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1, output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert f"install it with: pip install 'chainflow[{extra}]'" in errors[0], errors[0]
    assert len(lines) <= (2 if progress_bar else 1), result.stderr
    assert sum(f"chainflow[{extra}]" in line for line in lines) == 1
    assert PASSWORD not in output


SERVE_CASES = [
    (
        "asyncpg",
        "CHAINFLOW_DATABASE_URL",
        f"postgresql+asyncpg://cf:{PASSWORD}@127.0.0.1:1/cf",
        "postgres",
    ),
    ("redis", "CHAINFLOW_CACHE_URL", f"redis://:{PASSWORD}@127.0.0.1:1/0", "redis"),
    ("nats", "CHAINFLOW_BUS_URL", f"nats://cf:{PASSWORD}@127.0.0.1:1", "nats"),
    (
        "clickhouse_connect",
        "CHAINFLOW_TIMESERIES_URL",
        f"clickhouse://cf:{PASSWORD}@127.0.0.1:1/cf",
        "clickhouse",
    ),
    ("chdb", "CHAINFLOW_TIMESERIES_URL", "chdb://{tmp}/chdb", "chdb"),
    ("asyncpg", "CHAINFLOW_VECTOR_URL", f"postgresql://cf:{PASSWORD}@127.0.0.1:1/cf", "postgres"),
]


class TestServe:
    @pytest.mark.parametrize(
        ("hidden", "variable", "url", "extra"),
        SERVE_CASES,
        ids=[f"{case[1].removeprefix('CHAINFLOW_').lower()}-{case[3]}" for case in SERVE_CASES],
    )
    def test_a_url_whose_driver_is_missing_ends_serve_with_one_line(
        self, tmp_path: Path, hidden: str, variable: str, url: str, extra: str
    ) -> None:
        url = url.format(tmp=tmp_path)
        result = run_without(tmp_path, [hidden], {variable: url}, "serve", "--port", "0")
        assert_names_the_extra(result, extra)
        assert not (tmp_path / "home" / "chainflow.db").exists()  # refused before migrating


class TestOtherCommands:
    def test_db_upgrade_without_asyncpg(self, tmp_path: Path) -> None:
        url = f"postgresql+asyncpg://cf:{PASSWORD}@127.0.0.1:1/cf"
        result = run_without(
            tmp_path, ["asyncpg"], {"CHAINFLOW_DATABASE_URL": url}, "db", "upgrade"
        )
        assert_names_the_extra(result, "postgres")

    def test_config_show_without_nats(self, tmp_path: Path) -> None:
        env = {"CHAINFLOW_BUS_URL": f"nats://cf:{PASSWORD}@127.0.0.1:1"}
        result = run_without(tmp_path, ["nats"], env, "config", "show")
        assert_names_the_extra(result, "nats")

    def test_config_set_without_redis(self, tmp_path: Path) -> None:
        env = {"CHAINFLOW_CACHE_URL": f"redis://:{PASSWORD}@127.0.0.1:1/0"}
        result = run_without(tmp_path, ["redis"], env, "config", "set", "log.level", "INFO")
        assert_names_the_extra(result, "redis")

    def test_import_without_chdb(self, tmp_path: Path) -> None:
        bars = write_bars(tmp_path)
        env = {"CHAINFLOW_TIMESERIES_URL": f"chdb://{tmp_path}/chdb"}
        result = run_without(
            tmp_path,
            ["chdb"],
            env,
            "import",
            str(bars),
            "--symbol",
            "EURUSD",
            "--email",
            "a@example.com",
        )
        assert_names_the_extra(result, "chdb", progress_bar=True)

    def test_backtest_report_without_plotly_writes_nothing(self, tmp_path: Path) -> None:
        bars = write_bars(tmp_path)
        report = tmp_path / "report.html"
        result = run_without(
            tmp_path,
            ["plotly"],
            {},
            "backtest",
            "--data",
            str(bars),
            "--strategy",
            "sma_crossover",
            "--report",
            str(report),
        )
        assert_names_the_extra(result, "reports")
        assert not report.exists()
        assert result.stdout == ""  # refused before the backtest ran

    def test_bayes_optimization_without_optuna(self, tmp_path: Path) -> None:
        bars = write_bars(tmp_path)
        result = run_without(
            tmp_path,
            ["optuna"],
            {},
            "optimize",
            "--data",
            str(bars),
            "--strategy",
            "sma_crossover",
            "--grid",
            "fast=5,10",
            "--method",
            "bayes",
            "--trials",
            "3",
            "--workers",
            "1",
        )
        assert_names_the_extra(result, "optimize")

    def test_grid_search_needs_no_extra(self, tmp_path: Path) -> None:
        bars = write_bars(tmp_path)
        hidden = ["optuna", "plotly", "asyncpg", "redis", "nats", "clickhouse_connect", "chdb"]
        result = run_without(
            tmp_path,
            hidden,
            {},
            "optimize",
            "--data",
            str(bars),
            "--strategy",
            "sma_crossover",
            "--grid",
            "fast=5,10",
            "--workers",
            "1",
            "--json",
        )
        assert result.returncode == 0, result.stderr
        assert '"trials"' in result.stdout


def write_bars(tmp_path: Path) -> Path:
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=3),
        tmp_path,
        kinds=(SampleFileKind.MT5_BARS,),
        timeframe=Timeframe.M5,
    )
    return tmp_path / "EURUSD_M5.tsv"
