"""``chainflow notify``: preferences shown and changed, a test e-mail through a real SMTP
server on loopback, the delivery log, and clean failures on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainflow.cli import app
from tests.fixtures.settings import register_embedded_user
from tests.notify.peers.smtp import PASSWORD, USERNAME, SmtpServer, smtp_server

runner = CliRunner()
EMAIL = "ops@example.com"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAINFLOW_HOME", str(tmp_path / "home"))
    for name in ("DATABASE_URL", "TIMESERIES_URL", "CACHE_URL", "BUS_URL", "ENV"):
        monkeypatch.delenv(f"CHAINFLOW_{name}", raising=False)
    register_embedded_user(tmp_path / "home", EMAIL)
    return tmp_path / "home"


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        for name, value in {
            "SMTP_HOST": server.host,
            "SMTP_PORT": str(server.port),
            "SMTP_USERNAME": USERNAME,
            "SMTP_PASSWORD": PASSWORD,
            "SMTP_CA_FILE": str(server.ca_file),
            "EMAIL_FROM_ADDRESS": "alerts@chainflow.test",
        }.items():
            monkeypatch.setenv(f"CHAINFLOW_NOTIFY_{name}", value)
        yield server


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["notify", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def as_json(*args: str) -> dict[str, object]:
    code, output = invoke(*args, "--json")
    assert code == 0, output
    parsed: dict[str, object] = json.loads(output)
    return parsed


class TestPrefs:
    def test_show_defaults_then_set_persists(self, home: Path) -> None:
        shown = as_json("prefs", "show", "--email", EMAIL)
        assert shown["email"] == EMAIL and shown["timezone"] == "UTC"
        preferences = shown["preferences"]
        assert isinstance(preferences, dict)
        assert preferences["default_channels"] == ["email", "telegram"]

        changed = as_json(
            "prefs",
            "set",
            "--email",
            EMAIL,
            "--event",
            "terminal_disconnected",
            "--channel",
            "telegram",
            "--off",
            "--min-severity",
            "warning",
            "--quiet-hours",
            "22:00-07:00",
            "--tz",
            "Asia/Jakarta",
            "--digest",
            "daily",
        )
        assert changed["timezone"] == "Asia/Jakarta"
        stored = as_json("prefs", "show", "--email", EMAIL)
        assert stored["timezone"] == "Asia/Jakarta"
        preferences = stored["preferences"]
        assert isinstance(preferences, dict)
        assert preferences["events"] == {"terminal_disconnected": ["email"]}
        assert preferences["min_severity"] == "warning"
        assert preferences["quiet_hours"] == {"start": "22:00:00", "end": "07:00:00"}
        assert preferences["digest"] == "daily"
        effective = stored["effective"]
        assert isinstance(effective, dict)
        assert effective["terminal_disconnected"] == ["email"]
        assert effective["new_sign_in"] == ["email", "telegram"]

    def test_mute_an_event_and_human_output(self, home: Path) -> None:
        muted = as_json("prefs", "set", "--email", EMAIL, "--event", "backtest_finished", "--off")
        effective = muted["effective"]
        assert isinstance(effective, dict) and effective["backtest_finished"] == []
        code, output = invoke("prefs", "show", "--email", EMAIL)
        assert code == 0, output
        assert f"home: {home.resolve()}" in output
        assert "backtest_finished" in output and "muted" in output
        assert "quiet hours: off" in output

    @pytest.mark.parametrize(
        ("args", "named"),
        [
            (["--quiet-hours", "25:00-07:00"], "25:00-07:00"),
            (["--event", "nope", "--channel", "email", "--on"], "'nope'"),
            (["--channel", "fax", "--on"], "'fax'"),
            (["--channel", "email"], "--on or --off"),
            (["--tz", "Mars/Olympus"], "Mars/Olympus"),
            (["--digest", "weekly"], "'weekly'"),
            (["--min-severity", "loud"], "'loud'"),
            ([], "at least one change"),
        ],
    )
    def test_bad_input_exits_2_naming_the_value(
        self, home: Path, args: list[str], named: str
    ) -> None:
        code, output = invoke("prefs", "set", "--email", EMAIL, *args)
        assert code == 2, output
        assert named in output and "Traceback" not in output

    def test_unknown_account_and_tier_refusal_exit_1(self, home: Path) -> None:
        code, output = invoke("prefs", "show", "--email", "nobody@example.com")
        assert code == 1
        assert f"no account for nobody@example.com in home {home.resolve()}" in output
        code, output = invoke("prefs", "set", "--email", EMAIL, "--channel", "sms", "--on")
        assert code == 1 and "SMS" in output  # the free tier has no SMS

    def test_no_database_in_home_is_not_created(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CHAINFLOW_HOME", str(tmp_path / "empty"))
        monkeypatch.delenv("CHAINFLOW_DATABASE_URL", raising=False)
        code, output = invoke("prefs", "show", "--email", EMAIL)
        assert code == 1 and "no database there" in output
        assert not (tmp_path / "empty").exists()


class TestTestAndLog:
    def test_test_email_arrives_and_is_logged(self, home: Path, smtp: SmtpServer) -> None:
        code, output = invoke("test", "--email", EMAIL, "--channel", "email")
        assert code == 0, output
        assert f"test to {EMAIL} on email: sent" in output
        [mail] = smtp.sink.messages
        assert mail.rcpt_tos == [EMAIL] and mail.authenticated_as == USERNAME

        log = as_json("log", "--email", EMAIL, "--state", "sent")
        items = log["items"]
        assert isinstance(items, list)
        assert [(i["event_type"], i["channel"], i["state"]) for i in items] == [
            ("test", "email", "sent")
        ]
        code, output = invoke("log", "--email", EMAIL)
        assert code == 0 and "test" in output and "sent" in output

    def test_unconfigured_channel_and_bad_flags(self, home: Path, smtp: SmtpServer) -> None:
        code, output = invoke("test", "--email", EMAIL, "--channel", "telegram")
        assert code == 1 and "'telegram'" in output
        code, output = invoke("test", "--email", EMAIL, "--channel", "pigeon")
        assert code == 2 and "'pigeon'" in output
        code, output = invoke("log", "--email", EMAIL, "--state", "lost")
        assert code == 2 and "'lost'" in output
        assert smtp.sink.messages == []


@pytest.mark.parametrize(
    "command", [["notify"], ["notify", "prefs", "set"], ["notify", "test"], ["notify", "log"]]
)
def test_help_names_the_flags_without_type_noise(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    if command[-1] == "set":
        for flag in ("--on / --off", "--quiet-hours", "--tz", "--digest", "--min-severity"):
            assert flag in result.output
