"""Render a message from package templates: Jinja2, sandboxed, escaped per channel.

``templates/<locale>/<kind>.txt`` holds the blocks ``subject`` and ``text`` (plain text,
never escaped) and optionally ``action_url`` and ``action_label``. The HTML of an e-mail is
``templates/layout/email.html`` and a Telegram message ``templates/layout/telegram.html``,
both autoescaped: whatever an event carries is text there, never markup. A locale without
a template falls back to the default locale.

A tenant may override the subject and text of one (kind, channel, locale)
(``TemplateOverride``): both render in the same sandbox, with the same data, and the package
template still supplies the action link (a verification e-mail keeps its working link). An
override is checked with the kind's sample data when it is saved (``check_override``); one
that fails later on an event's data falls back to the package template. The sandbox also
bounds what a template may build: ``*`` and ``**`` results and the rendered text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import PackageLoader, StrictUndefined, TemplateNotFound, nodes, select_autoescape
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from chainflow.core.logging import get_logger
from chainflow.notify.errors import TemplateRenderError, UnknownTemplateError
from chainflow.notify.samples import SAMPLE_DATA

__all__ = ["LOCALES", "SAMPLE_DATA", "Rendered", "TemplateOverride", "TemplateRenderer"]

log = get_logger("chainflow.notify.templates")

MAX_RENDERED_CHARS = 20_000
MAX_POWER_EXPONENT = 64
MAX_RANGE = 1000
# An override is text with fields, conditions and one level of loops: nothing that nests
# work without bound (macros recurse, templates include others).
REFUSED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Macro,
    nodes.CallBlock,
    nodes.Import,
    nodes.FromImport,
    nodes.Include,
    nodes.Extends,
    nodes.Block,
)

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


def _idr(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    return "Rp " + f"{value:,}".replace(",", ".")


@dataclass(frozen=True, slots=True)
class TemplateOverride:
    """A tenant's subject and text of one (kind, channel, locale), as Jinja2 source."""

    subject: str
    text: str


class BoundedSandbox(SandboxedEnvironment):
    """The Jinja2 sandbox with ``*`` and ``**`` bounded: ``{{ 'x' * 10**9 }}`` is refused
    instead of allocating a gigabyte."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = _bounded_range

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_POWER_EXPONENT:
            raise SecurityError(f"exponent above {MAX_POWER_EXPONENT}: {right!r}")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                    if len(sequence) * times > MAX_RENDERED_CHARS:
                        raise SecurityError(
                            f"a repetition longer than {MAX_RENDERED_CHARS} characters"
                        )
        return super().call_binop(context, operator, left, right)


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"a range longer than {MAX_RANGE}: {len(numbers)}")
    return numbers


def _check_shape(env: SandboxedEnvironment, source: str) -> None:
    """Raise ``SecurityError`` for an override that uses a refused construct or nests loops."""
    tree = env.parse(source)
    for node in tree.find_all(REFUSED_NODES):
        raise SecurityError(f"{type(node).__name__.lower()} is not allowed in an override")
    for loop in tree.find_all(nodes.For):
        if any(True for _ in loop.find_all(nodes.For)):
            raise SecurityError("a loop inside a loop is not allowed in an override")


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
        self._env = BoundedSandbox(
            loader=PackageLoader("chainflow.notify", "templates"),
            autoescape=select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )
        self._env.filters["datetime_ms"] = _datetime_ms
        self._env.filters["idr"] = _idr

    def locale_of(self, locale: str | None) -> str:
        """Return ``locale``'s language if templates exist for it, else the default."""
        language = (locale or "").split("-")[0].split("_")[0].lower()
        return language if language in LOCALES else self._default_locale

    def render(
        self,
        kind: str,
        channel: str,
        locale: str | None,
        data: Mapping[str, Any],
        override: TemplateOverride | None = None,
    ) -> Rendered:
        """Render ``kind`` for ``channel`` in ``locale``; raise ``TemplateRenderError``.

        With an ``override`` that fails on this data, the package template is used.
        """
        if override is not None:
            try:
                return self._render(kind, channel, locale, data, override)
            except TemplateRenderError as e:
                log.warning("notify_template_override_failed", kind=kind, error=e.message)
        return self._render(kind, channel, locale, data, None)

    def check_override(
        self, kind: str, channel: str, locale: str, override: TemplateOverride
    ) -> Rendered:
        """Render ``override`` with ``kind``'s sample data; raise ``TemplateRenderError``
        naming what failed."""
        if kind not in SAMPLE_DATA:
            raise UnknownTemplateError(
                f"expected a kind from {', '.join(sorted(SAMPLE_DATA))}; received {kind[:64]!r}"
            )
        data = {"tenant_name": "Acme Trading", **SAMPLE_DATA[kind]}
        try:
            _check_shape(self._env, override.subject)
            _check_shape(self._env, override.text)
        except (TemplateError, SecurityError) as e:
            raise TemplateRenderError(
                f"template {kind!r} override could not render: {type(e).__name__}: {e}",
                details={"kind": kind, "locale": locale},
            ) from e
        return self._render(kind, channel, locale, data, override)

    def _render(
        self,
        kind: str,
        channel: str,
        locale: str | None,
        data: Mapping[str, Any],
        override: TemplateOverride | None,
    ) -> Rendered:
        language = self.locale_of(locale)
        context = {**data, "base_url": self._base_url, "channel": channel, "locale": language}
        try:
            parts = self._text_parts(kind, language, context)
            if override is not None:
                parts |= self._override_parts(override, context)
            html = self._html(channel, language, parts)
        except (TemplateError, SecurityError, TypeError, ValueError, RecursionError) as e:
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
        if len(parts["subject"]) + len(text) > MAX_RENDERED_CHARS:
            raise TemplateRenderError(
                f"template {kind!r} ({language}) rendered more than {MAX_RENDERED_CHARS} "
                f"characters",
                details={"kind": kind, "locale": language},
            )
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

    def _override_parts(
        self, override: TemplateOverride, context: dict[str, Any]
    ) -> dict[str, str]:
        subject = self._env.from_string(override.subject).render(context)
        text = self._env.from_string(override.text).render(context).strip()
        return {"subject": " ".join(subject.split()), "text": text}

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
