"""Account use cases: users, API keys, sign-in with lock-out, and resolving who is acting."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from pwdlib import PasswordHash
from sqlalchemy import select
from sqlalchemy.orm import Session

from backhaul.accounts.models import ApiKey, User
from backhaul.accounts.schemas import ApiKeyIn, UserIn
from backhaul.catalog.models import Brand, Site, SiteKind
from backhaul.db import utcnow
from backhaul.kit.auth import Actor, Role
from backhaul.kit.changes import record_change
from backhaul.kit.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from backhaul.kit.visibility import visible
from backhaul.settings import get_settings

_hasher = PasswordHash.recommended()
_DUMMY_HASH = _hasher.hash("not-a-real-password")
TOKEN_PREFIX = "bhk_"
_TOKEN_SHAPE = re.compile(r"bhk_[0-9a-f]{12}_[A-Za-z0-9_-]{1,200}")


def actor_for(user: User, via: str = "user") -> Actor:
    """The Actor a user acts as: their role, and their brand and site scope (None = all)."""
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        brand_ids=frozenset(b.id for b in user.brands) if user.brands else None,
        site_ids=frozenset(s.id for s in user.sites) if user.sites else None,
        via=via,
    )


def _scope(
    session: Session, actor: Actor, role: Role, brands: list[str], sites: list[str]
) -> tuple[list[Brand], list[Site]]:
    brand_rows = (
        list(session.scalars(visible(actor, select(Brand), Brand).where(Brand.code.in_(brands))))
        if brands
        else []
    )
    site_rows = (
        list(session.scalars(visible(actor, select(Site), Site).where(Site.code.in_(sites))))
        if sites
        else []
    )
    missing_brands = set(brands) - {b.code for b in brand_rows}
    if missing_brands:
        raise ValidationFailed(
            f"unknown brand(s): {', '.join(sorted(missing_brands))}", field="brands"
        )
    missing_sites = set(sites) - {s.code for s in site_rows}
    if missing_sites:
        raise ValidationFailed(
            f"unknown site(s): {', '.join(sorted(missing_sites))}", field="sites"
        )
    if role in (Role.technician, Role.partner) and not site_rows:
        raise ValidationFailed(f"a {role.value} must be scoped to at least one site", field="sites")
    if role is Role.partner and any(s.kind is SiteKind.hub for s in site_rows):
        raise ValidationFailed(
            "a partner is scoped to repair-partner or recycler sites, not hubs", field="sites"
        )
    return brand_rows, site_rows


def create_user(session: Session, actor: Actor, data: UserIn) -> User:
    """Add a person with a role, a password and an optional brand/site scope."""
    actor.require("users.manage")
    if session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise Conflict(f"user '{data.username}' already exists", field="username")
    brands, sites = _scope(session, actor, data.role, data.brands, data.sites)
    user = User(
        username=data.username,
        display_name=data.display_name,
        email=data.email,
        role=data.role,
        password_hash=_hasher.hash(data.password),
        is_active=True,
        is_service=False,
        failed_logins=0,
        brands=brands,
        sites=sites,
    )
    session.add(user)
    session.flush()
    record_change(session, actor, "user.created", "user", user.username, None, user.snapshot())
    return user


def list_users(session: Session, actor: Actor) -> list[User]:
    """Every user and service user, for admins."""
    actor.require("users.manage")
    return list(session.scalars(select(User).order_by(User.username)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_key(session: Session, actor: Actor, data: ApiKeyIn) -> tuple[ApiKey, str]:
    """Mint a key with its own service user; returns the key and the token (shown once)."""
    actor.require("keys.manage")
    brands, sites = _scope(session, actor, data.role, data.brands, data.sites)
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    user = User(
        username=f"key-{prefix}",
        display_name=data.name,
        role=data.role,
        password_hash=None,
        is_active=True,
        is_service=True,
        failed_logins=0,
        brands=brands,
        sites=sites,
    )
    key = ApiKey(prefix=prefix, token_hash=_token_hash(token), name=data.name, user=user)
    session.add_all([user, key])
    session.flush()
    record_change(
        session,
        actor,
        "api_key.created",
        "api_key",
        prefix,
        None,
        {"name": data.name, **user.snapshot()},
    )
    return key, token


def revoke_api_key(session: Session, actor: Actor, prefix: str) -> ApiKey:
    """Stop a key from working, for good."""
    actor.require("keys.manage")
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None:
        raise NotFound(f"no API key '{prefix}'")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        record_change(
            session,
            actor,
            "api_key.revoked",
            "api_key",
            prefix,
            {"revoked": False},
            {"revoked": True},
        )
    return key


def actor_for_token(session: Session, token: str) -> Actor:
    """Resolve a bearer token into the acting service user, or raise NotAuthenticated."""
    if not _TOKEN_SHAPE.fullmatch(token):  # before any query: no odd bytes reach the database
        raise NotAuthenticated("the bearer token is not a Backhaul API key")
    parts = token.removeprefix(TOKEN_PREFIX).split("_", 1)
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == parts[0])).first()
    if (
        key is None
        or key.revoked_at is not None
        or not key.user.is_active
        or not hmac.compare_digest(key.token_hash, _token_hash(token))
    ):
        raise NotAuthenticated("the API key is unknown or revoked")
    return actor_for(key.user, via="key")


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a sign-in attempt; failures are returned, not raised, so they are kept."""

    user: User | None
    error: str | None = None


def login(session: Session, username: str, password: str) -> LoginResult:
    """Check a password; lock the account for a while after too many failures in a row."""
    settings = get_settings()
    user = session.scalars(
        select(User).where(User.username == username.strip().lower(), User.is_service.is_(False))
    ).first()
    generic = "unknown user name or wrong password"
    if user is None or user.password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)  # same work as a real check: no user enumeration
        return LoginResult(None, generic)
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60))
        return LoginResult(None, f"too many failed attempts: try again in {minutes} min")
    if not user.is_active or not _hasher.verify(password, user.password_hash):
        user.failed_logins += 1
        locked = user.failed_logins >= settings.login_max_failures
        if locked:
            user.locked_until = now + timedelta(seconds=settings.login_lockout_seconds)
            user.failed_logins = 0
        session.flush()
        system = Actor(
            user_id=None, username="web", display_name="Sign-in", role=Role.admin, via="system"
        )
        record_change(
            session,
            system,
            "user.login_failed",
            "user",
            user.username,
            None,
            {"locked": locked},
            emit=False,
        )
        if locked:
            return LoginResult(
                None,
                "too many failed attempts: the account is locked for "
                f"{settings.login_lockout_seconds // 60} min",
            )
        return LoginResult(None, generic)
    if user.failed_logins or user.locked_until:
        user.failed_logins, user.locked_until = 0, None
        session.flush()
    return LoginResult(user)


def get_user(session: Session, user_id: int) -> User | None:
    """An active person by id (for session cookies)."""
    user = session.get(User, user_id)
    return user if user is not None and user.is_active and not user.is_service else None
