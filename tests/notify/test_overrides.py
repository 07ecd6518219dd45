"""Tenant template overrides: stored by admins, checked with sample data at save time,
used for events and previews, and bounded by the sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chainflow.notify.templates import TemplateOverride, TemplateRenderer
from tests.notify.hub import Hub, eventually, open_hub
from tests.notify.peers.smtp import SmtpServer, smtp_server

URL = "/api/v1/notifications/templates"


class TestRenderer:
    renderer = TemplateRenderer(base_url="https://app.test")

    def test_an_override_keeps_the_package_action_link(self) -> None:
        override = TemplateOverride(subject="Welcome to {{ tenant_name }}", text="Hi {{ email }}")
        rendered = self.renderer.render(
            "verification",
            "email",
            "en",
            {"tenant_name": "Acme", "email": "a@b.c", "token": "t0k", "expires_at_ms": 0},
            override,
        )
        assert rendered.subject == "Welcome to Acme"
        assert rendered.text.startswith("Hi a@b.c")
        assert "https://app.test/verify-email?token=t0k" in rendered.text

    def test_an_override_failing_on_event_data_falls_back_to_the_package(self) -> None:
        override = TemplateOverride(subject="{{ missing_field }}", text="x")
        rendered = self.renderer.render(
            "circuit_breaker", "email", "en", {"reason": "r", "ts": 0}, override
        )
        assert rendered.subject == "Circuit breaker tripped: signals halted"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
async def hub(tmp_path: Path, smtp: SmtpServer) -> AsyncIterator[Hub]:
    async with open_hub(tmp_path / "home", smtp) as hub:
        yield hub


class TestOverrideApi:
    async def test_stored_override_renders_events_and_previews_then_is_removed(
        self, hub: Hub, smtp: SmtpServer
    ) -> None:
        body = {
            "channel": "email",
            "locale": "en",
            "subject": "[{{ tenant_name }}] Breaker: {{ reason }}",
            "text": "Stopped because {{ reason }}.",
        }
        put = await hub.http.put(f"{URL}/circuit_breaker", json=body)
        assert put.status_code == 200, put.text
        assert put.json()["text"] == body["text"] and put.json()["updated_by"] == hub.user_id
        listed = (await hub.http.get(f"{URL}/circuit_breaker")).json()["items"]
        assert [(i["channel"], i["locale"]) for i in listed] == [("email", "en")]

        breaker = {"type": "circuit_breaker", "tenant_id": hub.tenant_id, "reason": "<loss>"}
        breaker["ts"] = 1_790_000_000_000  # type: ignore[assignment]
        await hub.kernel.infra.bus.publish(
            f"trading.risk.{hub.tenant_id}", json.dumps(breaker).encode()
        )
        await eventually(lambda: len(smtp.sink.messages) == 1)
        mail = smtp.sink.messages[0].message
        assert str(mail["Subject"]) == "[ana@example.com] Breaker: <loss>"
        html = mail.get_body(preferencelist=("html",))
        assert html is not None and "Stopped because &lt;loss&gt;." in html.get_content()

        preview = await hub.http.post(
            "/api/v1/notifications/preview", json={"kind": "circuit_breaker"}
        )
        assert preview.json()["text"] == "Stopped because daily loss limit of 3% reached."
        telegram = await hub.http.post(
            "/api/v1/notifications/preview",
            json={"kind": "circuit_breaker", "channel": "telegram"},
        )
        assert telegram.json()["subject"] == "Circuit breaker tripped: signals halted"

        gone = await hub.http.delete(f"{URL}/circuit_breaker", params={"channel": "email"})
        assert gone.status_code == 204
        again = await hub.http.delete(f"{URL}/circuit_breaker", params={"channel": "email"})
        assert again.status_code == 404
        assert again.json()["error"]["code"] == "notification_template_override_not_found"

    @pytest.mark.parametrize(
        ("text", "named"),
        [
            ("{{ no_such_field }}", "'no_such_field' is undefined"),
            ("{% for x in %}", "TemplateSyntaxError"),
            ("{{ reason.__class__.__mro__ }}", "unsafe"),
            ("{{ 'x' * 100000000 }}", "repetition longer than"),
            ("{% for a in range(9) %}{% for b in range(9) %}{% endfor %}{% endfor %}", "loop"),
            ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macro is not allowed"),
            ("{{ range(100000) | list | length }}", "range longer than 1000"),
        ],
    )
    async def test_a_template_that_fails_with_sample_data_is_refused_with_its_error(
        self, hub: Hub, text: str, named: str
    ) -> None:
        body = {"channel": "telegram", "locale": "id", "subject": "s", "text": text}
        put = await hub.http.put(f"{URL}/circuit_breaker", json=body)
        assert put.status_code == 422, put.text
        error = put.json()["error"]
        assert error["code"] == "notification_template_invalid" and named in error["message"]
        assert (await hub.http.get(f"{URL}/circuit_breaker")).json()["items"] == []

    async def test_unknown_kind_is_refused(self, hub: Hub) -> None:
        body = {"channel": "email", "subject": "s", "text": "t"}
        put = await hub.http.put(f"{URL}/no_such_kind", json=body)
        assert put.status_code == 422
        assert put.json()["error"]["code"] == "notification_template_not_found"
