"""The promotion gate: a version goes to production only if its verdict says it beats its
baselines, or if someone forces it and says why.

Every promotion passes here (``ModelRegistry.promote``: ``chainflow models promote``, the
API's promote route, ``chainflow train --promote``, the default model of the demo). The
verdict is the one training recorded in the version's metrics (``metrics["verdict"]``,
``chainflow.ml.training.verdict``):

- ``passed``: the direction model beats every baseline on log-loss with ``p <= 0.05``;
  the version is promoted and nothing more is recorded.
- ``failed``: it does not; the promotion is refused (``ModelPromotionRefusedError``,
  HTTP 409 ``promotion_refused``) unless forced with a reason.
- ``unknown``: no verdict was recorded (versions registered before verdicts were kept, or
  by a caller that gave none). The gate cannot tell such a model from a losing one, so it
  is treated as not shown to beat its baselines: forcing with a reason is required too.
  Retraining gives it a verdict.

A forced promotion of a version the gate would refuse stores the override with the version
(``promotion_override``: ``reason``, ``by``, ``at``, the ``verdict`` status and its
``sentence`` at that moment), which every listing of the model shows. ``force`` without a
reason is refused (``InvalidInput``). Rolling back to an earlier production version is not a
promotion and is not gated: that version went through the gate (or was forced) before.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chainflow.core.errors import InvalidInput
from chainflow.ml.errors import ModelPromotionRefusedError
from chainflow.ml.registry.types import ModelVerdict, VerdictStatus

__all__ = ["MAX_REASON_LENGTH", "check_promotion", "verdict_of"]

MAX_REASON_LENGTH = 500
UNKNOWN_SENTENCE = "has no recorded verdict (trained before verdicts were kept): retrain it"
FORCE_HINT = "pass force with a reason to promote it anyway (CLI: --force --reason TEXT)"


def verdict_of(metrics: Mapping[str, Any]) -> ModelVerdict:
    """Read the verdict a version's training recorded in its ``metrics``."""
    verdict = metrics.get("verdict")
    if not isinstance(verdict, Mapping) or not isinstance(verdict.get("passed"), bool):
        return ModelVerdict(status=VerdictStatus.UNKNOWN, sentence=UNKNOWN_SENTENCE)
    sentence = verdict.get("sentence")
    status = VerdictStatus.PASSED if verdict["passed"] else VerdictStatus.FAILED
    return ModelVerdict(status=status, sentence=str(sentence or status.value))


def check_promotion(
    ref: str,
    metrics: Mapping[str, Any],
    *,
    force: bool,
    reason: str | None,
    by: str | None,
    at: datetime,
) -> dict[str, Any] | None:
    """Let ``ref`` be promoted or raise ``ModelPromotionRefusedError``; return the override
    to store when ``force`` let a version through that the gate would refuse, else None."""
    text = _reason(reason, force=force)
    verdict = verdict_of(metrics)
    if verdict.passed:
        return None
    if not force:
        raise ModelPromotionRefusedError(
            f"model {ref} was not promoted: it {verdict.sentence}; {FORCE_HINT}",
            details={
                "model": ref,
                "verdict": verdict.status.value,
                "sentence": verdict.sentence,
            },
        )
    return {
        "reason": text,
        "by": by,
        "at": at.isoformat(timespec="seconds"),
        "verdict": verdict.status.value,
        "sentence": verdict.sentence,
    }


def _reason(reason: str | None, *, force: bool) -> str | None:
    text = None if reason is None else reason.strip()
    if force and not text:
        raise InvalidInput(
            "expected a reason with force (why this model may trade although its verdict "
            "does not say it beats its baselines); received none"
        )
    if text is not None and len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(
            f"expected a reason of at most {MAX_REASON_LENGTH} characters; received {len(text)}"
        )
    return text


def operator_name() -> str:
    """Who runs a CLI command, as a forced promotion records it (``by``)."""
    try:
        return f"{getpass.getuser()} (chainflow CLI)"
    except (KeyError, OSError):  # no user name in this environment
        return "chainflow CLI"
