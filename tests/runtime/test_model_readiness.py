"""``/ready``'s ``models`` section: which production model serves, or how to make one."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.api_client import logged_in_client
from tests.ml.test_service import train_and_promote


class TestReadyModels:
    async def test_no_model_is_information_and_names_the_command(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path / "home") as (http, kernel, _):
            answer = await http.get("/ready")

            assert answer.status_code == 200, answer.text  # not a broken dependency
            body = answer.json()
            assert body["status"] == "ok"
            models = body["models"]
            assert models["name"] == "fx-default" and models["production"] is None
            assert models["reason"].startswith("no production model — run `chainflow sample-data")
            assert "chainflow train --symbol EURUSD --timeframe M5" in models["reason"]
            assert "--name fx-default --promote`" in models["reason"]

            await train_and_promote(kernel, tmp_path / "home", {})
            body = (await http.get("/ready")).json()

            assert body["models"] == {
                "name": "fx-default",
                "production": "fx-default@1",
                "timeframe": "M5",
            }
