"""Escaping of plain text for Telegram's two parse modes (HTML and MarkdownV2).

Telegram's HTML mode needs only ``&``, ``<`` and ``>`` escaped (quotes are plain text
outside attributes). MarkdownV2 treats every character of ``_*[]()~`>#+-=|{}.!`` as markup
anywhere in the text, so each is prefixed with a backslash, and so is the backslash itself.
"""

from __future__ import annotations

__all__ = [
    "MARKDOWN_V2_SPECIALS",
    "MAX_MESSAGE_CHARS",
    "escape_html",
    "escape_markdown_v2",
    "escape_markdown_v2_code",
    "format_text",
]

MARKDOWN_V2_SPECIALS = "_*[]()~`>#+-=|{}.!"
MAX_MESSAGE_CHARS = 4096  # after entity parsing (Bot API sendMessage)
_MARKDOWN_V2_TABLE = str.maketrans({c: "\\" + c for c in MARKDOWN_V2_SPECIALS + "\\"})
_CODE_TABLE = str.maketrans({"`": "\\`", "\\": "\\\\"})
_HTML_TABLE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape_html(text: str) -> str:
    """Return ``text`` safe to embed in a Telegram HTML message."""
    return text.translate(_HTML_TABLE)


def escape_markdown_v2(text: str) -> str:
    """Return ``text`` safe to embed in a Telegram MarkdownV2 message (outside code)."""
    return text.translate(_MARKDOWN_V2_TABLE)


def escape_markdown_v2_code(text: str) -> str:
    """Return ``text`` safe inside MarkdownV2 ``pre``/``code`` entities (only ` and \\)."""
    return text.translate(_CODE_TABLE)


def format_text(subject: str, text: str, parse_mode: str) -> str:
    """Return a bold ``subject`` line over ``text``, both escaped for ``parse_mode``.

    The plain text is cut to fit the Bot API's message limit before it is escaped, so an
    escape sequence is never split.
    """
    budget = MAX_MESSAGE_CHARS - len(subject) - 2
    body = text if len(text) <= budget else text[: max(budget - 1, 0)] + "…"
    if parse_mode == "MarkdownV2":
        head = f"*{escape_markdown_v2(subject)}*\n" if subject else ""
        return head + escape_markdown_v2(body)
    head = f"<b>{escape_html(subject)}</b>\n" if subject else ""
    return head + escape_html(body)
