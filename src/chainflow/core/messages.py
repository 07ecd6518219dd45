"""Bus message bases and the topic-token escaping every ``events.py`` builder uses.

NATS treats ``.`` as the subject separator and ``*``/``>`` as wildcards, and MT5 broker
symbols often carry suffixes such as ``EURUSD.a``; so every variable token of a topic goes
through ``escape_token`` and topics are only built by helpers in the owning service.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


def escape_token(token: str) -> str:
    """Return ``token`` safe to use as one subject token (reversible with ``unescape_token``)."""
    if not token:
        raise ValueError("a topic token must be non-empty, received an empty string")
    return _UNSAFE.sub(lambda m: "~" + format(ord(m.group()), "x") + "~", token)


def unescape_token(token: str) -> str:
    return re.sub(r"~([0-9a-f]+)~", lambda m: chr(int(m.group(1), 16)), token)


def topic(*parts: str, tokens: tuple[str, ...] = ()) -> str:
    """Build ``part.part....token.token`` with fixed ``parts`` and escaped variable ``tokens``."""
    for part in parts:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", part):
            raise ValueError(f"fixed topic parts are lower-case words, received {part!r}")
    return ".".join([*parts, *(escape_token(t) for t in tokens)])


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event: something that happened (past tense name)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Command:
    """Base of every command: something asked for (imperative name)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
