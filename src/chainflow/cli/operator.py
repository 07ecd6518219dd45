"""Where a command's stored data comes from: the server that owns the home, else the store.

An embedded server holds its home's time-series store exclusively. So the commands that
need the store (``import``, ``train --email``, ``backtest``/``optimize``/``walkforward
--email``) and those whose change the server must see at once (``users set-tier``,
``set-limits``, ``grant-superadmin``: it caches principals and limits) go through the
server's local admin API when one owns the home, and run on a tool-mode kernel otherwise.
Either way the same ``runtime.operator_tasks`` do the work.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainflow.cli.kernels import load_settings, with_store
from chainflow.cli.output import run
from chainflow.core.clock import WallClock

if TYPE_CHECKING:
    from chainflow.bridge.api import StoredBars
    from chainflow.bridge.importers import ImportJob, ImportReport, ProgressCallback
    from chainflow.cli.local_server import LocalServer
    from chainflow.core.market import Timeframe
    from chainflow.core.settings import Settings

KERNEL_SERVICES = "hub,storage,users"
BARS_PER_REQUEST = 100_000


def home_of(settings: Settings) -> Path:
    """Return the absolute home the settings name."""
    return settings.home.resolve()


def owning_server(settings: Settings | None = None) -> LocalServer | None:
    """Return the live server that owns the configured home, or None."""
    from chainflow.cli.local_server import find_server

    return find_server(home_of(settings or load_settings()))


def run_import(job: ImportJob, progress: ProgressCallback) -> ImportReport:
    """Import ``job`` through the owning server, or on a tool-mode kernel's store."""
    from chainflow.bridge.importers import report_from_json
    from chainflow.runtime import operator_tasks

    server = owning_server()
    if server is not None:
        return report_from_json(server.post("/import", job.to_json()))

    async def action(kernel: Any) -> ImportReport:
        return await operator_tasks.import_for_email(kernel, job, progress)

    return run(lambda: with_store(KERNEL_SERVICES, action))


def read_stored_bars(
    email: str,
    symbol: str,
    timeframe: Timeframe,
    *,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
) -> StoredBars:
    """Read a tenant's stored bars (a ``StoredBarReader``): through the owning server when
    one runs, else from the store."""
    from chainflow.bridge.api import StoredBars

    count = limit
    if start_ms is not None:
        until = end_ms if end_ms is not None else WallClock().now_ms() + 1
        count = min(limit, max(1, math.ceil((until - start_ms) / timeframe.milliseconds) + 1))
    server = owning_server()
    if server is not None:
        tenant_id, bars = _bars_from_server(server, email, symbol, timeframe, end_ms, count)
    else:
        tenant_id, bars = _bars_from_store(email, symbol, timeframe, end_ms, count)
    low = start_ms if start_ms is not None else -math.inf
    high = end_ms if end_ms is not None else math.inf
    return StoredBars(tenant_id, [b for b in bars if low <= b.ts < high])


def _bars_from_store(
    email: str, symbol: str, timeframe: Timeframe, end_ms: int | None, count: int
) -> StoredBars:
    from chainflow.runtime import operator_tasks

    async def action(kernel: Any) -> StoredBars:
        return await operator_tasks.stored_bars_for_email(
            kernel, email, symbol, timeframe, end_ms=end_ms, count=count
        )

    return run(lambda: with_store(KERNEL_SERVICES, action))


def _bars_from_server(
    server: LocalServer,
    email: str,
    symbol: str,
    timeframe: Timeframe,
    end_ms: int | None,
    count: int,
) -> StoredBars:
    from chainflow.bridge.api import AggregatedBar, StoredBars

    bars: list[AggregatedBar] = []
    tenant_id = ""
    until = end_ms
    while len(bars) < count:
        wanted = min(BARS_PER_REQUEST, count - len(bars))
        params: dict[str, Any] = {
            "email": email,
            "symbol": symbol,
            "timeframe": timeframe.value,
            "count": wanted,
        }
        if until is not None:
            params["end"] = until
        page = server.get("/bars", params)
        tenant_id = str(page["tenant_id"])
        items = [
            AggregatedBar(symbol=symbol, timeframe=timeframe, **item) for item in page["items"]
        ]
        bars = items + bars
        if len(items) < wanted:
            break
        until = items[0].ts
    return StoredBars(tenant_id, bars)


def users_target() -> tuple[LocalServer | None, Path, Settings]:
    """Return the server that owns the configured home (or None), the home and settings."""
    from chainflow.cli.local_server import find_server

    settings = load_settings()
    home = home_of(settings)
    return find_server(home), home, settings
