"""Team management: invitations (an enterprise feature), members and their roles."""

from __future__ import annotations

from typing import Any

from tests.users.conftest import PASSWORD, Account, UsersHarness, bearer, error_code

INVITED_TOPIC = "users.invitation.created"


async def enterprise_owner(users: UsersHarness, email: str) -> Account:
    owner = await users.signup(email)
    root = await users.signup(f"root-{email}")
    await users.make_superadmin(root.email)
    assert (await users.set_tier(root, owner.tenant_id, "enterprise")).is_success
    return owner


async def invite(
    users: UsersHarness, inviter: Account, email: str, role: str = "trader"
) -> tuple[dict[str, Any], str]:
    response = await users.client.post(
        "/api/v1/tenant/invitations", json={"email": email, "role": role}, headers=inviter.headers
    )
    assert response.status_code == 201, response.text
    token = (await users.event(INVITED_TOPIC, invitation_id=response.json()["id"]))["token"]
    return response.json(), token


async def join(users: UsersHarness, token: str, name: str | None = None) -> dict[str, Any]:
    response = await users.client.post(
        "/api/v1/auth/accept-invitation",
        json={"token": token, "password": PASSWORD, "name": name},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


class TestInvitations:
    async def test_free_tier_cannot_invite(self, users: UsersHarness) -> None:
        owner = await users.signup("solo@example.com")
        response = await users.client.post(
            "/api/v1/tenant/invitations",
            json={"email": "friend@example.com", "role": "trader"},
            headers=owner.headers,
        )
        assert response.status_code == 403 and error_code(response) == "feature_not_in_tier"

    async def test_enterprise_invitation_is_accepted_into_the_tenant(
        self, users: UsersHarness
    ) -> None:
        owner = await enterprise_owner(users, "boss@example.com")
        invitation, token = await invite(users, owner, "Worker@Example.com", "trader")
        assert invitation["email"] == "worker@example.com" and invitation["role"] == "trader"
        assert "token" not in invitation
        joined = await join(users, token, name="Wendy")
        assert joined["tenant_id"] == owner.tenant_id and joined["role"] == "trader"
        worker = (await users.login("worker@example.com")).json()
        me = await users.client.get("/api/v1/users/me", headers=bearer(worker["access_token"]))
        assert me.json()["tenant_id"] == owner.tenant_id and me.json()["email_verified"] is True
        members = await users.client.get("/api/v1/tenant/members", headers=owner.headers)
        emails = {m["email"]: m["role"] for m in members.json()["items"]}
        assert emails == {"boss@example.com": "owner", "worker@example.com": "trader"}
        pending = await users.client.get("/api/v1/tenant/invitations", headers=owner.headers)
        assert pending.json()["items"] == []

    async def test_invitation_works_once(self, users: UsersHarness) -> None:
        owner = await enterprise_owner(users, "once@example.com")
        _, token = await invite(users, owner, "first@example.com")
        await join(users, token)
        again = await users.client.post(
            "/api/v1/auth/accept-invitation", json={"token": token, "password": PASSWORD}
        )
        assert again.status_code == 422 and error_code(again) == "invitation_used"

    async def test_expired_invitation_is_refused(self, users: UsersHarness) -> None:
        owner = await enterprise_owner(users, "late@example.com")
        _, token = await invite(users, owner, "slow@example.com")
        users.advance(7 * 86_400 + 1)
        response = await users.client.post(
            "/api/v1/auth/accept-invitation", json={"token": token, "password": PASSWORD}
        )
        assert error_code(response) == "invitation_expired"

    async def test_withdrawn_invitation_is_refused(self, users: UsersHarness) -> None:
        owner = await enterprise_owner(users, "undo@example.com")
        invitation, token = await invite(users, owner, "nope@example.com")
        deleted = await users.client.delete(
            f"/api/v1/tenant/invitations/{invitation['id']}", headers=owner.headers
        )
        assert deleted.status_code == 204
        response = await users.client.post(
            "/api/v1/auth/accept-invitation", json={"token": token, "password": PASSWORD}
        )
        assert error_code(response) == "invitation_invalid"

    async def test_address_with_an_account_cannot_accept(self, users: UsersHarness) -> None:
        owner = await enterprise_owner(users, "host@example.com")
        _, token = await invite(users, owner, "taken@example.com")
        await users.register("taken@example.com")
        response = await users.client.post(
            "/api/v1/auth/accept-invitation", json={"token": token, "password": PASSWORD}
        )
        assert response.status_code == 409 and error_code(response) == "email_already_registered"

    async def test_inviting_a_member_is_conflict(self, users: UsersHarness) -> None:
        owner = await enterprise_owner(users, "dup@example.com")
        response = await users.client.post(
            "/api/v1/tenant/invitations",
            json={"email": "dup@example.com", "role": "viewer"},
            headers=owner.headers,
        )
        assert response.status_code == 409 and error_code(response) == "already_member"

    async def test_unknown_role_is_invalid_role(self, users: UsersHarness) -> None:
        owner = await enterprise_owner(users, "roles@example.com")
        response = await users.client.post(
            "/api/v1/tenant/invitations",
            json={"email": "x@example.com", "role": "emperor"},
            headers=owner.headers,
        )
        assert response.status_code == 422 and error_code(response) == "invalid_role"


class TestChangeRole:
    async def test_role_change_applies_to_the_members_next_request(
        self, users: UsersHarness
    ) -> None:
        owner = await enterprise_owner(users, "chief@example.com")
        _, token = await invite(users, owner, "staff@example.com", "viewer")
        member_id = (await join(users, token))["user_id"]
        staff = bearer((await users.login("staff@example.com")).json()["access_token"])
        assert (await users.client.get("/api/v1/users/me", headers=staff)).json()[
            "role"
        ] == "viewer"
        changed = await users.client.patch(
            f"/api/v1/tenant/members/{member_id}", json={"role": "admin"}, headers=owner.headers
        )
        assert changed.status_code == 200 and changed.json()["role"] == "admin"
        assert (await users.client.get("/api/v1/users/me", headers=staff)).json()["role"] == "admin"

    async def test_last_owner_cannot_be_demoted(self, users: UsersHarness) -> None:
        owner = await users.signup("alone@example.com")
        response = await users.client.patch(
            f"/api/v1/tenant/members/{owner.user_id}", json={"role": "admin"}, headers=owner.headers
        )
        assert response.status_code == 409 and error_code(response) == "last_owner"

    async def test_admin_cannot_grant_or_take_the_owner_role(self, users: UsersHarness) -> None:
        owner = await enterprise_owner(users, "top@example.com")
        _, token = await invite(users, owner, "deputy@example.com", "admin")
        await join(users, token)
        deputy = bearer((await users.login("deputy@example.com")).json()["access_token"])
        demote = await users.client.patch(
            f"/api/v1/tenant/members/{owner.user_id}", json={"role": "viewer"}, headers=deputy
        )
        assert demote.status_code == 403 and error_code(demote) == "role_change_not_allowed"
        promote_invite = await users.client.post(
            "/api/v1/tenant/invitations",
            json={"email": "heir@example.com", "role": "owner"},
            headers=deputy,
        )
        assert error_code(promote_invite) == "role_change_not_allowed"

    async def test_second_owner_allows_the_first_to_step_down(self, users: UsersHarness) -> None:
        owner = await enterprise_owner(users, "old@example.com")
        _, token = await invite(users, owner, "new@example.com", "owner")
        await join(users, token)
        response = await users.client.patch(
            f"/api/v1/tenant/members/{owner.user_id}", json={"role": "admin"}, headers=owner.headers
        )
        assert response.status_code == 200 and response.json()["role"] == "admin"

    async def test_viewer_cannot_change_roles(self, users: UsersHarness) -> None:
        owner = await enterprise_owner(users, "lead@example.com")
        _, token = await invite(users, owner, "look@example.com", "viewer")
        await join(users, token)
        viewer = bearer((await users.login("look@example.com")).json()["access_token"])
        response = await users.client.patch(
            f"/api/v1/tenant/members/{owner.user_id}", json={"role": "viewer"}, headers=viewer
        )
        assert response.status_code == 403 and error_code(response) == "permission_denied"

    async def test_unknown_member_is_not_found(self, users: UsersHarness) -> None:
        owner = await users.signup("who@example.com")
        response = await users.client.patch(
            "/api/v1/tenant/members/0123456789abcdef0123456789abcdef",
            json={"role": "viewer"},
            headers=owner.headers,
        )
        assert response.status_code == 404 and error_code(response) == "member_not_found"
