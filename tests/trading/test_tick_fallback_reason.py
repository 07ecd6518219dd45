"""The per-tick path of a tenant whose model fell back to ``hold``: every tick's signal is
``hold`` with the fallback's reason (``model_underperforming: <name@version> ...``), not
"no production model" (issue 23.6).

Two processes' views: the whole embedded kernel, where the ml service's live monitor makes
the fallback from a model the falling market keeps contradicting (as in
``tests/ml/test_live_actions.py``), and a trading process without the ml service, which
loads its own models and reads the fallbacks the ml service recorded in the shared
time-series store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chainflow.core.settings import MlSettings
from chainflow.ml.api import Fallback
from chainflow.ml.events import alerts_topic
from chainflow.ml.registry.fallback_log import FallbackLog
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings
from tests.ml.test_live_actions import (
    FALLBACK_AFTER,
    collect,
    falling_bars,
    publish_bars,
    register_always_up,
    settle,
)
from tests.trading.test_tick_path import frames_of, send_ticks, tick_rows, until

TENANT = "0190a5c0-0000-7000-8000-00000000fb01"
OTHER = "0190a5c0-0000-7000-8000-00000000fb02"
HOLD_PREFIX = "model_underperforming: fx-default@1 stayed below its baseline"


@pytest.fixture
async def kernel(tmp_path: Path) -> AsyncIterator[Kernel]:
    settings = embedded_settings(
        tmp_path / "home",
        ml=MlSettings(min_scored=5, refresh_s=0.01, fallback_after=FALLBACK_AFTER),
    )
    running = Kernel(settings, services="hub,storage,bridge,features,ml,trading")
    running.build()
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def trading_alone(tmp_path: Path) -> AsyncIterator[Kernel]:
    settings = embedded_settings(tmp_path / "alone", ml=MlSettings(refresh_s=0.01))
    running = Kernel(settings, services="hub,storage,bridge,features,trading")
    running.build()
    await running.start()
    yield running
    await running.stop()


async def fall_back_to_hold(kernel: Kernel, alerts: list[dict[str, Any]]) -> None:
    """Publish falling bars ten at a time until the live monitor falls back (to hold:
    there is no earlier production version)."""
    bars, published = falling_bars(400), 0
    while published < len(bars):
        chunk = bars[published : published + 10]
        await publish_bars(kernel, TENANT, chunk)
        published += len(chunk)
        await settle(kernel, published)
        if any(a["type"] == "model_fallback" for a in alerts):
            return
    raise AssertionError(f"expected a fallback; alerts {[a['type'] for a in alerts]}")


def hold_reason(frame: dict[str, Any]) -> str:
    assert frame["type"] == "signal" and frame["action"] == "hold", frame
    assert frame["size"] == 0 and frame["model"] == "", frame
    [reason] = frame["reasons"]
    return str(reason)


class TestFallbackToHold:
    async def test_every_tick_holds_with_the_fallbacks_reason(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        assert kernel.ml is not None
        await register_always_up(kernel, tmp_path / "home", promote=True)
        alerts = await collect(kernel, alerts_topic(TENANT))
        await fall_back_to_hold(kernel, alerts)
        [fell] = [a for a in alerts if a["type"] == "model_fallback"]
        assert fell["model"] == "fx-default@1" and fell["fallback"] is None

        frames = await frames_of(kernel, TENANT, "after-fallback")
        start = 1_800_000_000_000
        await send_ticks(
            kernel,
            tick_rows(start, [1.1, 1.1002, 1.0999]),
            connection="after-fallback",
            tenant=TENANT,
        )
        await until(frames, 3)

        assert [f["seq"] for f in frames] == [1, 2, 3]
        reasons = {hold_reason(f) for f in frames}
        assert len(reasons) == 1
        [reason] = reasons
        assert reason.startswith(HOLD_PREFIX), reason
        assert f"for {FALLBACK_AFTER} consecutive scored predictions on EURUSD M5" in reason
        assert reason == kernel.ml.models.unavailable_reason(TENANT)

    async def test_a_tenant_without_a_fallback_is_not_told_of_another_tenants(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        assert kernel.ml is not None
        await register_always_up(kernel, tmp_path / "home", promote=True)
        alerts = await collect(kernel, alerts_topic(TENANT))
        await fall_back_to_hold(kernel, alerts)

        frames = await frames_of(kernel, OTHER, "other")
        await send_ticks(
            kernel, tick_rows(1_800_000_000_000, [1.1]), connection="other", tenant=OTHER
        )
        await until(frames, 1)

        # The platform model still serves the other tenant: its tick is not held for the
        # first tenant's record (its key state is being built from its, absent, bars).
        assert not frames[0]["reasons"][0].startswith("model_underperforming")
        assert frames[0]["model"] == "fx-default@1"


class TestTradingWithoutMl:
    async def test_a_recorded_fallback_to_hold_is_honoured(
        self, trading_alone: Kernel, tmp_path: Path
    ) -> None:
        kernel = trading_alone
        assert kernel.ml is None and kernel.trading is not None
        version = await register_always_up(kernel, tmp_path / "alone", promote=True)
        fallback = Fallback(
            name="fx-default",
            at_ms=kernel.clock.now_ms(),
            from_version=version.version,
            to_version=0,
            reason="model_underperforming",
            detail="stayed below its baseline for 8 consecutive scored predictions on "
            "EURUSD M5: live hit rate 0.000 over the last 13, baseline accuracy 0.400",
            decided_by="chainflow live monitor",
            market="EURUSD",
            timeframe="M5",
            hit_rate=0.0,
            baseline_accuracy=0.4,
            scored=13,
            streak=8,
        )
        # What the ml process writes into the shared time-series store.
        await FallbackLog(kernel.infra.timeseries).record(TENANT, fallback)

        held = await frames_of(kernel, TENANT, "held")
        served = await frames_of(kernel, OTHER, "served")
        await send_ticks(
            kernel, tick_rows(1_800_000_000_000, [1.1]), connection="held", tenant=TENANT
        )
        await send_ticks(
            kernel, tick_rows(1_800_000_000_000, [1.1]), connection="served", tenant=OTHER
        )
        await until(held, 1)
        await until(served, 1)

        assert hold_reason(held[0]) == fallback.hold_reason()
        assert hold_reason(held[0]).startswith(HOLD_PREFIX)
        assert served[0]["model"] == version.ref  # another tenant keeps the model
