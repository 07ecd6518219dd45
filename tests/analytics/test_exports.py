"""``GET /api/v1/analytics/exports/{dataset}`` on the embedded kernel: CSV and Parquet of
trades, signals, bars and predictions, tenant-scoped, with 400s in the error shape."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import duckdb
import httpx

from chainflow.analytics.api import ClosedTrade
from chainflow.analytics.repository import trade_row
from chainflow.analytics.tables import TRADES_TABLE
from chainflow.bridge.bar_table import BAR_TABLE
from chainflow.core.ids import TenantId
from chainflow.core.tenancy import TenantContext
from chainflow.ml.live.prediction_table import PREDICTIONS_TABLE
from chainflow.runtime.kernel import Kernel
from chainflow.trading.api import SignalIssued
from chainflow.trading.repository import SignalRepository
from tests.analytics.test_routes import second_user
from tests.fixtures.api_client import logged_in_client

MINUTE_MS = 60_000


def recent(kernel: Kernel) -> int:
    """A minute boundary an hour ago (inside every tier's retention)."""
    now = kernel.clock.now_ms()
    return now - now % MINUTE_MS - 60 * MINUTE_MS


async def seed_trades(kernel: Kernel, tenant_id: str, start: int) -> None:
    store = kernel.infra.timeseries
    await store.ensure_table(TRADES_TABLE)
    eurusd = ClosedTrade(
        seq=0,
        symbol="EURUSD",
        side="buy",
        lots=1.0,
        entry_ts=start,
        exit_ts=start + 1_234,
        entry_price=1.1,
        exit_price=1.10123456,
        pnl=123.456,
        model="gbm@1",
        regime="range",
        reasons=("breakout #",),
    )
    usdjpy = ClosedTrade(
        seq=1,
        symbol="USDJPY",
        side="sell",
        lots=0.5,
        entry_ts=start + MINUTE_MS,
        exit_ts=start + 2 * MINUTE_MS,
        entry_price=150.1,
        exit_price=150.0123,
        pnl=-10.0,
        model="gbm@1",
        regime="",
        reasons=(),
    )
    trades = [eurusd, usdjpy]
    await store.append(TRADES_TABLE.name, [trade_row(tenant_id, t) for t in trades])


def bar(tenant_id: str, ts: int, close: float) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "symbol": "EURUSD",
        "ts": ts,
        "timeframe": "M1",
        "open": 1.1,
        "high": close + 0.0001,
        "low": 1.09,
        "close": close,
        "volume": 3.0,
        "tick_count": 3,
        "spread_min": 0.0001,
        "spread_max": 0.0002,
        "spread_sum": 0.0004,
        "first_tick_ts": ts,
        "last_tick_ts": ts + 59_000,
    }


def prediction(tenant_id: str, ts: int) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "symbol": "EURUSD",
        "ts": ts,
        "timeframe": "M1",
        "model": "gbm@1",
        "p_down": 0.2,
        "p_flat": 0.3,
        "p_up": 0.5,
        "volatility": 0.001,
        "momentum": 0.1,
        "horizon": 5,
        "threshold_atr": 0.5,
        "close": 1.0999951,
        "atr": 0.0003,
        "anomaly": 0,
        "latency_ms": 1.5,
    }


