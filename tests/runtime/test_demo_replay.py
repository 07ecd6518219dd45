"""``chainflow demo`` is reproducible: two runs give the same signals, trades and account."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from chainflow.demo.command import DemoOptions, run_demo
from chainflow.demo.view import DemoState, render


def _results(state: DemoState) -> dict[str, Any]:
    """What two runs must share: no timing, ids or the week the market was shifted to."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: v - state.offset_ms if k.endswith("ts") and isinstance(v, int) else plain(v)
                for k, v in value.items()
                if k not in ("latency_ms", "id") and not k.endswith("signal_id")
            }
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    paper = state.paper or {}
    return {
        "decisions": state.decisions,
        "issued": plain(state.issued),
        "account": plain(paper.get("account")),
        "positions": plain(paper.get("positions")),
        "trades": plain(paper.get("trades")),
        "attribution": plain(state.attribution),
    }


class TestRunDemo:
    async def test_two_runs_give_the_same_signals_trades_and_account(self) -> None:
        # Seven minutes of the default three symbols at full speed: the replay closes the
        # last history bar and the first replayed bar, whose signals open paper positions.
        options = DemoOptions(minutes=7, speed=None, tune_gc=False)
        runs = []
        for _ in range(2):
            state = await run_demo(options, Console(file=io.StringIO(), width=140))
            assert state.unsettled == 0
            runs.append(_results(state))
        first, second = runs
        assert len(first["decisions"]) == runs[0]["decisions"][-1][0] > 100  # one per tick
        assert first["issued"] and first["positions"]  # bar-close signals were paper-traded
        for part in first:
            assert first[part] == second[part], part


class TestRender:
    def test_latency_column_says_it_is_the_servers(self) -> None:
        console = Console(width=160, record=True)
        console.print(render(DemoState(total_ticks=0, symbols={})))
        assert "server latency" in console.export_text()
