"""Settings of the notification hub (``CHAINFLOW_NOTIFY_*``): channels, worker, retries."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from chainflow.core.settings.areas import area

__all__ = ["NotifySettings"]


class NotifySettings(BaseSettings):
    """The notify service: channel endpoints and credentials, the delivery worker's pace."""

    model_config = area("CHAINFLOW_NOTIFY_")

    # --- e-mail (SMTP) -------------------------------------------------------------------
    smtp_host: str = Field(default="", description="SMTP server host; '' disables e-mail")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port")
    smtp_username: str = Field(default="", description="SMTP AUTH user; '' = no AUTH")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP AUTH password")
    smtp_starttls: bool = Field(default=True, description="upgrade the session with STARTTLS")
    smtp_tls_verify: bool = Field(default=True, description="verify the server's certificate")
    smtp_ca_file: str = Field(default="", description="PEM CA bundle to trust ('' = system)")
    smtp_timeout_s: float = Field(default=20.0, gt=0, description="SMTP connect/command timeout")
    email_from_address: str = Field(
        default="no-reply@chainflow.local", description="envelope and header From address"
    )
    email_from_name: str = Field(default="ChainFlow", description="default From display name")
    public_base_url: str = Field(
        default="http://localhost:8000", description="base of links in messages (unsubscribe)"
    )

    # --- delivery worker and retry policy ------------------------------------------------
    worker_enabled: bool = Field(default=True, description="run the delivery worker in-process")
    worker_poll_s: float = Field(default=0.5, gt=0, description="idle wait between claims")
    worker_batch: int = Field(default=50, ge=1, le=1000, description="rows claimed per round")
    worker_concurrency: int = Field(default=8, ge=1, le=256, description="sends in flight")
    claim_timeout_s: float = Field(
        default=300.0, gt=0, description="a 'sending' row older than this is reclaimed"
    )
    max_attempts: int = Field(default=8, ge=1, le=100, description="tries before dead-letter")
    backoff_base_s: float = Field(default=2.0, gt=0, description="first retry delay")
    backoff_max_s: float = Field(default=3600.0, gt=0, description="retry delay ceiling")
    default_locale: str = Field(default="en", description="template locale when none is set")

    # --- MT5 terminal watch --------------------------------------------------------------
    terminal_offline_min: float = Field(
        default=5.0, gt=0, le=1440, description="alert when a terminal stays away this long"
    )
    terminal_check_s: float = Field(
        default=15.0, gt=0, description="how often disconnected terminals are checked"
    )

    # --- Telegram, SMS, push (owned by the channel helpers: add fields below) ------------
    telegram_bot_token: SecretStr = Field(
        default=SecretStr(""), description="Bot API token from @BotFather; '' disables Telegram"
    )
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org", description="Bot API base URL (tests: loopback)"
    )
    telegram_bot_username: str = Field(default="", description="bot @name for t.me deep links")
    telegram_parse_mode: str = Field(
        default="HTML", pattern="^(HTML|MarkdownV2)$", description="HTML or MarkdownV2"
    )
    telegram_timeout_s: float = Field(default=10.0, gt=0, description="Bot API call timeout")
    telegram_global_rate_per_s: float = Field(default=30.0, gt=0, description="sends/s, all chats")
    telegram_chat_rate_per_s: float = Field(default=1.0, gt=0, description="sends/s per chat")
    telegram_updates: str = Field(
        default="off", pattern="^(off|polling|webhook)$", description="how bot updates arrive"
    )
    telegram_poll_timeout_s: int = Field(default=25, ge=0, le=50, description="getUpdates wait")
    telegram_webhook_secret: SecretStr = Field(
        default=SecretStr(""), description="X-Telegram-Bot-Api-Secret-Token of the webhook"
    )
    telegram_link_ttl_s: float = Field(default=900.0, gt=0, description="deep-link code lifetime")
    sms_base_url: str = Field(default="https://api.twilio.com", description="SMS provider base")
    sms_messages_path: str = Field(
        default="/2010-04-01/Accounts/{account_id}/Messages.json",
        description="POST path; {account_id} is replaced",
    )
    sms_account_id: str = Field(default="", description="account id (basic-auth user)")
    sms_auth_token: SecretStr = Field(default=SecretStr(""), description="basic-auth password")
    sms_from: str = Field(default="", description="sender number or id; '' disables SMS")
    sms_to_field: str = Field(default="To", description="form field of the recipient")
    sms_from_field: str = Field(default="From", description="form field of the sender")
    sms_body_field: str = Field(default="Body", description="form field of the text")
    sms_id_field: str = Field(default="sid", description="response JSON field of the message id")
    sms_max_chars: int = Field(default=1600, ge=1, description="longer texts are cut")
    sms_timeout_s: float = Field(default=10.0, gt=0, description="SMS request timeout")
    webpush_vapid_private_key: SecretStr = Field(
        default=SecretStr(""), description="VAPID private key (PEM or base64url); '' disables"
    )
    webpush_vapid_subject: str = Field(
        default="mailto:admin@chainflow.local", description="VAPID 'sub' claim"
    )
    webpush_ttl_s: int = Field(default=86_400, ge=0, description="push service TTL header")
    fcm_service_account_json: SecretStr = Field(
        default=SecretStr(""), description="FCM service-account JSON (contents); '' disables"
    )
    fcm_base_url: str = Field(default="https://fcm.googleapis.com", description="FCM API base")
    fcm_token_url: str = Field(
        default="https://oauth2.googleapis.com/token", description="OAuth2 token endpoint"
    )
    push_timeout_s: float = Field(default=10.0, gt=0, description="push request timeout")
