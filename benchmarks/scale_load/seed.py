"""What a deployment needs so that every tick is scored: the model, and stored history.

As ``chainflow.demo.server`` does for the tick→signal benchmark (``ensure_model``,
``store_history``), on the scaled deployment's backends:

- ``model``: the platform model ``fx-default`` (``ml.api.ensure_default_model``: trained on
  the sample market in a few seconds and promoted), its artifact in the relational database
  (``CHAINFLOW_ML_ARTIFACTS_URL=database``, so that every ``chainflow serve`` process reads
  the same bytes);
- ``history``: the sample market's two days of M1 and M5 bars of the benchmark's symbols
  (``demo.market.build_demo_market``, shifted to end before now), stored for every tenant
  named by e-mail, so that the features are warm; the live part of the market becomes the
  price paths the terminals stream (the first live prices follow the stored bars).

Each runs in a child process (this file as a script, on a tool-mode kernel of the
deployment's ``CHAINFLOW_*`` variables, as the CLI's commands run): the generator's process
loads neither LightGBM nor the services. The child prints one JSON line last.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOOL_SERVICES = "hub,storage,users"  # tenant_for_email needs users


@dataclass(frozen=True, slots=True)
class History:
    """What ``history`` stored: bars per key, and the live price paths (bid, ask, volume)."""

    bars_per_key: int
    paths: dict[str, list[list[float]]]
    seconds: float


def seed_model(env: dict[str, str], home: Path) -> tuple[str, float]:
    """Promote ``fx-default`` in the deployment of ``env``; return its ref and the seconds."""
    done = _run_child(env, home, "model")
    return str(done["model"]), float(done["seconds"])


def seed_history(
    env: dict[str, str], home: Path, emails: list[str], symbols: tuple[str, ...], minutes: float
) -> History:
    """Store the sample history of ``symbols`` for each tenant of ``emails``."""
    spec = home / "history.json"
    home.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"emails": emails, "symbols": list(symbols), "minutes": minutes}))
    done = _run_child(env, home, "history", str(spec))
    paths = json.loads(Path(done["paths_file"]).read_text())
    return History(int(done["bars_per_key"]), paths, float(done["seconds"]))


def _run_child(env: dict[str, str], home: Path, *args: str) -> dict[str, Any]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
    child_env.update(env)
    child_env.update(
        {
            "CHAINFLOW_HOME": str(home),
            "CHAINFLOW_LOG_LEVEL": "WARNING",
            "OMP_WAIT_POLICY": "PASSIVE",
        }
    )
    home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        env=child_env,
        capture_output=True,
        text=True,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SystemExit(f"seed {args[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- the child ------------------------------------------------------------------------------


async def _model() -> dict[str, Any]:
    import time

    from chainflow.cli.kernels import with_kernel
    from chainflow.demo.model_bars import default_model_bars
    from chainflow.ml.api import ensure_default_model, model_registry

    async def action(kernel: Any) -> dict[str, Any]:
        began = time.perf_counter()
        database = kernel.infra.database
        registry = model_registry(kernel.settings, database, kernel.clock)
        version = await ensure_default_model(database, registry, default_model_bars)
        return {"model": version.ref, "seconds": round(time.perf_counter() - began, 1)}

    result: dict[str, Any] = await with_kernel(TOOL_SERVICES, action)
    return result


async def _history(spec_file: Path) -> dict[str, Any]:
    import time

    from chainflow.bridge.api import persist_bars
    from chainflow.cli.kernels import with_store
    from chainflow.demo.market import build_demo_market
    from chainflow.runtime.operator_tasks import tenant_for_email

    spec = json.loads(spec_file.read_text())
    symbols: list[str] = spec["symbols"]

    async def action(kernel: Any) -> dict[str, Any]:
        began = time.perf_counter()
        market = await asyncio.to_thread(
            build_demo_market, symbols, now_ms=kernel.clock.now_ms(), minutes=spec["minutes"]
        )
        for email in spec["emails"]:
            tenant_id = await tenant_for_email(kernel, email)
            await persist_bars(kernel.infra.timeseries, tenant_id, market.bars)
        paths: dict[str, list[list[float]]] = {name: [] for name in symbols}
        for tick in market.ticks:
            paths[tick.symbol].append([tick.bid, tick.ask, tick.volume])
        paths_file = spec_file.with_name("paths.json")
        paths_file.write_text(json.dumps(paths))
        return {
            "bars_per_key": len(market.bars) // len(symbols),
            "paths_file": str(paths_file),
            "seconds": round(time.perf_counter() - began, 1),
        }

    result: dict[str, Any] = await with_store(TOOL_SERVICES, action)
    return result


def _child(argv: list[str]) -> None:
    from chainflow.core.logging import configure_logging

    configure_logging("WARNING", "console")
    if argv[0] == "model":
        result = asyncio.run(_model())
    elif argv[0] == "history":
        result = asyncio.run(_history(Path(argv[1])))
    else:
        raise SystemExit(f"expected 'model' or 'history SPEC'; received {argv}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1:])
