"""The ml alerts added with the live fallback and retraining (``model_drifting``,
``model_fallback``, ``model_retrained``) are kinds like every other one: the operator's
preference commands name them, their templates preview over the API with sample data, and
a tenant's override of one is checked with that data when it is saved (issue 23.6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainflow.cli import app
from chainflow.notify.events import EVENT_KINDS, PARSERS
from chainflow.notify.model_alerts import MODEL_ALERT_SAMPLES
from tests.fixtures.settings import register_embedded_user
from tests.notify.hub import open_hub
from tests.notify.peers.smtp import SmtpServer, smtp_server

NEW_KINDS = ("model_drifting", "model_fallback", "model_retrained")
SUBJECTS = {
    "model_drifting": "Model fx-default@3: live features drift on EURUSD H1",
    "model_fallback": "Model fx-default@3 replaced by fx-default@2",
    "model_retrained": "Model fx-default@4 retrained, kept as a candidate",
}
OVERRIDES_URL = "/api/v1/notifications/templates"
EMAIL = "ops@example.com"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAINFLOW_HOME", str(tmp_path / "home"))
    for name in ("DATABASE_URL", "TIMESERIES_URL", "CACHE_URL", "BUS_URL", "ENV"):
        monkeypatch.delenv(f"CHAINFLOW_{name}", raising=False)
    register_embedded_user(tmp_path / "home", EMAIL)
    return tmp_path / "home"


def notify_json(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["notify", *args, "--json"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    parsed: dict[str, object] = json.loads(result.output)
    return parsed


class TestKinds:
    def test_the_new_kinds_are_event_kinds_with_one_parser(self) -> None:
        assert set(NEW_KINDS) <= set(EVENT_KINDS)
        assert len(EVENT_KINDS) == len(set(EVENT_KINDS))
        # ml alerts are parsed by notify.model_alerts alone (its own durable consumer).
        assert "model_alert" not in PARSERS


class TestPreferenceKinds:
    def test_the_operator_shows_and_mutes_the_new_kinds(self, home: Path) -> None:
        shown = notify_json("prefs", "show", "--email", EMAIL)
        effective = shown["effective"]
        assert isinstance(effective, dict)
        for kind in NEW_KINDS:
            assert effective[kind] == ["email", "telegram"], kind

        muted = notify_json("prefs", "set", "--email", EMAIL, "--event", "model_fallback", "--off")
        effective = muted["effective"]
        assert isinstance(effective, dict)
        assert effective["model_fallback"] == []
        assert effective["model_retrained"] == ["email", "telegram"]
        stored = notify_json("prefs", "show", "--email", EMAIL)
        preferences = stored["preferences"]
        assert isinstance(preferences, dict)
        assert preferences["events"] == {"model_fallback": []}


class TestPreviewAndOverride:
    async def test_each_new_kind_previews_with_its_sample_and_takes_an_override(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "home", smtp) as hub:
            for kind in NEW_KINDS:
                for channel in ("email", "telegram"):
                    preview = await hub.http.post(
                        "/api/v1/notifications/preview", json={"kind": kind, "channel": channel}
                    )
                    assert preview.status_code == 200, (kind, channel, preview.text)
                    assert preview.json()["subject"] == SUBJECTS[kind]
                    assert preview.json()["text"].strip() and "{{" not in preview.json()["text"]

            fallback = (
                await hub.http.post(
                    "/api/v1/notifications/preview", json={"kind": "model_fallback"}
                )
            ).json()
            assert MODEL_ALERT_SAMPLES["model_fallback"]["detail"] in fallback["text"]
            assert "served by fx-default@2" in fallback["text"]

            put = await hub.http.put(
                f"{OVERRIDES_URL}/model_drifting",
                json={
                    "channel": "email",
                    "locale": "en",
                    "subject": "Drift: {{ model }} on {{ symbol }}",
                    "text": "PSI {{ max_psi }} in {{ features | join(', ') }}.",
                },
            )
            assert put.status_code == 200, put.text
            overridden = await hub.http.post(
                "/api/v1/notifications/preview", json={"kind": "model_drifting"}
            )
            assert overridden.json()["subject"] == "Drift: fx-default@3 on EURUSD"
            assert overridden.json()["text"] == "PSI 0.41 in atr_rel_14, rv_cc_20."

            refused = await hub.http.put(
                f"{OVERRIDES_URL}/model_retrained",
                json={
                    "channel": "email",
                    "locale": "en",
                    "subject": "{{ no_such_field }}",
                    "text": "x",
                },
            )
            assert refused.status_code == 422
            assert refused.json()["error"]["code"] == "notification_template_invalid"
