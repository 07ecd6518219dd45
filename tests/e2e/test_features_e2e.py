"""Live features as a new user gets them: ticks over ``WS /ws/ticks``, vectors over REST.

A real ``chainflow serve`` process on embedded storage. The user registers, is moved to the
enterprise tier with the CLI (as README does: 2000 ticks/s instead of 20), makes an API key
and streams five hours of past EURUSD ticks, two per minute. The bridge closes M1 bars, the
features service turns each into a stored vector, and ``GET /api/v1/features/latest``
serves the newest. Then the server restarts on the same home, more ticks close more bars,
and the features service warm-starts from the stored bars instead of starting cold.
"""

import asyncio
import json
import math
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
from websockets.asyncio.client import connect

from chainflow.core.market import BarSeries
from chainflow.features.matrix import feature_matrix
from chainflow.features.sets import get_feature_set
from tests.fixtures.processes import running_server

PASSWORD = "Live-Features-2026!"
EMAIL = "quant@example.com"
MINUTE_MS = 60_000
FIRST_BUCKETS = 301  # 300 closed M1 bars, past the feature set's 234-bar warm-up; one open
MORE_BUCKETS = 30
BATCH = 1000  # ticks per WS message
FEATURE_COUNT = 33
LATE_WARMUP = ("macd_line_rel", "macd_signal_rel", "macd_hist_rel", "ret_20", "rv_cc_20")


