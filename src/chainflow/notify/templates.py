"""Render a message from package templates: Jinja2, sandboxed, escaped per channel.

``templates/<locale>/<kind>.txt`` holds the blocks ``subject`` and ``text`` (plain text,
never escaped) and optionally ``action_url`` and ``action_label``. The HTML of an e-mail is
``templates/layout/email.html`` and a Telegram message ``templates/layout/telegram.html``,
both autoescaped: whatever an event carries is text there, never markup. A locale without
a template falls back to the default locale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import PackageLoader, StrictUndefined, TemplateNotFound, select_autoescape
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from chainflow.notify.errors import TemplateRenderError, UnknownTemplateError

__all__ = ["LOCALES", "Rendered", "TemplateRenderer"]

LOCALES: tuple[str, ...] = ("en", "id")
FOOTERS = {
    "en": "You receive this because of your ChainFlow account. Manage notifications in settings.",
    "id": "Anda menerima ini karena akun ChainFlow Anda. Atur notifikasi di pengaturan.",
}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message's subject, plain text and channel HTML (None where the channel has none)."""

    subject: str
    text: str
    html: str | None


def _datetime_ms(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class TemplateRenderer:
    """Renders ``(kind, channel, locale)`` with an event's data; one per process."""

    def __init__(self, *, base_url: str, default_locale: str = "en") -> None:
        self._base_url = base_url.rstrip("/")
        self._default_locale = default_locale if default_locale in LOCALES else "en"
        self._env = SandboxedEnvironment(
            loader=PackageLoader("chainflow.notify", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )
        self._env.filters["datetime_ms"] = _datetime_ms

    def locale_of(self, locale: str | None) -> str:
        """Return ``locale``'s language if templates exist for it, else the default."""
        language = (locale or "").split("-")[0].split("_")[0].lower()
        return language if language in LOCALES else self._default_locale

    def render(
        self, kind: str, channel: str, locale: str | None, data: Mapping[str, Any]
    ) -> Rendered:
        """Render ``kind`` for ``channel`` in ``locale``; raise ``TemplateRenderError``."""
        language = self.locale_of(locale)
        context = {**data, "base_url": self._base_url, "channel": channel, "locale": language}
        try:
            parts = self._text_parts(kind, language, context)
            html = self._html(channel, language, parts)
        except (TemplateError, SecurityError, TypeError, ValueError) as e:
            if isinstance(e, TemplateNotFound):
                raise UnknownTemplateError(
                    f"expected a notification kind with a template; received {kind!r}",
                    details={"kind": kind},
                ) from e
            raise TemplateRenderError(
                f"template {kind!r} ({language}) could not render: {type(e).__name__}: {e}",
                details={"kind": kind, "locale": language},
            ) from e
        text = parts["text"]
        if parts["action_url"]:  # plain text carries the link itself
            text = f"{text}\n\n{parts['action_label']}: {parts['action_url']}"
        return Rendered(subject=parts["subject"], text=text, html=html)

    def _text_parts(self, kind: str, language: str, context: dict[str, Any]) -> dict[str, str]:
        template = self._env.get_template(f"{language}/{kind}.txt")
        rendered_context = template.new_context(context)
        parts: dict[str, str] = {}
        for block in ("subject", "text", "action_url", "action_label"):
            render_block = template.blocks.get(block)
            parts[block] = "".join(render_block(rendered_context)).strip() if render_block else ""
        parts["subject"] = " ".join(parts["subject"].split())  # one line, as a header needs
        return parts

    def _html(self, channel: str, language: str, parts: dict[str, str]) -> str | None:
        if channel not in ("email", "telegram"):
            return None
        layout = self._env.get_template(f"layout/{channel}.html")
        return layout.render(
            subject=parts["subject"],
            text=parts["text"],
            paragraphs=[p for p in parts["text"].split("\n\n") if p.strip()],
            action_url=parts["action_url"],
            action_label=parts["action_label"],
            footer=FOOTERS[language],
            locale=language,
        ).strip()


SAMPLE_DATA: Mapping[str, Mapping[str, Any]] = {
    "verification": {
        "email": "ana@example.com",
        "token": "sample-token",
        "expires_at_ms": 1_798_761_600_000,
    },
    "password_reset": {
        "email": "ana@example.com",
        "token": "sample-token",
        "expires_at_ms": 1_798_761_600_000,
    },
    "invitation": {
        "email": "budi@example.com",
        "role": "trader",
        "token": "sample-token",
        "expires_at_ms": 1_798_761_600_000,
    },
    "sign_in_locked": {
        "email": "ana@example.com",
        "failed_attempts": 5,
        "ip": "203.0.113.7",
        "locked_until_ms": 1_798_761_600_000,
    },
    "duplicate_registration": {"email": "ana@example.com", "ip": "203.0.113.7"},
    "circuit_breaker": {"reason": "daily loss limit of 3% reached", "ts": 1_798_761_600_000},
    "model_underperforming": {
        "model": "fx-default@3",
        "symbol": "EURUSD",
        "timeframe": "H1",
        "hit_rate": 0.41,
        "baseline_accuracy": 0.55,
        "scored": 120,
    },
    "model_recovered": {
        "model": "fx-default@3",
        "symbol": "EURUSD",
        "timeframe": "H1",
        "hit_rate": 0.57,
        "baseline_accuracy": 0.55,
        "scored": 120,
    },
    "backtest_finished": {
        "job_id": "0190f0c1a2b3",
        "kind": "backtest",
        "status": "succeeded",
        "symbol": "EURUSD",
        "timeframe": "H1",
        "error": None,
    },
    "binding_disabled": {"channel_name": "Telegram", "reason": "the bot was blocked"},
    "test": {},
}
"""Data each kind is previewed with (``POST /api/v1/notifications/preview``)."""
