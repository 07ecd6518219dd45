"""What to tell a user whom no production model serves: the commands that make one.

The tick path's ``hold`` reason, ``chainflow replay``'s summary and ``/ready`` all say the
same thing, built here: the sample market's EURUSD M5 bars (``chainflow sample-data``) and a
``chainflow train ... --promote`` under the served registry name (``CHAINFLOW_ML_MODEL``),
which the server picks up within ``CHAINFLOW_ML_REFRESH_S``. Both commands run as written
on a fresh install; a user with bars of their own trains on those instead (``--data FILE``
or ``--email`` for the bars stored for their tenant).

The model these commands make has no edge (nothing trained on the sample market beats its
baselines robustly), so ``--promote`` is forced with a reason, stored with the version: the
promotion gate refuses it otherwise. The flags are the demo's default model's recipe
(``chainflow.ml.training.default_model``: a week of MT5 bars with their spread, the direction label,
3 folds, seed 7).
"""

from __future__ import annotations

SAMPLE_BARS = "sample-data/EURUSD_M5.tsv"
"""Where ``chainflow sample-data --symbols EURUSD --timeframe M5 --format mt5-bars`` writes."""
RECIPE_FLAGS = "--folds 3 --seed 7"
"""The default model's recipe as ``chainflow train`` flags (``DefaultModelRecipe``)."""


def train_model_command(model_name: str) -> str:
    """Return the shell commands that train and promote ``model_name`` on sample bars."""
    return (
        "chainflow sample-data --symbols EURUSD --days 7 --timeframe M5 --format mt5-bars && "
        f"chainflow train --symbol EURUSD --timeframe M5 --data {SAMPLE_BARS} {RECIPE_FLAGS} "
        f'--force --reason "sample market: no edge" --name {model_name} --promote'
    )


def no_model_reason(model_name: str) -> str:
    """Return the reason a ``hold`` gives when no production ``model_name`` serves."""
    return f"no production model — run `{train_model_command(model_name)}`"
