"""CPU and wall time of ``chainflow`` commands that only start up and print.

Runs each command ``--runs`` times in a fresh ``python -m chainflow`` process (no
``CHAINFLOW_*`` variables, in an empty temporary directory) and prints one JSON document:
per command the median and minimum CPU seconds (user + system of the child, from
``wait4``) and wall seconds. CPU time is the figure to compare: wall time on a busy machine
is mostly waiting for a core.

    python benchmarks/cli_startup.py --runs 7

The goal of issue 15 is under 0.5 s of CPU for ``--help`` and ``version``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "version": ["version"],
    "backtest --help": ["backtest", "--help"],
    "train --help": ["train", "--help"],
}


def measure(args: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """Return (CPU seconds, wall seconds) of one ``python -m chainflow ARGS``."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "chainflow", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"chainflow {' '.join(args)} exited with {process.returncode}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command")
    options = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as cwd:
        measure(["version"], cwd, env)  # warm the bytecode cache and the page cache
        for name, args in COMMANDS.items():
            samples = [measure(args, cwd, env) for _ in range(options.runs)]
            cpu = [s[0] for s in samples]
            wall = [s[1] for s in samples]
            results[name] = {
                "cpu_s_median": round(statistics.median(cpu), 3),
                "cpu_s_min": round(min(cpu), 3),
                "wall_s_median": round(statistics.median(wall), 3),
                "wall_s_min": round(min(wall), 3),
            }
    print(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "runs": options.runs,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_1m": round(os.getloadavg()[0], 2),
                "commands": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
