"""Installation settings, read from BACKHAUL_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set; each field is `BACKHAUL_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="BACKHAUL_", extra="ignore")

    database_url: str = Field(
        "sqlite:///./backhaul.db",
        description="SQLAlchemy URL; postgresql+psycopg://… in production",
    )
    keys_dir: Path = Field(
        Path("./.backhaul-keys"),
        description="Where the Ed25519 signing key and checkpoint log live (not in the database)",
    )
    secret_key: str | None = Field(
        None, description="Secret for session cookies; generated into keys_dir when not set"
    )
    max_body_bytes: int = Field(1_000_000, description="Largest request body accepted (413 beyond)")
    login_max_failures: int = Field(5, description="Failed logins before the account is locked")
    login_lockout_seconds: int = Field(900, description="How long a locked account stays locked")
    secure_cookies: bool = Field(False, description="Mark session cookies Secure (behind HTTPS)")
    # returns intake (portal, labels, carriers, notifications)
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL customers reach (links in emails, labels)"
    )
    smtp_url: str | None = Field(
        None,
        description="smtp://user:pass@host:port (smtps:// for TLS, ?starttls=1); unset: .eml files",
    )
    mail_dir: Path = Field(Path("./mail"), description="Where .eml files go when no SMTP is set")
    mail_from: str = Field("Backhaul Returns <returns@backhaul.invalid>", description="From:")
    uploads_dir: Path = Field(
        Path("./uploads"),
        description="Photos, stored by their SHA-256: customers' (damage claims) and units' "
        "(inspection)",
    )
    max_photo_bytes: int = Field(
        5_000_000, gt=0, description="Largest photo accepted, per file (413 beyond)"
    )
    firmware_dir: Path = Field(
        Path("./firmware"),
        description="Firmware images, stored by their SHA-256 (content-addressed)",
    )
    firmware_max_bytes: int = Field(
        512 * 1024**2, gt=0, description="Largest firmware image accepted for upload (413 beyond)"
    )
    returns_config_dir: Path | None = Field(
        None, description="Folder of return policy TOML files that replace the packaged ones"
    )
    easypost_webhook_secret: str | None = Field(
        None, description="EasyPost webhook secret (X-Hmac-Signature check); unset: refused"
    )
    # processing: R2v3 re-verification sampling of wipes (processing/reverification.py)
    reverify_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of passed wipes drawn at random for re-verification by another "
        "person (0: none, 1: every one)",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (cached; tests clear the cache to change them)."""
    return Settings()
