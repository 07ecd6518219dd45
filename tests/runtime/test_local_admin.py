"""The local admin token: loopback only, not relayed, compared whole; stale files ignored."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chainflow.cli.local_server import find_server
from chainflow.runtime.local_admin import LocalAdminGuard, LocalAdminRefused, LocalTokenInvalid
from chainflow.runtime.server import local_url
from chainflow.runtime.server_file import (
    new_local_token,
    read_server_file,
    remove_server_file,
    server_file_path,
    write_server_file,
)
from tests.fixtures.processes import free_port

TOKEN = new_local_token()


class TestGuard:
    @pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1"])
    def test_the_token_from_loopback_is_accepted(self, peer: str) -> None:
        LocalAdminGuard(TOKEN).check(peer, f"Bearer {TOKEN}", relayed=False)

    @pytest.mark.parametrize("peer", ["192.168.1.10", "10.0.0.1", "2001:db8::1", "", None, "x"])
    def test_the_token_from_another_address_is_refused(self, peer: str | None) -> None:
        with pytest.raises(LocalAdminRefused):
            LocalAdminGuard(TOKEN).check(peer, f"Bearer {TOKEN}", relayed=False)

    def test_a_relayed_request_is_refused_even_from_loopback(self) -> None:
        with pytest.raises(LocalAdminRefused):
            LocalAdminGuard(TOKEN).check("127.0.0.1", f"Bearer {TOKEN}", relayed=True)

    @pytest.mark.parametrize(
        "header",
        [None, "", "Bearer", f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}", f"{TOKEN}"],
        ids=["none", "empty", "scheme-only", "basic", "truncated", "no-scheme"],
    )
    def test_anything_but_the_whole_token_is_refused(self, header: str | None) -> None:
        with pytest.raises(LocalTokenInvalid):
            LocalAdminGuard(TOKEN).check("127.0.0.1", header, relayed=False)


class TestServerFile:
    def test_written_owner_only_and_removed_only_by_its_server(self, tmp_path: Path) -> None:
        path = write_server_file(tmp_path, url="http://127.0.0.1:1", token=TOKEN)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        file = read_server_file(tmp_path)
        assert file is not None and file.pid == os.getpid() and file.token == TOKEN
        remove_server_file(tmp_path, "another server's token")
        assert path.exists()
        remove_server_file(tmp_path, TOKEN)
        assert not path.exists()

    def test_a_dead_pid_or_a_silent_url_is_stale(self, tmp_path: Path) -> None:
        write_server_file(tmp_path, url=f"http://127.0.0.1:{free_port()}", token=TOKEN)
        assert find_server(tmp_path) is None  # live pid, nothing listening
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        raw = (
            server_file_path(tmp_path)
            .read_text()
            .replace(f'"pid": {os.getpid()}', f'"pid": {int(dead.stdout)}')
        )
        server_file_path(tmp_path).write_text(raw)
        file = read_server_file(tmp_path)
        assert file is not None and not file.pid_is_alive()
        assert find_server(tmp_path) is None

    def test_an_unreadable_file_is_ignored(self, tmp_path: Path) -> None:
        server_file_path(tmp_path).write_text("{not json")
        assert read_server_file(tmp_path) is None and find_server(tmp_path) is None


class TestLocalUrl:
    @pytest.mark.parametrize(
        ("host", "url"),
        [
            ("127.0.0.1", "http://127.0.0.1:8000"),
            ("0.0.0.0", "http://127.0.0.1:8000"),
            ("::", "http://127.0.0.1:8000"),
            ("::1", "http://[::1]:8000"),
            ("localhost", "http://localhost:8000"),
        ],
    )
    def test_a_process_on_this_machine_reaches_the_bound_server(self, host: str, url: str) -> None:
        assert local_url(host, 8000) == url
