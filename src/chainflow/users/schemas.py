"""Wire models of the users service's routes (DESIGN.md section 4).

Request models check shapes and sizes only; the rules (password policy, e-mail syntax,
ranges of trading settings, known roles and scopes) live in the service so that every
broken rule answers with its own machine code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chainflow.core.auth import Role, Scope, Tier

MAX_SECRET_LENGTH = 1024
MAX_EMAIL_INPUT = 400


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- auth ----------------------------------------------------------------------------------


class RegisterRequest(RequestModel):
    email: str = Field(max_length=MAX_EMAIL_INPUT)
    password: str = Field(max_length=MAX_SECRET_LENGTH)
    name: str | None = Field(default=None, max_length=400)


class Registered(BaseModel):
    user_id: str
    tenant_id: str
    verification_required: bool


class VerifyRequest(RequestModel):
    token: str = Field(min_length=1, max_length=MAX_SECRET_LENGTH)


class Verified(BaseModel):
    user_id: str
    email_verified: Literal[True] = True


class LoginRequest(RequestModel):
    email: str = Field(max_length=MAX_EMAIL_INPUT)
    password: str = Field(max_length=MAX_SECRET_LENGTH)


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=MAX_SECRET_LENGTH)


class TokenPairOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    session_id: str


class PasswordResetRequest(RequestModel):
    email: str = Field(max_length=MAX_EMAIL_INPUT)


class PasswordResetConfirm(RequestModel):
    token: str = Field(min_length=1, max_length=MAX_SECRET_LENGTH)
    password: str = Field(max_length=MAX_SECRET_LENGTH)


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


class SessionOut(BaseModel):
    session_id: str
    started_at: datetime
    last_refreshed_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool


class SessionsOut(BaseModel):
    items: list[SessionOut]


# --- profile -------------------------------------------------------------------------------


class ProfileOut(BaseModel):
    user_id: str
    tenant_id: str
    email: str
    role: Role
    tier: Tier
    name: str
    locale: str
    timezone: str
    email_verified: bool
    is_superadmin: bool
    limits: dict[str, Any]


class ProfilePatch(RequestModel):
    name: str | None = Field(default=None, max_length=400)
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=100)


# --- API keys ------------------------------------------------------------------------------


class ApiKeyCreate(RequestModel):
    name: str = Field(max_length=200)
    scopes: list[str] = Field(max_length=len(Scope) * 2)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[Scope]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key itself; shown this once, never again.")


class ApiKeysOut(BaseModel):
    items: list[ApiKeyOut]


# --- team ----------------------------------------------------------------------------------


class MemberOut(BaseModel):
    user_id: str
    email: str
    name: str
    role: Role
    email_verified: bool
    is_active: bool
    created_at: datetime


class MembersOut(BaseModel):
    items: list[MemberOut]


class MemberPatch(RequestModel):
    role: str = Field(max_length=32)


class InvitationCreate(RequestModel):
    email: str = Field(max_length=MAX_EMAIL_INPUT)
    role: str = Field(max_length=32)


class InvitationOut(BaseModel):
    id: str
    email: str
    role: Role
    invited_by: str
    created_at: datetime
    expires_at: datetime


class InvitationsOut(BaseModel):
    items: list[InvitationOut]


class InvitationAccept(RequestModel):
    token: str = Field(min_length=1, max_length=MAX_SECRET_LENGTH)
    password: str = Field(max_length=MAX_SECRET_LENGTH)
    name: str | None = Field(default=None, max_length=400)


class InvitationAccepted(BaseModel):
    user_id: str
    tenant_id: str
    role: Role


# --- trading settings ----------------------------------------------------------------------


class TradingSettingsPut(RequestModel):
    risk_tolerance: str = Field(max_length=32)
    max_risk_per_trade_pct: float | None = None
    max_daily_loss_pct: float | None = None
    max_drawdown_pct: float | None = None
    default_lot_size: float | None = None
    allowed_symbols: list[str] | None = Field(default=None, max_length=1000)
    leverage: int | None = None


class TradingSettingsOut(BaseModel):
    risk_tolerance: str
    max_risk_per_trade_pct: float
    max_daily_loss_pct: float
    max_drawdown_pct: float
    default_lot_size: float
    allowed_symbols: list[str]
    leverage: int
    is_default: bool


# --- administration ------------------------------------------------------------------------


class TierPut(RequestModel):
    tier: str = Field(max_length=32)


class LimitOverridesPut(RequestModel):
    overrides: dict[str, Any] = Field(
        description="TierLimits fields to override (whole numbers >= 0, or features: [...])"
    )


class TenantOut(BaseModel):
    tenant_id: str
    name: str
    tier: Tier
    limit_overrides: dict[str, Any]
    limits: dict[str, Any]


class VerificationTokenOut(BaseModel):
    user_id: str
    token: str = Field(description="The raw verification token; also sent on the bus.")
    expires_at: datetime
