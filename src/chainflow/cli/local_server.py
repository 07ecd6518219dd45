"""The CLI's client of the server that owns the home (``/api/v1/local``, ``server.json``).

``find_server(home)`` returns a client when ``CHAINFLOW_HOME/server.json`` names a live
server of this home: its pid exists and its URL answers ``/api/v1/local/ping`` with the
file's token and the same home. A file whose pid is dead, whose URL does not answer, or
whose token that URL refuses (another process took the port) is stale and ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from chainflow.core.errors import ChainflowError, DependencyUnavailable
from chainflow.runtime.server_file import ServerFile, read_server_file

LOCAL_PREFIX = "/api/v1/local"
PING_TIMEOUT_S = 2.0
# Imports and reads of a large history take as long as they take: no read timeout.
WORK_TIMEOUT = httpx.Timeout(None, connect=5.0)


class LocalServerError(ChainflowError):
    """The server that owns the home refused or failed a request (``remote_code`` says why)."""

    code = "local_server_error"

    def __init__(self, remote_code: str, message: str, remote_status: int) -> None:
        super().__init__(message, details={"code": remote_code, "status": remote_status})
        self.remote_code = remote_code


class LocalServer:
    """Calls the local admin endpoints of the server that owns the home."""

    def __init__(self, file: ServerFile) -> None:
        self.url = file.url.rstrip("/")
        self.home = file.home
        self._headers = {"Authorization": f"Bearer {file.token}"}

    def get(self, path: str, params: dict[str, Any]) -> Any:
        """GET ``/api/v1/local{path}`` and return the JSON answer."""
        return self._send("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON to ``/api/v1/local{path}`` and return the JSON answer (None if empty)."""
        return self._send("POST", path, json=body)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            answer = httpx.request(
                method,
                self.url + LOCAL_PREFIX + path,
                headers=self._headers,
                timeout=WORK_TIMEOUT,
                **kwargs,
            )
        except httpx.HTTPError as e:
            raise DependencyUnavailable(
                f"expected the server at {self.url} (it owns this home) to answer; "
                f"received {type(e).__name__}: {e}"
            ) from e
        if answer.status_code >= 400:
            raise _error_of(answer)
        return answer.json() if answer.content else None


def find_server(home: Path) -> LocalServer | None:
    """Return a client of the live server that owns ``home``, or None (stale or no file)."""
    file = read_server_file(home)
    if file is None or not file.pid_is_alive():
        return None
    server = LocalServer(file)
    try:
        answer = httpx.get(
            server.url + LOCAL_PREFIX + "/ping",
            headers={"Authorization": f"Bearer {file.token}"},
            timeout=PING_TIMEOUT_S,
        )
    except httpx.HTTPError:
        return None  # the URL does not answer: stale
    if answer.status_code == 403:  # a live server of this home that refuses us
        raise _error_of(answer)
    if answer.status_code != 200:
        return None  # another process answers at that URL: stale
    if Path(str(answer.json().get("home", ""))) != home.resolve():
        return None
    return server


def _error_of(answer: httpx.Response) -> LocalServerError:
    try:
        error = answer.json()["error"]
        return LocalServerError(str(error["code"]), str(error["message"]), answer.status_code)
    except (ValueError, KeyError, TypeError):
        text = answer.text[:200]
        return LocalServerError("http_error", f"HTTP {answer.status_code}: {text}", 500)
