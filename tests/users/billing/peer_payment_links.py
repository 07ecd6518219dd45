"""What the Payment Link API of the Midtrans look-alike refuses (``POST
/v1/payment-links``): the checks ``MidtransPeer`` applies before creating a link."""

from __future__ import annotations

import re
from typing import Any

# "2022-04-01 18:00 +0700": minutes and a UTC offset.
_EXPIRY_START = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} [+-]\d{4}$")
EXPIRY_UNITS = ("days", "hours", "minutes")


def payment_link_problems(body: Any) -> list[str]:
    """Return what the Payment Link API would refuse in ``body`` (nothing when valid)."""
    if not isinstance(body, dict):
        return ["request body must be a JSON object"]
    problems: list[str] = []
    details = body.get("transaction_details")
    if not isinstance(details, dict) or not isinstance(details.get("order_id"), str):
        problems.append("transaction_details.order_id is required")
        return problems
    gross = details.get("gross_amount")
    if not isinstance(gross, int) or gross < 1:
        problems.append("transaction_details.gross_amount must be a positive integer")
    items = body.get("item_details", [])
    if items and isinstance(gross, int):
        total = sum(int(i["price"]) * int(i["quantity"]) for i in items)
        if total != gross:
            problems.append("transaction_details.gross_amount is not equal to the sum")
    if any(len(str(i.get("name", ""))) > 50 for i in items):
        problems.append("item_details.name must be at most 50 characters")
    usage_limit = body.get("usage_limit", 1)
    if not isinstance(usage_limit, int) or usage_limit < 1:
        problems.append("usage_limit must be a positive integer")
    expiry = body.get("expiry")
    if expiry is not None:
        if not _EXPIRY_START.match(str(expiry.get("start_time", ""))):
            problems.append("expiry.start_time must look like 2022-04-01 18:00 +0700")
        if not isinstance(expiry.get("duration"), int) or expiry["duration"] < 1:
            problems.append("expiry.duration must be a positive integer")
        if expiry.get("unit") not in EXPIRY_UNITS:
            problems.append(f"expiry.unit must be one of {', '.join(EXPIRY_UNITS)}")
    return problems