def rows_of(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


class TestTradesExport:
    async def test_csv_has_header_iso_utc_times_and_symbol_digits(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, kernel, tenant_id):
            start = recent(kernel)
            await seed_trades(kernel, tenant_id, start)

            answer = await http.get("/api/v1/analytics/exports/trades?format=csv")

            assert answer.text.splitlines()[0] == (
                "exit_time,entry_time,seq,symbol,side,lots,entry_price,exit_price,pnl,model,"
                "regime,reasons,exit_reason"
            )
            eurusd, usdjpy = rows_of(answer)
            assert eurusd["exit_time"].endswith(".234Z") and eurusd["exit_time"][10] == "T"
            assert eurusd["exit_price"] == "1.10123" and eurusd["entry_price"] == "1.10000"
            assert eurusd["pnl"] == "123.46" and eurusd["reasons"] == "breakout #"
            assert usdjpy["exit_price"] == "150.012" and usdjpy["pnl"] == "-10.00"
            assert "attachment; filename=" in answer.headers["content-disposition"]

    async def test_symbol_and_range_filter_the_rows(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, kernel, tenant_id):
            start = recent(kernel)
            await seed_trades(kernel, tenant_id, start)

            jpy = rows_of(await http.get("/api/v1/analytics/exports/trades?symbol=usdjpy"))
            assert [r["symbol"] for r in jpy] == ["USDJPY"]
            first = rows_of(
                await http.get(f"/api/v1/analytics/exports/trades?from={start}&to={start + 2000}")
            )
            assert [r["seq"] for r in first] == ["0"]

    async def test_parquet_holds_the_same_rows_with_utc_timestamps(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, kernel, tenant_id):
            start = recent(kernel)
            await seed_trades(kernel, tenant_id, start)

            answer = await http.get("/api/v1/analytics/exports/trades?format=parquet")

            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/vnd.apache.parquet"
            assert answer.content[:4] == b"PAR1" and answer.content[-4:] == b"PAR1"
            path = tmp_path / "trades.parquet"
            path.write_bytes(answer.content)
            connection = duckdb.connect()
            rows = connection.execute(
                f"SELECT epoch_ms(exit_time), symbol, pnl FROM read_parquet('{path}') ORDER BY seq"
            ).fetchall()
            assert rows == [
                (start + 1_234, "EURUSD", 123.456),
                (start + 2 * MINUTE_MS, "USDJPY", -10.0),
            ]
            kind = connection.execute(
                f"SELECT typeof(exit_time) FROM read_parquet('{path}') LIMIT 1"
            ).fetchone()
            assert kind == ("TIMESTAMP WITH TIME ZONE",)


class TestOtherDatasets:
    async def test_bars_predictions_and_signals_export(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, kernel, tenant_id):
            start = recent(kernel)
            store = kernel.infra.timeseries
            await store.ensure_table(BAR_TABLE)
            await store.ensure_table(PREDICTIONS_TABLE)
            await store.append(
                "bars", [bar(tenant_id, start + i * MINUTE_MS, 1.1 + i / 1e5) for i in range(3)]
            )
            await store.append("predictions", [prediction(tenant_id, start)])
            tenant = TenantContext(tenant_id=TenantId(tenant_id))
            async with kernel.infra.database.unit_of_work(tenant) as uow:
                repository = SignalRepository(uow.session, tenant)
                for i, action in enumerate(("buy", "hold")):
                    issued = SignalIssued(
                        symbol="EURUSD",
                        ts=start + i * MINUTE_MS,
                        action=action,
                        confidence=0.7,
                        size=0.1,
                        stop_loss=1.0951234 if action == "buy" else None,
                        take_profit=None,
                        model="gbm@1",
                        reasons=["edge 0.12", "trend"],
                    )
                    await repository.record(issued, "M1")

            bars = rows_of(
                await http.get("/api/v1/analytics/exports/bars?symbol=EURUSD&timeframe=M1")
            )
            assert [b["close"] for b in bars] == ["1.10000", "1.10001", "1.10002"]
            predictions = rows_of(
                await http.get("/api/v1/analytics/exports/predictions?symbol=EURUSD")
            )
            assert predictions[0]["close"] == "1.10000" and predictions[0]["p_up"] == "0.5"
            signals = rows_of(await http.get("/api/v1/analytics/exports/signals"))
            assert [s["action"] for s in signals] == ["buy", "hold"]
            assert signals[0]["stop_loss"] == "1.09512" and signals[1]["stop_loss"] == ""
            assert signals[0]["reasons"] == "edge 0.12; trend"


class TestExportErrors:
    async def test_unknown_dataset_format_and_missing_symbol_are_400(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant):
            cases = {
                "orders": "export_dataset_unknown",
                "trades?format=xlsx": "export_format_unknown",
                "bars": "export_symbol_required",
                "trades?from=2024-02-01&to=2024-01-01": "export_range_invalid",
                "trades?from=soon": "export_range_invalid",
            }
            for path, code in cases.items():
                answer = await http.get(f"/api/v1/analytics/exports/{path}")
                assert answer.status_code == 400, path
                assert answer.json()["error"]["code"] == code, path
                assert answer.json()["error"]["message"]

    async def test_anonymous_callers_are_refused(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant):
            del http.headers["Authorization"]
            assert (await http.get("/api/v1/analytics/exports/trades")).status_code == 401


class TestExportTenantIsolation:
    async def test_another_tenant_exports_only_its_header(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, kernel, tenant_id):
            await seed_trades(kernel, tenant_id, recent(kernel))
            other = await second_user(http)

            answer = await http.get("/api/v1/analytics/exports/trades", headers=other)

            assert answer.status_code == 200 and rows_of(answer) == []
            assert len(rows_of(await http.get("/api/v1/analytics/exports/trades"))) == 2
