"""Midtrans notification signatures: ``sha512(order_id + status_code + gross_amount + key)``.

The check runs in constant time (``hmac.compare_digest``), and an empty server key never
verifies anything: with no key anyone could compute the signature.
"""

from __future__ import annotations

import hashlib
import hmac


def notification_signature(
    order_id: str, status_code: str, gross_amount: str, server_key: str
) -> str:
    """Return the hex SHA-512 signature Midtrans puts in ``signature_key``."""
    material = f"{order_id}{status_code}{gross_amount}{server_key}".encode()
    return hashlib.sha512(material).hexdigest()


def is_valid_signature(
    *, order_id: str, status_code: str, gross_amount: str, signature_key: str, server_key: str
) -> bool:
    """Return whether ``signature_key`` is Midtrans's signature of these fields."""
    if not server_key:
        return False
    expected = notification_signature(order_id, status_code, gross_amount, server_key)
    return hmac.compare_digest(expected.encode(), signature_key.strip().lower().encode())
