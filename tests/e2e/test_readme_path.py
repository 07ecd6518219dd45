"""The README's three-terminal path, run end to end as a newcomer runs it after the install.

Terminal 1 is ``chainflow serve --port $PORT`` (the server fixture: a real child process on
a temporary home). Terminal 2 is this test: the ``chainflow`` commands below run as written
(``python -m chainflow``, ``CHAINFLOW_HOME`` set to the server's home, cwd a fresh
directory), the ``curl`` steps as the same HTTP calls with httpx. Import and training run
while the server owns the home, so they go through it (``server.json`` + the local token).

Nothing is staged behind the user's back: the served model is the one ``chainflow train
... --name fx-default --promote --force --reason ...`` registers from the imported sample
bars (two days of bars cannot show a model beats its baselines, so the promotion gate needs
the override, and the report says so), the tenant keeps
the default (moderate) risk tolerance, and the replay uses the default ``on_change``
signals. On the sample market that model leaves ``hold`` (buy and sell both occur), so no
rule model or aggressive setting is needed.

The commands are the ones docs/quickstart.md shows: a test checks each appears there.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from string import Template
from typing import Any

import httpx

from chainflow.runtime.server_file import server_file_path
from tests.fixtures.processes import server_process

log = logging.getLogger(__name__)
QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
EMAIL = "me@example.com"
PASSWORD = "Choose-A-Long-One-42"
MODEL = "fx-default"  # CHAINFLOW_ML_MODEL's default: the name the server serves
BARS = 576  # two weekdays of M5 bars

SAMPLE = (
    "chainflow sample-data --symbols EURUSD --days 2 --timeframe M5 --start 2026-11-30 --out sample"
)
SET_TIER = f"chainflow users set-tier {EMAIL} enterprise"
IMPORT = f"chainflow import sample/EURUSD_M5.tsv --symbol EURUSD --timeframe M5 --email {EMAIL}"
TRAIN = (
    f"chainflow train --email {EMAIL} --symbol EURUSD --timeframe M5 --folds 3 "
    f'--name {MODEL} --promote --force --reason "quickstart: two days of sample bars"'
)
REPLAY = (
    "chainflow replay sample/EURUSD_ticks.tsv --url ws://127.0.0.1:$PORT/ws/ticks "
    "--api-key $KEY --speed max"
)
COMMANDS = (SAMPLE, SET_TIER, IMPORT, TRAIN, REPLAY)
SUMMARY = re.compile(
    r"sent (\d+), acked (\d+), rejected (\S+), signals (\d+) \(([^)]*)\), reconnects (\d+)"
)


def run(command: str, home: Path, cwd: Path, **values: str) -> str:
    """Run one terminal-2 line as written (``$PORT``/``$KEY`` filled in); return its output."""
    argv = shlex.split(Template(command).substitute(values))
    assert argv[0] == "chainflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
    env.update({"CHAINFLOW_HOME": str(home), "COLUMNS": "200"})
    result = subprocess.run(
        [sys.executable, "-m", "chainflow", *argv[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{argv[:2]} exited {result.returncode}:\n{output}"
    assert "Traceback" not in output
    return output


@contextmanager
def meanwhile(command: str, home: Path, cwd: Path) -> Iterator[Future[str]]:
    """Run one terminal-2 line in the background; the future holds its output."""
    with ThreadPoolExecutor(max_workers=1) as terminal:
        yield terminal.submit(run, command, home, cwd)


def body(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, f"{answer.request.url}: {answer.text}"
    return answer.json()


def account(base: str) -> tuple[dict[str, str], str]:
    """Register, log in and create a ``ticks:write`` key: the path's three curl calls."""
    credentials = {"email": EMAIL, "password": PASSWORD}
    body(httpx.post(base + "/api/v1/auth/register", json=credentials), 201)
    token = body(httpx.post(base + "/api/v1/auth/login", json=credentials))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    key = body(
        httpx.post(
            base + "/api/v1/api-keys",
            json={"name": "terminal", "scopes": ["ticks:write"]},
            headers=headers,
        ),
        201,
    )["key"]
    return headers, str(key)


