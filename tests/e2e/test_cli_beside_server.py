"""The CLI beside ``chainflow serve``: the same commands work with the server up and down.

Real processes: a server on a temporary home, and ``python -m chainflow ...`` run from
another directory against the same home. While the server runs it holds the embedded
time-series store, so the CLI goes through it (``server.json`` + the local admin API).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chainflow.core.market import Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from chainflow.runtime.server_file import (
    read_server_file,
    server_file_path,
    write_server_file,
)
from tests.fixtures.processes import free_port, server_process

EMAIL = "beside@example.com"
PASSWORD = "Correct-Horse-77"
BARS = 1728  # 6 trading days of M5 bars in 8 calendar days
STORED_BARS = ("--symbol", "EURUSD", "--email", EMAIL, "--timeframe", "M5")


@pytest.fixture(scope="module")
def bar_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bars")
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=8),
        out,
        kinds=(SampleFileKind.MT5_BARS,),
        timeframe=Timeframe.M5,
    )
    return out / "EURUSD_M5.tsv"


def cli(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m chainflow ARGS`` in ``cwd`` on ``home`` (another terminal)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
    env.update({"CHAINFLOW_HOME": str(home), "COLUMNS": "200", "CHAINFLOW_LOG_LEVEL": "WARNING"})
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "chainflow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def import_bars(home: Path, cwd: Path, bar_file: Path) -> str:
    """Import ``bar_file`` as the user's EURUSD M5 bars; return the command's output."""
    return ok(cli(home, cwd, "import", str(bar_file), *STORED_BARS))


def backtest_and_train(home: Path, cwd: Path) -> None:
    """Backtest and train on the user's imported bars; check each command's JSON answer."""
    strategy = ("--strategy", "sma_crossover", "--json")
    backtest = json.loads(ok(cli(home, cwd, "backtest", *STORED_BARS, *strategy)))
    assert backtest["bars"] == BARS
    model = ("--model", "lightgbm", "--folds", "2", "--json")
    trained = json.loads(ok(cli(home, cwd, "train", *STORED_BARS, *model)))
    assert trained["model"] == "fx-lightgbm@1"


def register(base: str) -> dict[str, str]:
    answer = httpx.post(base + "/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    login = httpx.post(base + "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def local_bars(home: Path) -> list[dict[str, object]]:
    file = read_server_file(home)
    assert file is not None
    answer = httpx.get(
        file.url + "/api/v1/local/bars",
        params={"email": EMAIL, "symbol": "EURUSD", "timeframe": "M5", "count": 5000},
        headers={"Authorization": f"Bearer {file.token}"},
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("served") / "home"
    with server_process(home) as (base, _process):
        yield base, home


class TestServerFile:
    def test_written_owner_only_answering_with_its_token_and_removed_at_stop(
        self, tmp_path: Path
    ) -> None:
        home = tmp_path / "home"
        with server_process(home) as (base, process):
            path = server_file_path(home)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            file = read_server_file(home)
            assert file is not None and file.url == base and file.pid == process.pid
            ping = httpx.get(
                base + "/api/v1/local/ping", headers={"Authorization": f"Bearer {file.token}"}
            )
            assert ping.status_code == 200 and ping.json()["home"] == str(home.resolve())
            wrong = httpx.get(
                base + "/api/v1/local/ping", headers={"Authorization": "Bearer guessed"}
            )
            assert wrong.status_code == 401
            relayed = httpx.get(
                base + "/api/v1/local/ping",
                headers={"Authorization": f"Bearer {file.token}", "X-Forwarded-For": "10.1.2.3"},
            )
            assert relayed.status_code == 403
            assert "/api/v1/local/ping" not in httpx.get(base + "/openapi.json").text
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        assert not path.exists()
        assert file.token not in (tmp_path / f"serve-{base.rsplit(':', 1)[1]}.log").read_text()


class TestCommandsWhileServing:
    """Before the fix each of these failed with DuckDB's lock error."""

    def test_set_tier_import_backtest_train_go_through_the_server(
        self, served: tuple[str, Path], bar_file: Path, tmp_path: Path
    ) -> None:
        base, home = served
        headers = register(base)
        elsewhere = tmp_path / "another-terminal"

        tier = ok(cli(home, elsewhere, "users", "set-tier", EMAIL, "pro"))
        assert f"home: {home.resolve()} (through the server at {base})" in tier
        me = httpx.get(base + "/api/v1/users/me", headers=headers).json()
        assert me["tier"] == "pro"  # the server's cached principal was invalidated
        assert not (elsewhere / ".chainflow").exists()

        imported = import_bars(home, elsewhere, bar_file)
        assert f"{BARS} rows read, {BARS} stored" in imported
        assert len(local_bars(home)) == BARS  # the server's own store holds them

        backtest_and_train(home, elsewhere)
        models = httpx.get(base + "/api/v1/models", headers=headers)
        assert models.status_code == 200, models.text
        assert "fx-lightgbm" in models.text

    def test_unknown_email_names_the_home(self, served: tuple[str, Path], tmp_path: Path) -> None:
        _base, home = served
        result = cli(home, tmp_path, "users", "set-tier", "nobody@example.com", "pro")
        assert result.returncode == 1
        assert f"no account for nobody@example.com in home {home.resolve()}" in result.stderr
        missing = cli(
            home,
            tmp_path,
            "import",
            str(tmp_path / "none.csv"),
            "--symbol",
            "EURUSD",
            "--email",
            EMAIL,
        )
        assert missing.returncode == 1 and "Traceback" not in missing.stderr


class TestCommandsWithoutServer:
    def test_the_same_commands_work_on_the_home_directly(
        self, bar_file: Path, tmp_path: Path
    ) -> None:
        home = tmp_path / "home"
        with server_process(home) as (base, _process):
            register(base)
        assert not server_file_path(home).exists()
        elsewhere = tmp_path / "elsewhere"

        tier = ok(cli(home, elsewhere, "users", "set-tier", EMAIL, "pro"))
        assert f"home: {home.resolve()}\n" in tier
        imported = import_bars(home, elsewhere, bar_file)
        assert f"{BARS} rows read, {BARS} stored" in imported
        backtest_and_train(home, elsewhere)

    def test_stale_server_files_are_ignored(self, bar_file: Path, tmp_path: Path) -> None:
        home = tmp_path / "home"
        with server_process(home) as (base, _process):
            register(base)
        elsewhere = tmp_path / "elsewhere"
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        write_server_file(home, url=f"http://127.0.0.1:{free_port()}", token="stale")
        stale = json.loads(server_file_path(home).read_text())
        server_file_path(home).write_text(json.dumps({**stale, "pid": int(dead.stdout)}))
        ok(cli(home, elsewhere, "users", "set-tier", EMAIL, "pro"))  # dead pid

        # a live pid (this test's) whose URL answers nothing
        write_server_file(home, url=f"http://127.0.0.1:{free_port()}", token="stale")
        imported = import_bars(home, elsewhere, bar_file)
        assert f"{BARS} stored" in imported

    def test_lookup_in_an_empty_directory_creates_no_home(self, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
        result = subprocess.run(
            [sys.executable, "-m", "chainflow", "users", "set-tier", EMAIL, "pro"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1
        home = (tmp_path / ".chainflow").resolve()
        assert f"home: {home}" in result.stdout
        assert f"no account for {EMAIL} in home {home}" in result.stderr
        assert not home.exists()
