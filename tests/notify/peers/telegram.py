"""A Telegram Bot API look-alike (Starlette) for loopback tests: sendMessage, getUpdates.

It checks the token in the path, parses the text as Telegram would (``HTML`` or
``MarkdownV2``; a stray reserved character is a 400 "can't parse entities") and keeps what
a user would read. Chats behave by id: ``BLOCKED_CHAT`` answers 403 (bot blocked),
``FLOOD_CHAT`` a 429 with ``retry_after`` once, ``BROKEN_CHAT`` a 502; ids not in ``chats``
are 400 "chat not found". ``block`` and ``flood_next`` give any chat those behaviours later
(a linked user blocks the bot; the next send to a chat hits the flood limit). Every send
records ``at`` (``time.monotonic()`` on arrival) for latency measurements.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BLOCKED_CHAT = "403"
FLOOD_CHAT = "429"
BROKEN_CHAT = "502"
FLOOD_RETRY_AFTER = 7
_HTML_TAGS = re.compile(r"</?(b|strong|i|em|u|ins|s|strike|del|code|pre|tg-spoiler)>")
_HTML_ENTITIES = re.compile(r"&(lt|gt|amp|quot|#\d+);")
_MD_SPECIALS = "_*[]()~`>#+-=|{}.!"


class EntityParseError(ValueError):
    pass


def parse_html(text: str) -> str:
    """Return what the user reads of Telegram HTML ``text``; raise on a stray ``<``/``&``."""
    stripped = _HTML_TAGS.sub("", text)
    if "<" in stripped or ">" in stripped:
        raise EntityParseError("Can't parse entities: unsupported start tag")
    if "&" in _HTML_ENTITIES.sub("", stripped):
        raise EntityParseError("Can't parse entities: unsupported entity")
    return html.unescape(stripped)


def parse_markdown_v2(text: str) -> str:
    """Return what the user reads of MarkdownV2 ``text`` (``*bold*`` only); raise on a
    reserved character that is not escaped."""
    out: list[str] = []
    escaped = False
    bold_open = False
    for char in text:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            bold_open = not bold_open
        elif char in _MD_SPECIALS:
            raise EntityParseError(
                f"Can't parse entities: Character '{char}' is reserved and must be escaped "
                "with the preceding '\\'"
            )
        else:
            out.append(char)
    if escaped or bold_open:
        raise EntityParseError("Can't parse entities: can't find end of the entity")
    return "".join(out)


@dataclass
class TelegramPeer:
    """The peer's state, shared between the test and the server thread."""

    token: str
    chats: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    flooded: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=lambda: {BLOCKED_CHAT})
    flooding: set[str] = field(default_factory=lambda: {FLOOD_CHAT})
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""

    def block(self, chat_id: str) -> None:
        """Answer 403 "bot was blocked by the user" to every later send to ``chat_id``."""
        with self.lock:
            self.blocked.add(chat_id)

    def flood_next(self, chat_id: str) -> None:
        """Answer the next send to ``chat_id`` with 429 and ``retry_after``."""
        with self.lock:
            self.flooding.add(chat_id)

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue one update for getUpdates (``update_id`` assigned in order)."""
        with self.lock:
            update = {"update_id": len(self.updates) + 1, **update}
            self.updates.append(update)

    def texts_to(self, chat_id: str) -> list[str]:
        """Return what the user of ``chat_id`` read, in order."""
        with self.lock:
            return [m["read"] for m in self.sent if str(m["chat_id"]) == chat_id]

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/bot{token}/{method}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        body = await request.json()
        method = request.path_params["method"]
        if method == "sendMessage":
            return self._send_message(body)
        if method == "getUpdates":
            return await self._get_updates(body)
        if method in ("answerCallbackQuery", "deleteWebhook", "setMyCommands", "setWebhook"):
            with self.lock:
                self.calls.append((method, body))
            return JSONResponse({"ok": True, "result": True})
        return _error(404, "Not Found: method not found")

    def _send_message(self, body: dict[str, Any]) -> JSONResponse:
        arrived = time.monotonic()
        chat_id = str(body.get("chat_id"))
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id == BROKEN_CHAT:
            return JSONResponse({"ok": False, "error_code": 502, "description": "Bad Gateway"}, 502)
        with self.lock:
            flood = chat_id in self.flooding
            self.flooding.discard(chat_id)
            if flood:
                self.flooded.add(chat_id)
        if flood:
            return _error(
                429,
                f"Too Many Requests: retry after {FLOOD_RETRY_AFTER}",
                {"retry_after": FLOOD_RETRY_AFTER},
            )
        if chat_id not in self.chats and chat_id not in self.flooded:
            return _error(400, "Bad Request: chat not found")
        text = str(body.get("text", ""))
        try:
            mode = body.get("parse_mode")
            read = parse_html(text) if mode == "HTML" else text
            read = parse_markdown_v2(text) if mode == "MarkdownV2" else read
        except EntityParseError as exc:
            return _error(400, f"Bad Request: {exc}")
        with self.lock:
            message_id = len(self.sent) + 1
            self.sent.append({**body, "read": read, "message_id": message_id, "at": arrived})
        return JSONResponse({"ok": True, "result": {"message_id": message_id, "text": read}})

    async def _get_updates(self, body: dict[str, Any]) -> JSONResponse:
        offset = int(body.get("offset") or 0)
        deadline = asyncio.get_running_loop().time() + float(body.get("timeout") or 0)
        while True:
            with self.lock:
                ready = [u for u in self.updates if u["update_id"] >= offset]
            if ready or asyncio.get_running_loop().time() >= deadline:
                return JSONResponse({"ok": True, "result": ready})
            await asyncio.sleep(0.01)


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)
