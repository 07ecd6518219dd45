"""Renewals paid through Midtrans Payment Links (``POST /v1/payment-links``).

A renewal order becomes a link the payer can open from the reminder e-mail for as long as
the subscription can still be saved: the renewal lead time plus the grace period. The link
carries the order's own ``transaction_details``, ``item_details`` and ``customer_details``
and can be paid once (``usage_limit`` 1).

Midtrans names the transaction a link's payment makes after the link's order id with a
suffix (``CF-<id>-1658897316``): ``stored_order_id`` maps the id of a notification back to
the order it pays. The notification is confirmed against the Core API status of the id as
notified, so the suffix gives nothing away that Midtrans does not vouch for.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

# Midtrans writes expiry start times in Jakarta time, e.g. "2022-04-01 18:00 +0700".
JAKARTA = timezone(timedelta(hours=7))
EXPIRY_UNIT = "days"
_PURCHASE_ID = re.compile(r"^(CF-[0-9a-f]{32})(?:-[0-9]+)+$")


def stored_order_id(notified_order_id: str) -> str:
    """Return the id of the order a notification is about: a Payment Link purchase's
    ``<order id>-<suffix>`` maps to ``<order id>``; any other id is returned as it is."""
    match = _PURCHASE_ID.match(notified_order_id)
    return match.group(1) if match else notified_order_id


def expiry_start(now: datetime) -> str:
    """Return ``now`` as a Payment Link ``expiry.start_time`` (minutes, Jakarta offset)."""
    return now.astimezone(JAKARTA).strftime("%Y-%m-%d %H:%M %z")


def payment_link_payload(
    order_payload: dict[str, Any], *, title: str, now: datetime, valid_days: int
) -> dict[str, Any]:
    """Return the body of ``POST /v1/payment-links`` for an order whose Snap body is
    ``order_payload`` (the same details; paid once; open for ``valid_days`` from ``now``)."""
    return {
        "transaction_details": dict(order_payload["transaction_details"]),
        "item_details": list(order_payload["item_details"]),
        "customer_details": dict(order_payload["customer_details"]),
        "usage_limit": 1,
        "expiry": {
            "start_time": expiry_start(now),
            "duration": max(1, valid_days),
            "unit": EXPIRY_UNIT,
        },
        "title": title[:100],
    }
