"""The hub's consumer of ``ml.alerts.<tenant>``: fallbacks, retrains and drift reach the
tenant's owner by e-mail (a loopback SMTP server), rendered from their templates, and her
preferences apply to them as to every other kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chainflow.ml.events import ModelDrifting, ModelFellBack, ModelRetrained, alerts_topic
from chainflow.notify.model_alerts import MODEL_ALERT_SAMPLES, parse_model_alert
from chainflow.notify.templates import TemplateRenderer
from tests.notify.hub import Hub, eventually, open_hub
from tests.notify.peers.smtp import SmtpServer, smtp_server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


def fell_back(hub: Hub, fallback: str | None) -> ModelFellBack:
    return ModelFellBack(
        tenant_id=hub.tenant_id,
        model="fx-default@3",
        fallback=fallback,
        reason="model_underperforming",
        detail="stayed below its baseline for 8 consecutive scored predictions on EURUSD M5: "
        "live hit rate 0.000 over the last 13, baseline accuracy 0.400",
        by="chainflow live monitor",
        symbol="EURUSD",
        timeframe="M5",
        ts=hub.kernel.clock.now_ms(),
        hit_rate=0.0,
        baseline_accuracy=0.4,
        scored=13,
        streak=8,
    )


def retrained(hub: Hub, *, promoted: bool) -> ModelRetrained:
    return ModelRetrained(
        tenant_id=hub.tenant_id,
        model="fx-default@4",
        previous="fx-default@3",
        promoted=promoted,
        sentence="does not beat the majority (p=0.250) or previous-direction (p=0.144) "
        "baseline: do not trade it",
        symbol="EURUSD",
        timeframe="M5",
        bars=5000,
        ts=hub.kernel.clock.now_ms(),
    )


async def publish(hub: Hub, payload: bytes) -> None:
    await hub.kernel.infra.bus.publish(alerts_topic(hub.tenant_id), payload)


def mails(smtp: SmtpServer) -> dict[str, str]:
    """Subject -> plain text of every message received."""
    found = {}
    for received in smtp.sink.messages:
        body = received.message.get_body(preferencelist=("plain",))
        assert body is not None
        found[str(received.message["Subject"])] = str(body.get_content())
    return found


class TestModelAlertMail:
    async def test_fallbacks_retrains_and_drift_reach_the_owner(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "h", smtp) as hub:
            await publish(hub, fell_back(hub, "fx-default@2").to_json())
            await publish(hub, fell_back(hub, None).to_json())
            await publish(hub, retrained(hub, promoted=False).to_json())
            drift = ModelDrifting(
                tenant_id=hub.tenant_id,
                model="fx-default@3",
                symbol="EURUSD",
                timeframe="M5",
                ts=hub.kernel.clock.now_ms(),
                max_psi=0.41,
                threshold=0.25,
                features=["atr_rel_14", "rv_cc_20"],
                vectors=500,
            )
            await publish(hub, drift.to_json())

            await eventually(lambda: len(smtp.sink.messages) == 4)
            got = mails(smtp)
            assert set(got) == {
                "Model fx-default@3 replaced by fx-default@2",
                "Model fx-default@3 stopped: signals hold",
                "Model fx-default@4 retrained, kept as a candidate",
                "Model fx-default@3: live features drift on EURUSD M5",
            }
            replaced = got["Model fx-default@3 replaced by fx-default@2"]
            assert "fx-default@3 stayed below its baseline for 8 consecutive" in replaced
            assert "served by fx-default@2" in replaced and "chainflow live monitor" in replaced
            held = got["Model fx-default@3 stopped: signals hold"]
            assert "your signals are hold (reason: model_underperforming)" in held
            kept = got["Model fx-default@4 retrained, kept as a candidate"]
            assert "5000 stored EURUSD M5 bars" in kept and "fx-default@3 keeps serving" in kept
            assert (
                "0.41 (above 0.25), in atr_rel_14, rv_cc_20"
                in got["Model fx-default@3: live features drift on EURUSD M5"]
            )
            assert {m.rcpt_tos[0] for m in smtp.sink.messages} == {hub.email}

    async def test_a_muted_kind_is_not_sent_and_the_others_are(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "h", smtp) as hub:
            put = await hub.http.put(
                "/api/v1/notifications/preferences",
                json={"events": {"model_retrained": []}},
            )
            assert put.status_code == 200, put.text
            await publish(hub, retrained(hub, promoted=True).to_json())
            await publish(hub, fell_back(hub, "fx-default@2").to_json())

            await eventually(lambda: len(smtp.sink.messages) == 1)
            assert list(mails(smtp)) == ["Model fx-default@3 replaced by fx-default@2"]


class TestParse:
    def test_severity_follows_what_the_owner_must_do(self) -> None:
        def severity(payload: dict[str, Any]) -> str:
            event = parse_model_alert("ml.alerts.t", payload, "id")
            assert event is not None and event.roles == ("owner", "admin")
            return event.severity

        base = {"tenant_id": "t", "ts": 1, "symbol": "EURUSD"}
        assert severity({**base, "type": "model_fallback", "fallback": "m@1"}) == "warning"
        assert severity({**base, "type": "model_fallback", "fallback": None}) == "critical"
        assert severity({**base, "type": "model_retrained", "promoted": True}) == "info"
        assert severity({**base, "type": "model_retrained", "promoted": False}) == "warning"
        assert severity({**base, "type": "model_recovered"}) == "info"
        assert parse_model_alert("s", {**base, "type": "something_else"}, "id") is None
        with pytest.raises(ValueError, match="ts"):
            parse_model_alert("s", {"type": "model_drifting", "tenant_id": "t"}, "id")

    @pytest.mark.parametrize("kind", sorted(MODEL_ALERT_SAMPLES))
    @pytest.mark.parametrize("locale", ["en", "id"])
    @pytest.mark.parametrize("channel", ["email", "telegram"])
    def test_every_new_template_renders_its_sample(
        self, kind: str, locale: str, channel: str
    ) -> None:
        renderer = TemplateRenderer(base_url="https://app.test")
        data = {**MODEL_ALERT_SAMPLES[kind], "tenant_name": "Acme", "ts": 1_798_761_600_000}
        rendered = renderer.render(kind, channel, locale, data, None)
        assert "fx-default@" in rendered.subject and rendered.text.strip()
        assert "{{" not in rendered.text
