"""Model cards (issue 23.7): a small real model trained on the sample market, registered,
then its card over HTTP on the whole embedded kernel (JSON and HTML), from the CLI, and its
live part from stored prediction scores."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from chainflow.backtest.oos_signals import backtest_signal_window
from chainflow.bridge.api import read_bar_file
from chainflow.cli import app
from chainflow.core.auth import TIER_LIMITS, Tier
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.core.tenancy import TenantContext
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from chainflow.ml.api import ModelRegistration
from chainflow.ml.cards.model_card import epoch_ms, live_since_promotion
from chainflow.ml.live.prediction_table import SCORES_TABLE
from chainflow.ml.registry.model_registry import ModelRegistry, local_model_registry
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.oos_backtest import attach_backtest
from chainflow.ml.training.run import TrainingConfig, TrainingResult, train_on_dataset
from chainflow.ml.training.steps import registration_for, training_bars, training_dataset
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings
from tests.ml.test_registry_routes import log_in, sign_up

PLATFORM = "fx-card"
CUSTOM = "alice-card"
REASON = "<script>alert(1)</script> synthetic market, for the card test"
QUICK = TrainingConfig(
    family="lightgbm", n_folds=3, seed=7, threads=1, resamples=300, calibrate="temperature"
)
LABEL = LabelSpec(kind="triple_barrier", horizon=8, threshold_atr=0.25)
WIDE = {"COLUMNS": "220"}


@dataclass(frozen=True)
class Trained:
    result: TrainingResult
    registration: ModelRegistration

    def named(self, name: str) -> ModelRegistration:
        return dataclasses.replace(self.registration, name=name)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    out = tmp_path_factory.mktemp("sample")
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=7, seed=7),
        out,
        kinds=(SampleFileKind.MT5_BARS,),
        timeframe=Timeframe.M5,
    )
    bars = training_bars(read_bar_file(out / "EURUSD_M5.tsv", "EURUSD", timeframe=Timeframe.M5))
    dataset = training_dataset(bars, LABEL, QUICK, symbol="EURUSD", timeframe=Timeframe.M5)
    result = train_on_dataset(dataset, QUICK)
    attach_backtest(result, bars, backtest_signal_window)
    registration = registration_for(result, dataset, name=PLATFORM, source={"kind": "file"})
    return Trained(result, registration)


@dataclass
class World:
    http: httpx.AsyncClient
    kernel: Kernel
    registry: ModelRegistry
    tokens: dict[str, str]
    tenants: dict[str, str]

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    async def card(
        self, who: str, path: str, output: str | None = None, **extra: str
    ) -> httpx.Response:
        params = {} if output is None else {"format": output}
        headers = self.headers(who, **extra)
        return await self.http.get(f"/api/v1/models/{path}/card", params=params, headers=headers)


@pytest.fixture
async def world(tmp_path: Path, trained: Trained) -> AsyncIterator[World]:
    kernel = Kernel(embedded_settings(tmp_path / "home"))
    http_app = create_app(kernel)
    await kernel.start()
    try:
        transport = httpx.ASGITransport(app=http_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            people = {"alice": "alice@example.com", "bob": "bob@example.com"}
            tenants = {who: (await sign_up(http, email))[0] for who, email in people.items()}
            users, database = kernel.users, kernel.infra.database
            assert users is not None
            async with database.unit_of_work(system=True) as uow:
                await users.admin.change_tier(uow, None, tenants["alice"], "enterprise")
            registry = local_model_registry(kernel.settings.home, kernel.clock)
            onnx = trained.result.onnx
            async with database.unit_of_work(system=True) as uow:
                await registry.register(uow, trained.named(PLATFORM), onnx)
                await registry.promote(uow, PLATFORM, 1, force=True, reason=REASON, by="ops <team>")
            alice = TenantContext(tenant_id=TenantId(tenants["alice"]))
            async with database.unit_of_work(alice) as uow:
                limits = TIER_LIMITS[Tier.ENTERPRISE]
                await registry.register(
                    uow, trained.named(CUSTOM), onnx, owner=alice, limits=limits
                )
            tokens = {who: await log_in(http, email) for who, email in people.items()}
            yield World(http, kernel, registry, tokens, tenants)
    finally:
        await kernel.stop()


class TestCardJson:
    async def test_card_carries_the_training_record(self, world: World, trained: Trained) -> None:
        response = await world.card("bob", f"{PLATFORM}/1")

        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["vary"] == "Accept"
        card, result = response.json(), trained.result
        assert card["ref"] == f"{PLATFORM}@1"
        assert (card["owner"], card["family"]) == ("platform", "lightgbm")
        data = card["data"]
        assert (data["symbols"], data["timeframe"]) == (["EURUSD"], "M5")
        assert (data["from_ts"], data["to_ts"]) == (
            trained.registration.train_from_ts,
            trained.registration.train_to_ts,
        )
        assert data["rows"] == result.dataset["rows"] and data["source"] == {"kind": "file"}
        assert card["label"]["kind"] == "triple_barrier" and card["label"]["horizon"] == 8
        features = card["features"]
        assert features["fingerprint"] == trained.registration.feature_set_fingerprint
        assert features["count"] == len(features["names"]) == result.dataset["features"]
        assert [row["name"] for row in card["scores"]] == [
            "lightgbm",
            "baseline: majority",
            "baseline: previous_direction",
        ]
        assert card["scores"][0]["metrics"]["log_loss"] == pytest.approx(result.oos["log_loss"])

    async def test_verdict_calibration_importance_backtest(
        self, world: World, trained: Trained
    ) -> None:
        card = (await world.card("bob", f"{PLATFORM}/1")).json()
        result = trained.result

        verdict = card["verdict"]
        assert verdict["status"] == ("passed" if result.verdict["passed"] else "failed")
        assert verdict["sentence"] == result.verdict["sentence"]
        direction = [c for c in verdict["comparisons"] if c["target"] == "direction"]
        stored = result.verdict["targets"]["direction"]["comparisons"]
        assert [c["baseline"] for c in direction] == ["majority", "previous_direction"]
        for shown, kept in zip(direction, stored, strict=True):
            assert (shown["low"], shown["high"]) == pytest.approx((kept["low"], kept["high"]))
            assert shown["low"] <= shown["improvement"] <= shown["high"]
        assert {c["target"] for c in verdict["comparisons"]} == {
            "direction",
            "volatility",
            "momentum",
        }
        calibration = card["calibration"]
        assert calibration["method"] == "temperature"
        assert calibration["ece"] == pytest.approx(result.calibration["ece"])
        assert sum(b["rows"] for b in calibration["bins"]) == result.evaluation["oos_rows"]
        importance = card["importance"]
        assert importance["permutation"][0]["feature"] == result.importance["top"][0]
        assert len(importance["permutation"]) == 10 and importance["tree_shap"]
        backtest = card["backtest"]
        assert backtest["resolution"] == "bar" and backtest["skipped"] is None
        assert backtest["equity"] == result.backtest["equity"]
        assert len(result.backtest["windows"]) < len(backtest["equity"]) <= 250
        assert backtest["equity"][0]["ts"] == result.backtest["windows"][0]["from_ts"]
        final = 1.0 + result.backtest["return"]
        assert backtest["equity"][-1]["equity"] == pytest.approx(final, rel=1e-9, abs=1e-12)

    async def test_promotion_names_who_forced_it_and_why(self, world: World) -> None:
        card = (await world.card("bob", f"{PLATFORM}/1")).json()
        custom = (await world.card("alice", f"{CUSTOM}/1")).json()

        promotion = card["promotion"]
        assert promotion["stage"] == "production" and promotion["forced"] is True
        assert (promotion["forced_by"], promotion["reason"]) == ("ops <team>", REASON)
        assert "forced past the gate by ops <team>" in promotion["decision"]
        assert promotion["promoted_at"] is not None
        assert custom["promotion"]["stage"] == "candidate"
        assert custom["promotion"]["forced"] is False and custom["owner"] == "tenant"
        assert custom["promotion"]["decision"].startswith("a candidate")
        assert custom["live"]["available"] is False  # never promoted or not wired: no live part


class TestCardHtml:
    async def test_html_page_has_the_charts_and_escapes_names(self, world: World) -> None:
        by_query = await world.card("bob", f"{PLATFORM}/1", "html")
        by_accept = await world.card("bob", f"{PLATFORM}/1", Accept="text/html,*/*;q=0.8")

        for response in (by_query, by_accept):
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "text/html; charset=utf-8"
        page = by_query.text
        assert page == by_accept.text
        assert page.count("<svg") == 3
        for chart in ("Reliability diagram", "Top features", "Equity curve"):
            assert f'aria-label="{chart}' in page
        assert page.count("<circle") >= 1 and page.count("<polyline") == 2
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "ops &lt;team&gt;" in page
        assert "<script" not in page and "style=" not in page and "http" not in page

    async def test_its_policy_allows_exactly_its_stylesheet(self, world: World) -> None:
        response = await world.card("bob", f"{PLATFORM}/1", "html")

        policy = response.headers["content-security-policy"]
        [stylesheet] = re.findall(r"<style>(.*?)</style>", response.text, flags=re.S)
        digest = base64.b64encode(hashlib.sha256(stylesheet.encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src" not in policy and "unsafe-inline" not in policy

    async def test_format_json_wins_over_accept(self, world: World) -> None:
        response = await world.card("bob", f"{PLATFORM}/1", "json", Accept="text/html")
        assert response.status_code == 200 and response.json()["ref"] == f"{PLATFORM}@1"


class TestCardAccess:
    async def test_another_tenants_model_is_not_found(self, world: World) -> None:
        for accept in ("application/json", "text/html"):
            response = await world.card("bob", f"{CUSTOM}/1", Accept=accept)
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "model_not_found"
        assert (await world.card("alice", f"{CUSTOM}/1")).status_code == 200

    async def test_unknown_version_and_name_are_not_found(self, world: World) -> None:
        for path in (f"{PLATFORM}/9", "no-such-model/1"):
            response = await world.card("alice", path)
            assert response.status_code == 404
            error = response.json()["error"]
            assert error["code"] == "model_not_found" and error["message"]

    async def test_without_credentials_is_unauthenticated(self, world: World) -> None:
        response = await world.http.get(f"/api/v1/models/{PLATFORM}/1/card")
        assert response.status_code == 401


class TestLiveSincePromotion:
    async def test_only_the_tenants_scores_since_the_promotion_count(self, world: World) -> None:
        store = world.kernel.infra.timeseries
        async with world.kernel.infra.database.unit_of_work(system=True) as uow:
            model = await world.registry.get(uow, PLATFORM, 1)
        assert model.promoted_at is not None
        promoted = epoch_ms(model.promoted_at)
        before = epoch_ms(model.promoted_at - timedelta(hours=2))
        bob, alice = world.tenants["bob"], world.tenants["alice"]
        rows = [_score(bob, before + i * 300_000, hit=False) for i in range(6)]  # before
        rows += [_score(bob, promoted + (i + 1) * 300_000, hit=i % 4 != 0) for i in range(20)]
        rows += [_score(alice, promoted + 300_000, hit=True)]
        await store.append(SCORES_TABLE.name, rows)

        live = await live_since_promotion(
            store, TenantId(bob), model, window=500, baseline_accuracy=0.4
        )
        others = await live_since_promotion(
            store, TenantId(alice), model, window=500, baseline_accuracy=0.4
        )

        assert live.available and live.since_ts == promoted and live.until_ts is None
        [eurusd] = live.symbols
        assert (eurusd.symbol, eurusd.timeframe, eurusd.scored) == ("EURUSD", "M5", 20)
        assert eurusd.hit_rate == pytest.approx(0.75)
        assert eurusd.brier == pytest.approx(0.75 * 0.24 + 0.25 * 1.04)  # by hand
        assert eurusd.below_baseline is False
        assert others.symbols[0].scored == 1


class TestCardCommand:
    def test_table_json_and_html(self, home: Path, trained: Trained, tmp_path: Path) -> None:
        asyncio.run(_seed_platform_model(home, trained))
        page = tmp_path / "card.html"

        shown = CliRunner().invoke(app, ["models", "card", PLATFORM, "1"], env=WIDE)
        as_json = CliRunner().invoke(app, ["models", "card", PLATFORM, "1", "--json"])
        written = CliRunner().invoke(app, ["models", "card", PLATFORM, "1", "--html", str(page)])
        missing = CliRunner().invoke(app, ["models", "card", PLATFORM, "7"])

        assert shown.exit_code == 0, shown.output
        assert f"Model card {PLATFORM}@1" in shown.output
        assert trained.result.verdict["sentence"][:40] in shown.output
        assert "Calibration (temperature): ECE" in shown.output
        assert trained.result.importance["top"][0] in shown.output
        assert "signal backtest of the OOS predictions" in shown.output
        assert "live scores are kept per tenant" in shown.output
        assert as_json.exit_code == 0, as_json.output
        card = json.loads(as_json.output)
        assert card["ref"] == f"{PLATFORM}@1" and card["live"]["available"] is False
        assert card["features"]["fingerprint"] == trained.registration.feature_set_fingerprint
        assert written.exit_code == 0, written.output
        assert page.read_text(encoding="utf-8").count("<svg") == 3
        assert missing.exit_code == 1 and "was not found" in missing.output


async def _seed_platform_model(home: Path, trained: Trained) -> None:
    kernel = Kernel(embedded_settings(home), services="hub,storage")
    await kernel.start(serving=False)
    try:
        registry = local_model_registry(home, kernel.clock)
        async with kernel.infra.database.unit_of_work(system=True) as uow:
            await registry.register(uow, trained.named(PLATFORM), trained.result.onnx)
    finally:
        await kernel.stop()


def _score(tenant: str, ts: int, *, hit: bool) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "symbol": "EURUSD",
        "ts": ts,
        "timeframe": "M5",
        "model": f"{PLATFORM}@1",
        "p_down": 0.2,
        "p_flat": 0.2,
        "p_up": 0.6,
        "realized": 2 if hit else 0,
        "scored_at_ts": ts,
    }
