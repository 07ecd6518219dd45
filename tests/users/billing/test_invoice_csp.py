"""The invoice HTML page is styled under the API's content security policy: its route sends
a policy of its own that allows exactly the page's inline stylesheet, by its SHA-256, and
nothing else (the API's ``default-src 'none'`` alone would leave the page unstyled)."""

from __future__ import annotations

import base64
import hashlib
import re

from tests.users.billing.conftest import BillingHarness


class TestInvoicePagePolicy:
    async def test_the_policy_hashes_exactly_the_pages_stylesheet(
        self, billing: BillingHarness
    ) -> None:
        owner = await billing.users.signup("csp@example.com")
        await billing.pay(owner)
        [invoice] = await billing.invoices(owner)
        path = f"/api/v1/billing/invoices/{invoice['id']}"

        page = await billing.client.get(path, params={"format": "html"}, headers=owner.headers)
        by_accept = await billing.client.get(path, headers={**owner.headers, "Accept": "text/html"})
        as_json = await billing.client.get(path, headers=owner.headers)

        assert page.status_code == 200, page.text
        [stylesheet] = re.findall(r"<style>(.*?)</style>", page.text, flags=re.S)
        assert "border-collapse" in stylesheet
        digest = base64.b64encode(hashlib.sha256(stylesheet.encode("utf-8")).digest()).decode()
        policy = page.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["style-src"] == f"'sha256-{digest}'"
        assert directives["default-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "script-src" not in directives and "unsafe-inline" not in policy
        assert "<script" not in page.text and "style=" not in page.text
        assert by_accept.headers["content-security-policy"] == policy
        # The JSON answer keeps the API's policy.
        assert (
            as_json.headers["content-security-policy"]
            == "default-src 'none'; frame-ancestors 'none'"
        )
        assert page.headers["x-content-type-options"] == "nosniff"
