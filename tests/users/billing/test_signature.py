"""Notification signatures: sha512(order_id + status_code + gross_amount + server_key)."""

from __future__ import annotations

import hashlib

from chainflow.users.billing.signature import is_valid_signature, notification_signature

KEY = "SB-Mid-server-abc"


class TestSignature:
    def test_signature_is_the_documented_sha512(self) -> None:
        expected = hashlib.sha512(b"CF-1" + b"200" + b"299000.00" + KEY.encode()).hexdigest()
        assert notification_signature("CF-1", "200", "299000.00", KEY) == expected

    def test_only_the_exact_fields_and_key_verify(self) -> None:
        good = notification_signature("CF-1", "200", "299000.00", KEY)
        fields = {"order_id": "CF-1", "status_code": "200", "gross_amount": "299000.00"}
        assert is_valid_signature(**fields, signature_key=good, server_key=KEY)
        assert is_valid_signature(**fields, signature_key=good.upper(), server_key=KEY)
        assert not is_valid_signature(**fields, signature_key=good, server_key=KEY + "x")
        tampered = {**fields, "gross_amount": "1.00"}
        assert not is_valid_signature(**tampered, signature_key=good, server_key=KEY)

    def test_an_empty_server_key_verifies_nothing(self) -> None:
        fields = {"order_id": "CF-1", "status_code": "200", "gross_amount": "1.00"}
        forged = notification_signature("CF-1", "200", "1.00", "")
        assert not is_valid_signature(**fields, signature_key=forged, server_key="")
