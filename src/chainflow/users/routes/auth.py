"""Routes of ``/api/v1/auth``: sign-up, verification, sign-in, tokens, sessions, resets.

The unauthenticated routes open a ``system=True`` unit of work: the caller's tenant is
known only once the e-mail address or the presented token has found its row. Passwords
are hashed or checked before the writing unit of work opens (argon2 must not hold
SQLite's write lock), and the attempts are throttled per address and per client
(``users.service.auth_throttle``): a locked caller gets 429 ``too_many_attempts``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission
from chainflow.storage.relational import Database
from chainflow.users.errors import EmailAlreadyRegisteredError
from chainflow.users.schemas import (
    Accepted,
    InvitationAccept,
    InvitationAccepted,
    LoginRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    Registered,
    RegisterRequest,
    SessionOut,
    SessionsOut,
    TokenPairOut,
    Verified,
    VerifyRequest,
)
from chainflow.users.service import UsersService
from chainflow.users.service.accounts import Registration, RegistrationRequest
from chainflow.users.service.auth_throttle import AuthThrottle
from chainflow.users.service.sessions import ClientInfo, Rejected, TokenPair

ProfileReader = Annotated[Principal, Depends(require_permission(Permission.PROFILE_READ))]


def _client(request: Request, throttle: AuthThrottle) -> ClientInfo:
    peer = request.client.host if request.client else None
    return ClientInfo(
        user_agent=request.headers.get("user-agent"),
        ip=throttle.client_ip(peer, request.headers.getlist("x-forwarded-for")),
    )


def _token_pair(pair: TokenPair) -> TokenPairOut:
    return TokenPairOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        session_id=pair.session_id,
    )


def build_auth_router(service: UsersService, database: Database) -> APIRouter:
    """Return the ``/auth`` routes."""
    router = APIRouter(prefix="/auth", tags=["auth"])

    @router.post(
        "/register",
        status_code=status.HTTP_201_CREATED,
        summary="Create an account and its personal tenant (free tier)",
    )
    async def register(body: RegisterRequest, request: Request) -> Registered:
        client = _client(request, service.throttle)
        prepared = await service.accounts.prepare_registration(
            body.email, body.password, body.name, ip=client.ip
        )
        registration = await _register(prepared)
        return Registered(
            user_id=registration.user_id,
            tenant_id=registration.tenant_id,
            verification_required=registration.verification_required,
        )

    @router.post("/verify", summary="Confirm an e-mail address with its verification token")
    async def verify_email(body: VerifyRequest, request: Request) -> Verified:
        client = _client(request, service.throttle)
        async with (
            service.throttle.token_redemption(client.ip),
            database.unit_of_work(system=True) as uow,
        ):
            user_id = await service.accounts.verify_email(uow, body.token)
        return Verified(user_id=user_id)

    @router.post("/login", summary="Sign in; returns an access and a refresh token")
    async def login(body: LoginRequest, request: Request) -> TokenPairOut:
        attempt = await service.sign_in.check(body.email, _client(request, service.throttle))
        async with database.unit_of_work(system=True, read_only=True) as uow:
            account = await service.sign_in.find_account(uow, attempt)
        # No transaction is open while argon2 runs.
        verified = await service.sign_in.verify(attempt, account, body.password)
        async with database.unit_of_work(system=True) as uow:
            pair = await service.sign_in.open_session(uow, verified)
        return _token_pair(pair)

    @router.post("/refresh", summary="Rotate a refresh token; returns a new token pair")
    async def refresh(body: RefreshRequest, request: Request) -> TokenPairOut:
        async with database.unit_of_work(system=True) as uow:
            outcome = await service.sessions.refresh(
                uow, body.refresh_token, _client(request, service.throttle)
            )
        if isinstance(outcome, Rejected):
            # Raised after the commit, so that a revoked family stays revoked.
            raise outcome.error
        return _token_pair(outcome)

    @router.post(
        "/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End the refresh token's session"
    )
    async def logout(body: RefreshRequest) -> Response:
        async with database.unit_of_work(system=True) as uow:
            await service.sessions.logout(uow, body.refresh_token)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/password-reset",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Send a password reset token to the address, if it has an account",
    )
    async def request_password_reset(body: PasswordResetRequest, request: Request) -> Accepted:
        client = _client(request, service.throttle)
        await service.throttle.reset_requested(body.email, client.ip)
        async with database.unit_of_work(system=True) as uow:
            await service.accounts.request_password_reset(uow, body.email)
        return Accepted()

    @router.post(
        "/password-reset/confirm",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Set a new password with a reset token; signs out every session",
    )
    async def confirm_password_reset(body: PasswordResetConfirm, request: Request) -> Response:
        client = _client(request, service.throttle)
        async with service.throttle.token_redemption(client.ip):
            new_password = await service.accounts.prepare_new_password(body.password)
            async with database.unit_of_work(system=True) as uow:
                await service.accounts.confirm_password_reset(uow, body.token, new_password)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/accept-invitation",
        status_code=status.HTTP_201_CREATED,
        summary="Join the inviting tenant with a new account",
    )
    async def accept_invitation(body: InvitationAccept, request: Request) -> InvitationAccepted:
        client = _client(request, service.throttle)
        async with (
            service.throttle.token_redemption(client.ip),
            database.unit_of_work(system=True) as uow,
        ):
            accepted = await service.team.accept(uow, body.token, body.password, body.name)
        return InvitationAccepted(
            user_id=accepted.user_id, tenant_id=accepted.tenant_id, role=accepted.role
        )

    @router.get("/sessions", summary="The caller's active sessions")
    async def list_sessions(principal: ProfileReader) -> SessionsOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            sessions = await service.sessions.list_sessions(uow, principal)
        return SessionsOut(
            items=[
                SessionOut(
                    session_id=s.session_id,
                    started_at=s.started_at,
                    last_refreshed_at=s.last_refreshed_at,
                    expires_at=s.expires_at,
                    user_agent=s.user_agent,
                    ip=s.ip,
                    current=s.is_current,
                )
                for s in sessions
            ]
        )

    @router.delete(
        "/sessions/{session_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Revoke one of the caller's sessions; its access tokens stop working at once",
    )
    async def delete_session(session_id: str, principal: ProfileReader) -> Response:
        async with database.unit_of_work(principal.tenant) as uow:
            await service.sessions.revoke_session(uow, principal, session_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    async def _register(prepared: RegistrationRequest) -> Registration:
        try:
            async with database.unit_of_work(system=True) as uow:
                return await service.accounts.register(uow, prepared)
        except EmailAlreadyRegisteredError:
            # A concurrent registration took the address first: answer as for a taken one.
            async with database.unit_of_work(system=True) as uow:
                return await service.accounts.register(uow, prepared)

    return router