def wait_for_production(base: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Return ``/ready``'s model block once it names the promoted version."""
    deadline = time.monotonic() + timeout_s
    while True:
        models: dict[str, Any] = httpx.get(base + "/ready", timeout=10).json()["models"]
        if models.get("production") == f"{MODEL}@1" or time.monotonic() > deadline:
            return models
        time.sleep(0.5)


@contextmanager
def step(timings: dict[str, float], name: str) -> Iterator[None]:
    """Time one step of the path (logged at the end)."""
    began = time.monotonic()
    try:
        yield
    finally:
        timings[name] = time.monotonic() - began


def tick_count(path: Path) -> int:
    with path.open() as lines:
        return sum(1 for _ in lines) - 1  # the header


def test_quickstart_shows_the_commands_this_test_runs() -> None:
    text = QUICKSTART.read_text()
    missing = [command for command in COMMANDS if command not in text]
    assert not missing, f"expected docs/quickstart.md to show {missing}"
    assert "chainflow serve --port $PORT" in text


def test_three_terminal_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    terminal = tmp_path / "terminal-2"
    terminal.mkdir()
    timings: dict[str, float] = {}
    began = time.monotonic()
    # Terminal 2's first command writes files only, so it runs while terminal 1 starts.
    with meanwhile(SAMPLE, home, terminal) as sampling, server_process(home) as (base, server):
        timings["serve (until /health)"] = time.monotonic() - began
        port = base.rsplit(":", 1)[1]
        with step(timings, "sample-data (rest after /health)"):
            sampled = sampling.result()
        assert "EURUSD_ticks.tsv" in sampled
        ticks = tick_count(terminal / "sample" / "EURUSD_ticks.tsv")
        assert ticks > 50_000

        with step(timings, "register, login, API key"):
            headers, key = account(base)
        with step(timings, "users set-tier"):
            tier = run(SET_TIER, home, terminal)
        assert f"home: {home.resolve()} (through the server at {base})" in tier

        assert server_file_path(home).exists()  # the server owns the home: the CLI goes through it
        with step(timings, "import"):
            imported = run(IMPORT, home, terminal)
        assert f"{BARS} rows read, {BARS} stored" in imported
        with step(timings, "train --promote"):
            trained = run(TRAIN, home, terminal)
        assert f"registered {MODEL}@1 (production" in trained
        assert "verdict: " in trained
        assert server.poll() is None
        with step(timings, "until /ready serves the model"):
            models = wait_for_production(base)
        assert models == {"name": MODEL, "production": f"{MODEL}@1", "timeframe": "M5"}

        with step(timings, "replay --speed max"):
            replayed = run(REPLAY, home, terminal, PORT=port, KEY=key)
        summary = SUMMARY.search(replayed)
        assert summary is not None, replayed
        sent, acked, rejected, signals, actions, _ = summary.groups()
        assert (int(sent), int(acked), rejected) == (ticks, ticks, "none"), summary.group(0)
        counts = {a: int(n) for a, n in (part.split() for part in actions.split(", "))}
        assert counts.get("buy", 0) + counts.get("sell", 0) > 0, summary.group(0)
        assert sum(counts.values()) == int(signals)

        with step(timings, "read bars, signals, aliases"):
            read_back(base, headers, ticks)
    timings["total"] = time.monotonic() - began
    log.warning(  # the figures of this run, shown with -o log_cli=true
        "%s; %s", summary.group(0), ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    )


def read_back(base: str, headers: dict[str, str], ticks: int) -> None:
    """Read the bars and signals back, then replace and list the broker symbol aliases."""
    bars = body(
        httpx.get(
            base + "/api/v1/market/bars",
            params={"symbol": "EURUSD", "timeframe": "M5", "limit": 5000},
            headers=headers,
        )
    )["items"]
    assert sum(bar["tick_count"] for bar in bars) == ticks  # every replayed tick is stored
    assert BARS <= len(bars) <= BARS + 1  # two days of M5 bars, shifted to end now

    stored = body(
        httpx.get(
            base + "/api/v1/signals", params={"symbol": "EURUSD", "limit": 500}, headers=headers
        )
    )["items"]
    assert stored and {signal["model"] for signal in stored} == {f"{MODEL}@1"}
    assert {signal["action"] for signal in stored} - {"hold"}, stored[:3]

    aliases = {"aliases": {"EURUSD.m": "EURUSD"}}
    replaced = httpx.put(base + "/api/v1/market/aliases", json=aliases, headers=headers)
    folded = {"aliases": {"EURUSD.M": "EURUSD"}}  # broker names compare case-insensitively
    assert body(replaced) == folded
    assert body(httpx.get(base + "/api/v1/market/aliases", headers=headers)) == folded
