"""``chainflow serve`` killed with SIGKILL mid-delivery and restarted: nothing is lost, and
nothing is sent twice but the documented window.

The window (``notify/delivery.py``): a message the provider accepted whose row was not yet
settled ``sent`` when the process died stays ``sending``; ``claim_timeout_s`` after its
claim the restarted worker claims it again and sends it once more, with the same
idempotency key (the e-mail's ``Message-ID``). With one row per round and one send in
flight, at most that one message repeats, and only if it was the row left ``sending``.

The SMTP server (aiosmtpd on loopback) stores each message and then holds its reply, so
the kill lands while a message is received but not yet acknowledged: the window itself.
"""

from __future__ import annotations

import collections
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import server_process
from tests.notify.peers.smtp import PASSWORD, USERNAME, SmtpServer, smtp_server

QUEUED = 12
KILL_AFTER = 5  # messages received before the kill
REPLY_DELAY_S = 0.5
CLAIM_TIMEOUT_S = 2.0
DOMAIN = "chainflow.test"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path, delay_s=REPLY_DELAY_S) as server:
        yield server


def notify_env(smtp: SmtpServer) -> dict[str, str]:
    return {
        "CHAINFLOW_NOTIFY_SMTP_HOST": smtp.host,
        "CHAINFLOW_NOTIFY_SMTP_PORT": str(smtp.port),
        "CHAINFLOW_NOTIFY_SMTP_USERNAME": USERNAME,
        "CHAINFLOW_NOTIFY_SMTP_PASSWORD": PASSWORD,
        "CHAINFLOW_NOTIFY_SMTP_CA_FILE": str(smtp.ca_file),
        "CHAINFLOW_NOTIFY_EMAIL_FROM_ADDRESS": f"alerts@{DOMAIN}",
        "CHAINFLOW_NOTIFY_WORKER_BATCH": "1",
        "CHAINFLOW_NOTIFY_WORKER_CONCURRENCY": "1",
        "CHAINFLOW_NOTIFY_WORKER_POLL_S": "0.1",
        "CHAINFLOW_NOTIFY_CLAIM_TIMEOUT_S": str(CLAIM_TIMEOUT_S),
    }


def wait_for(check: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("the condition never held")


def outbox(home: Path) -> dict[str, str]:
    """Return ``{idempotency key: state}`` of every outbox row, read from the SQLite file."""
    with sqlite3.connect(home / "chainflow.db") as db:
        return dict(db.execute("SELECT idempotency_key, state FROM notification_outbox"))


def message_ids(smtp: SmtpServer) -> list[str]:
    return [str(m.message["Message-ID"]) for m in list(smtp.sink.messages)]


def key_of(message_id: str) -> str:
    assert message_id.startswith("<") and message_id.endswith(f"@{DOMAIN}>"), message_id
    return message_id[1:].split("@", 1)[0]


def test_sigkill_mid_delivery_loses_nothing_and_repeats_only_the_inflight_row(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    home = tmp_path / "home"
    env = notify_env(smtp)
    with server_process(home, env) as (base, process):
        credentials = {"email": "kim@example.com", "password": "Kill-Nine-Tests-2026!"}
        assert httpx.post(f"{base}/api/v1/auth/register", json=credentials).status_code == 201
        login = httpx.post(f"{base}/api/v1/auth/login", json=credentials)
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for _ in range(QUEUED):
            sent = httpx.post(
                f"{base}/api/v1/notifications/test", json={"channel": "email"}, headers=headers
            )
            assert sent.status_code == 202, sent.text

        wait_for(lambda: len(smtp.sink.messages) >= KILL_AFTER)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    before_restart = message_ids(smtp)
    at_kill = outbox(home)
    in_flight = {key for key, state in at_kill.items() if state == "sending"}
    assert len(at_kill) == QUEUED + 1  # the test sends and the sign-up's verification
    assert len(in_flight) <= 1  # one row per round, one send in flight
    assert len(before_restart) < QUEUED + 1, "the kill came after every delivery"

    with server_process(home, env):
        wait_for(lambda: set(outbox(home).values()) == {"sent"})

    received = collections.Counter(key_of(m) for m in message_ids(smtp))
    assert set(received) == set(at_kill)  # nothing lost
    repeated = {key for key, count in received.items() if count > 1}
    assert repeated <= in_flight  # only the row left ``sending`` may repeat...
    assert all(count <= 2 for count in received.values())  # ...and only once
    stored_before_kill = {key_of(m) for m in before_restart}
    for key in in_flight:  # it repeats exactly when the server had stored it
        assert received[key] == (2 if key in stored_before_kill else 1)
