"""The fault tests' figures: ``tests/e2e/test_scaled_faults.py`` run once, its JSON kept.

Each fault test prints one JSON line of what it measured (acked ticks lost, stored twice,
duplicate signals, recovery of signals and acks, 5xx answers) before it asserts; this runs
the file with pytest (``-s``) in a child process and collects those lines, with the pytest
outcome. Rerunning the tests rather than re-implementing their faults keeps one definition
of each fault and of what is measured.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FAULT_TESTS = "tests/e2e/test_scaled_faults.py"


def run_fault_tests(root: Path) -> dict[str, Any]:
    """Run the fault tests from ``root`` (the repository); return their figures."""
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", FAULT_TESTS],
        cwd=root,
        capture_output=True,
        text=True,
    )
    figures = []
    for line in done.stdout.splitlines():
        start = line.find('{"fault"')
        if start >= 0:
            figures.append(json.loads(line[start:]))
    summary = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line]
    return {
        "source": f"pytest {FAULT_TESTS} (each test prints its figures, then asserts them)",
        "pytest_exit_code": done.returncode,
        "pytest_summary": summary[-1].strip() if summary else done.stdout[-500:],
        "wall_s": round(time.monotonic() - began, 1),
        "faults": figures,
    }
