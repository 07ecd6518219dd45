"""One scaled deployment for the benchmark: its processes and its tenants.

The deployment is ``tests.fixtures.scaled``'s (a fresh PostgreSQL database for the
relational and time-series stores, a Redis key prefix, a NATS stream and subject prefix,
all deleted afterwards); its processes are ``tests.fixtures.processes``' ``chainflow
serve`` children (heartbeat 0.5 s, instance and lease TTL 5 s), started four at a time.
Each tenant registers through the front process, gets a ``ticks:write`` API key and is
moved to the enterprise tier (2,000 ticks/s each) so that no quota throttles the offered
rate.

With a model (the default), the deployment keeps model artifacts in the database
(``CHAINFLOW_ML_ARTIFACTS_URL=database``: every process reads the same bytes),
``fx-default`` is promoted once the processes run, and the tenants' symbols get two
days of stored M1/M5 history once the tenants exist (``scale_load.seed``); the terminals
then stream the live part of that sample market.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.fixtures.scaled import run_cli, scaled_environment, start_processes, terminal_key

from scale_load.seed import seed_history, seed_model

PASSWORD = "Scale-Bench-Terminal-2026!"
SETTLE_S = 3.0  # after the last replica registered: its partitions settle (a few heartbeats)

# name -> the ``--services`` of each process, as tests/e2e/test_scaled_ticks.py runs them;
# the first process also serves registration.
TOPOLOGIES: dict[str, tuple[str, ...]] = {
    "1_process": ("all",),
    "3_processes": (
        "gateway,hub,storage,users,notify,analytics",
        "bridge,features,ml",
        "trading,risk,backtest",
    ),
    "2_replicas": (
        "gateway,hub,storage,users",
        "bridge,features,ml",
        "bridge,features,ml",
        "trading",
        "trading",
    ),
}


@dataclass(frozen=True, slots=True)
class Tenant:
    email: str
    api_key: str


@dataclass(frozen=True, slots=True)
class Seeded:
    """The promoted model and the stored history of a deployment."""

    model: str
    model_s: float
    history_bars_per_key: int
    history_s: float
    paths: dict[str, list[list[float]]]

    def figures(self) -> dict[str, object]:
        return {
            "model": self.model,
            "model_promote_s": self.model_s,
            "history_bars_per_key": self.history_bars_per_key,
            "history_store_s": self.history_s,
        }


@dataclass(frozen=True, slots=True)
class Deployed:
    """A running topology: its processes' URLs and pids, the bridges, the tenants."""

    name: str
    layout: tuple[str, ...]
    bases: tuple[str, ...]
    pids: tuple[int, ...]
    bridges: tuple[str, ...]
    tenants: tuple[Tenant, ...]
    startup_s: float
    seeding: Seeded | None = None

    @property
    def paths(self) -> dict[str, list[list[float]]] | None:
        """The live price paths that follow the stored history (``None``: no history)."""
        return self.seeding.paths if self.seeding is not None else None

    def ticks_url(self, index: int) -> str:
        """The ``WS /ws/ticks`` URL of tenant ``index``, round robin over the bridges."""
        bridge = self.bridges[index % len(self.bridges)]
        return bridge.replace("http", "ws") + f"/ws/ticks?api_key={self.tenants[index].api_key}"


def runs_bridge(services: str) -> bool:
    return services == "all" or "bridge" in services.split(",")


def runs(services: str, service: str) -> bool:
    return services == "all" or service in services.split(",")


@contextmanager
def deployed(
    name: str,
    tmp: Path,
    tenants: int,
    symbols: tuple[str, ...],
    history_minutes: float | None,
) -> Iterator[Deployed]:
    """Start topology ``name`` on a fresh deployment with ``tenants`` enterprise tenants;
    with ``history_minutes`` (the live market after the history), promote the model and
    store every tenant's history of ``symbols`` (``None``: no model, no history)."""
    layout = TOPOLOGIES[name]
    with scaled_environment(f"bench{name[0]}") as env, ExitStack() as stack:
        began = time.monotonic()
        if history_minutes is not None:
            env["CHAINFLOW_ML_ARTIFACTS_URL"] = "database"
        run_cli(env, "db", "upgrade")
        started = start_processes(stack, tmp, env, layout)
        bases = tuple(base for base, _ in started)
        for service in ("trading", "features", "ml"):
            wait_for_instances(bases[0], service, sum(runs(s, service) for s in layout))
        # after the start, as an operator promotes: the processes start as fast as without
        # a model (each has 60 s to answer /health on shared cores) and pick it up on their
        # next refresh round (CHAINFLOW_ML_REFRESH_S)
        model = seed_model(env, tmp / "seed") if history_minutes is not None else None
        time.sleep(SETTLE_S)
        emails = [f"scale{i}@example.com" for i in range(tenants)]
        made = [Tenant(email, terminal_key(bases[0], email, PASSWORD)) for email in emails]
        with ThreadPoolExecutor(4) as pool:
            moves = [
                pool.submit(run_cli, env, "users", "set-tier", email, "enterprise")
                for email in emails
            ]
            for move in moves:
                move.result()
        seeding = None
        if model is not None and history_minutes is not None:
            history = seed_history(env, tmp / "seed", emails, symbols, history_minutes)
            seeding = Seeded(
                model[0], model[1], history.bars_per_key, history.seconds, history.paths
            )
        yield Deployed(
            name=name,
            layout=layout,
            bases=bases,
            pids=tuple(process.pid for _, process in started),
            bridges=tuple(b for b, s in zip(bases, layout, strict=True) if runs_bridge(s)),
            tenants=tuple(made),
            startup_s=round(time.monotonic() - began, 1),
            seeding=seeding,
        )


def wait_for_instances(base: str, service: str, count: int, timeout_s: float = 60.0) -> None:
    """Wait until the hub's registry lists ``count`` live instances running ``service``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = httpx.get(base + "/api/v1/hub/services", timeout=10).json()["items"]
        if sum(service in item["services"] for item in items) >= count:
            return
        time.sleep(0.3)
    raise SystemExit(f"expected {count} live {service} instances at {base} in {timeout_s} s")