def _set_tier(home: Path, tier: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
    env["CHAINFLOW_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-m", "chainflow", "users", "set-tier", EMAIL, tier],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"is now on the {tier} tier" in result.stdout


def _login(base: str) -> dict[str, str]:
    credentials = {"email": EMAIL, "password": PASSWORD}
    token = httpx.post(base + "/api/v1/auth/login", json=credentials).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _ticks(start_ms: int, buckets: range, first_seq: int) -> list[dict[str, Any]]:
    """Two ticks per minute bucket, a small random walk (no spikes), varying volume/spread."""
    rng = random.Random(buckets.start)
    price = 1.0850 + buckets.start * 1e-6
    ticks = []
    for bucket in buckets:
        for offset_ms in (5_000, 35_000):
            price += rng.gauss(0.0, 0.00008)
            bid = round(price, 5)
            ticks.append(
                {
                    "symbol": "EURUSD",
                    "ts": start_ms + bucket * MINUTE_MS + offset_ms,
                    "bid": bid,
                    "ask": round(bid + 0.0001 + rng.randrange(5) * 1e-5, 5),
                    "volume": 1.0 + rng.randrange(8) * 0.25,
                    "seq": first_seq + len(ticks),
                }
            )
    return ticks


def _stream(base: str, key: str, ticks: list[dict[str, Any]]) -> None:
    """Send ``ticks`` in batches; each batch must be acked without an error frame."""
    url = base.replace("http", "ws") + "/ws/ticks"

    async def session() -> None:
        async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            for start in range(0, len(ticks), BATCH):
                batch = ticks[start : start + BATCH]
                await ws.send(json.dumps({"type": "ticks", "items": batch}))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    assert frame["type"] != "error", frame
                    if frame["type"] == "ack" and frame["seq"] >= batch[-1]["seq"]:
                        break

    asyncio.run(session())


def _latest_when(base: str, headers: dict[str, str], ts: int) -> dict[str, Any]:
    """Poll the latest M1 vector of EURUSD until it is the one of bar ``ts``."""
    deadline = time.monotonic() + 15
    body: Any = None
    while time.monotonic() < deadline:
        answer = httpx.get(
            base + "/api/v1/features/latest",
            params={"symbol": "EURUSD", "timeframe": "M1"},
            headers=headers,
        )
        body = answer.json()
        if answer.status_code == 200 and body["ts"] >= ts:
            assert body["ts"] == ts, (body["ts"] - ts) // MINUTE_MS
            return body
        assert answer.status_code in (200, 404), answer.text
        time.sleep(0.1)
    raise AssertionError(f"expected the vector of bar {ts}; last answer {body}")


def _counter(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
    assert found is not None, f"{name} missing from /metrics"
    return float(found.group(1))


def _batch_vector(home: Path, end_ts: int) -> list[float]:
    """Return the batch feature row of M1 bar ``end_ts`` over every stored M1 bar up to it."""
    with duckdb.connect(str(home / "timeseries.duckdb"), read_only=True) as db:
        # A bar can have several rows (the open bar flushed at shutdown, then closed after
        # the restart): the latest row of each bar is the one with the most ticks.
        rows = db.execute(
            "SELECT ts, open, high, low, close, volume, spread_sum / tick_count FROM bars "
            "WHERE timeframe = 'M1' AND ts <= ? "
            "QUALIFY row_number() OVER (PARTITION BY ts ORDER BY tick_count DESC) = 1 "
            "ORDER BY ts",
            [end_ts],
        ).fetchall()
        with_vectors = db.execute(
            "SELECT count(DISTINCT ts) FROM features_fx_core_v1 WHERE timeframe = 'M1' AND ts <= ?",
            [end_ts],
        ).fetchone()
    columns = np.array(rows, dtype=float).T
    # Every closed bar got its vector, the bar open at the restart included.
    assert with_vectors is not None and with_vectors[0] == len(rows)
    ts, open_, high, low, close, volume, spread = columns
    matrix = feature_matrix(
        get_feature_set("fx-core@1"),
        BarSeries.from_arrays(
            ts=ts.astype(np.int64),
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
            spread=spread,
        ),
    )
    return matrix[-1].tolist()


def _assert_complete_vector(body: dict[str, Any]) -> None:
    assert body["symbol"] == "EURUSD" and body["timeframe"] == "M1"
    assert body["feature_set"] == "fx-core@1"
    features = body["features"]
    assert len(features) == FEATURE_COUNT
    assert all(v is not None and math.isfinite(v) for v in features.values()), features
    regime = body["regime"]
    assert regime is not None and regime["trend"] is not None
    assert math.isclose(sum(regime["trend_probabilities"].values()), 1.0, abs_tol=1e-9)
    volatility = list(regime["volatility_probabilities"].values())  # fitted on more bars
    assert volatility == [None] * 3 or math.isclose(sum(volatility), 1.0, abs_tol=1e-9)


class TestLiveFeatures:
    def test_ticks_give_latest_vectors_and_a_restart_warm_starts_from_stored_bars(
        self, tmp_path: Path
    ) -> None:
        home = tmp_path / "home"
        start_ms = (int(time.time() * 1000) - 6 * 3600_000) // MINUTE_MS * MINUTE_MS
        first = _ticks(start_ms, range(FIRST_BUCKETS), first_seq=1)
        more = _ticks(start_ms, range(FIRST_BUCKETS, FIRST_BUCKETS + MORE_BUCKETS), len(first) + 1)

        with running_server(home) as base:
            credentials = {"email": EMAIL, "password": PASSWORD}
            assert httpx.post(base + "/api/v1/auth/register", json=credentials).status_code == 201
            _set_tier(home, "enterprise")  # before the first login: nothing cached yet
            headers = _login(base)
            created = httpx.post(
                base + "/api/v1/api-keys",
                json={"name": "terminal", "scopes": ["ticks:write"]},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            key = created.json()["key"]
            params = {"symbol": "EURUSD", "timeframe": "M1"}
            none_yet = httpx.get(base + "/api/v1/features/latest", params=params, headers=headers)
            assert none_yet.status_code == 404
            assert none_yet.json()["error"]["code"] == "not_found"

            _stream(base, key, first)
            last_closed = start_ms + (FIRST_BUCKETS - 2) * MINUTE_MS  # the last bucket is open
            body = _latest_when(base, headers, last_closed)
            _assert_complete_vector(body)
            assert all(body["features"][name] is not None for name in LATE_WARMUP)
            metrics = httpx.get(base + "/metrics").text
            assert _counter(metrics, "chainflow_features_vectors_total") >= FIRST_BUCKETS - 1
            assert _counter(metrics, "chainflow_features_rejected_bars_total") == 0

        with running_server(home) as base:  # a restart: the service's state is gone
            headers = _login(base)
            _stream(base, key, more)
            advanced = start_ms + (FIRST_BUCKETS + MORE_BUCKETS - 2) * MINUTE_MS
            after = _latest_when(base, headers, advanced)
            _assert_complete_vector(after)
            assert after["features"] != body["features"]
            metrics = httpx.get(base + "/metrics").text
            assert _counter(metrics, "chainflow_features_rebuilds_total") >= 1
            # M1 alone replays the 300 closed bars and the open one flushed at shutdown.
            assert _counter(metrics, "chainflow_features_replayed_bars_total") >= FIRST_BUCKETS
        # The warm-started vector is the batch one over the stored bars, not an approximation.
        np.testing.assert_allclose(
            list(after["features"].values()), _batch_vector(home, advanced), rtol=1e-9, atol=1e-12
        )
