"""``chainflow replay``: the summary says why the server held (no production model: how to
make one), against a real server on loopback."""

from __future__ import annotations

from pathlib import Path

from chainflow.client.replay import ReplaySummary, replay_file, summary_lines
from chainflow.demo.server import DemoServer, create_account

NO_MODEL = "no production model — run `chainflow sample-data"


def _tick_file(path: Path, count: int) -> Path:
    rows = ["<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>"]
    for i in range(count):
        bid = 1.08 + (i % 5) * 1e-5
        rows.append(f"2024.03.04\t10:00:{i:02d}.000\t{bid:.5f}\t{bid + 0.0001:.5f}\t\t\t6")
    path.write_text("\n".join(rows) + "\n")
    return path


class TestReplayFile:
    async def test_without_a_model_the_summary_names_the_command(self, tmp_path: Path) -> None:
        server = DemoServer(tmp_path / "home")
        await server.start()
        try:
            account = await create_account(server, email="replay@example.com")
            summary = await replay_file(
                _tick_file(tmp_path / "EURUSD_ticks.tsv", 30),
                f"{server.ws_base_url}/ws/ticks",
                account.api_key,
                "EURUSD",
                None,
                client_options={"signals_mode": "every_tick", "symbols": ("EURUSD",)},
            )
        finally:
            await server.stop()

        assert summary.acked == 30 and summary.actions == {"hold": 30}
        (reason, count), *_ = summary.hold_reasons.most_common()
        assert count == 30 and reason.startswith(NO_MODEL)
        assert reason.endswith("--name fx-default --promote`")
        lines = summary_lines(summary)
        assert "signals 30 (hold 30)" in lines[0]
        assert lines[1] == f"hold x30: {reason}"


class TestSummaryLines:
    def test_counts_actions_and_keeps_the_most_frequent_reasons(self) -> None:
        summary = ReplaySummary(total=4, sent=4, acked=4, signals=4, elapsed_s=2.0)
        for frame in (
            {"action": "hold", "reasons": ["features warming up (3 more closed bars needed)"]},
            {"action": "hold", "reasons": ["features warming up (3 more closed bars needed)"]},
            {"action": "buy", "reasons": ["p(up) 0.6"]},
            {"action": "hold", "reasons": []},
        ):
            summary.record_signal(frame)

        lines = summary_lines(summary)

        assert lines[0] == (
            "sent 4, acked 4, rejected none, signals 4 (buy 1, hold 3), reconnects 0, "
            "2 ticks/s in 2.0 s"
        )
        assert lines[1:] == ["hold x2: features warming up (3 more closed bars needed)"]
