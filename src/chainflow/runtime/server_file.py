"""``CHAINFLOW_HOME/server.json``: how a running server tells the CLI it owns the home.

An embedded server holds the home's time-series store exclusively, so the CLI's commands
that need the store (``import``, ``train --email``, ``backtest --email``, ...) must go
through the server instead. At start the server writes this file (its base URL, its pid
and a random local admin token; mode 0600, written atomically) and removes it at a clean
stop. A file left by a killed server is stale: its pid is dead, or its URL does not
answer with the token; the CLI ignores such a file. Only the standard library is imported
here, so that reading the file costs a CLI command nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

SERVER_FILE_NAME = "server.json"
TOKEN_BYTES = 32
OWNER_ONLY = 0o600


@dataclass(frozen=True, slots=True)
class ServerFile:
    """What a running server wrote into its home."""

    url: str
    pid: int
    token: str
    home: str

    def pid_is_alive(self) -> bool:
        """Return whether a process with this file's pid exists (not that it is ours)."""
        if self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by another user
            return True
        return True


def server_file_path(home: Path) -> Path:
    """Return where the server of ``home`` writes its file."""
    return home / SERVER_FILE_NAME


def new_local_token() -> str:
    """Return a fresh random local admin token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def write_server_file(home: Path, *, url: str, token: str) -> Path:
    """Write ``server.json`` into ``home`` readable by its owner only; return its path.

    The file is created 0600 under a temporary name and renamed over any previous one, so a
    reader never sees a partial file or a moment when the token is readable by others.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = server_file_path(home)
    content = ServerFile(url=url, pid=os.getpid(), token=token, home=str(home.resolve()))
    temporary = path.with_name(f".{SERVER_FILE_NAME}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(asdict(content), out)
    os.replace(temporary, path)
    return path


def remove_server_file(home: Path, token: str) -> None:
    """Remove ``server.json`` if it is still this server's (holds ``token``)."""
    current = read_server_file(home)
    if current is not None and secrets.compare_digest(current.token, token):
        with contextlib.suppress(FileNotFoundError):
            server_file_path(home).unlink()


def read_server_file(home: Path) -> ServerFile | None:
    """Return the server file of ``home``, or None when absent or unreadable."""
    try:
        raw = json.loads(server_file_path(home).read_text(encoding="utf-8"))
        return ServerFile(
            url=str(raw["url"]),
            pid=int(raw["pid"]),
            token=str(raw["token"]),
            home=str(raw["home"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
