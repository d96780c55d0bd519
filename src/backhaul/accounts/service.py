"""Account use cases: users, API keys, sign-in with lock-out, and resolving who is acting."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from pwdlib import PasswordHash
from sqlalchemy import select
from sqlalchemy.orm import Session

from backhaul.accounts.models import ApiKey, User
from backhaul.accounts.schemas import ApiKeyIn, UserIn
from backhaul.catalog.models import Brand, Site, SiteKind
from backhaul.db import after_commit, utcnow
from backhaul.kit.auth import Actor, Role
from backhaul.kit.changes import record_change
from backhaul.kit.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from backhaul.kit.visibility import visible
from backhaul.settings import get_settings

_hasher = PasswordHash.recommended()


@cache
def _dummy_hash() -> str:
    """A hash to check unknown users' passwords against. Made at the first sign-in (of anyone:
    `login` asks for it before looking the user up, so the first attempt costs the same for a
    known and an unknown name), not at import: an Argon2 hash takes 0.2 s and 64 MiB (its
    memory cost), which every server process paid at start-up and kept in its peak RSS, even
    when no one ever signs in (an API-only server)."""
    return _hasher.hash("not-a-real-password")


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
    # An empty scope means "all": someone limited to some brands or sites may not grant that.
    if actor.brand_ids is not None and not brand_rows:
        raise ValidationFailed(
            "your access is limited to some brands: name the brands to grant", field="brands"
        )
    if actor.site_ids is not None and not site_rows:
        raise ValidationFailed(
            "your access is limited to some sites: name the sites to grant", field="sites"
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
        after_commit(session, forget_cached_tokens)
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


class _TokenCache:
    """Tokens this process resolved lately: token hash → (actor, monotonic expiry).

    Resolving a token from the database (key, user, brand and site scope: four queries) was
    an eighth of the server's time per API request. A resolved actor is reused for at most
    `TOKEN_CACHE_SECONDS`. Revocation stays prompt: a key revoked through this process is
    dropped when the revoking transaction commits (a generation counter keeps a lookup that
    raced with the revocation from putting the old answer back), and one revoked elsewhere (the
    CLI, another worker) stops working here within `TOKEN_CACHE_SECONDS`. Only successful
    lookups are kept, keyed by the token's SHA-256 (never the token itself), and the cache
    holds at most `TOKEN_CACHE_SIZE` entries.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Actor, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, token_hash: str) -> Actor | None:
        entry = self._entries.get(token_hash)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def put(self, token_hash: str, actor: Actor, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # something was revoked while we looked: do not keep a stale answer
            if len(self._entries) >= TOKEN_CACHE_SIZE:
                self._entries.clear()
            self._entries[token_hash] = (actor, time.monotonic() + TOKEN_CACHE_SECONDS)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


TOKEN_CACHE_SECONDS = 2.0
TOKEN_CACHE_SIZE = 10_000
_token_cache = _TokenCache()


def forget_cached_tokens() -> None:
    """Drop every cached token (on revocation; call it when a user's role or scope changes)."""
    _token_cache.clear()


def cached_actor_for_token(token: str) -> Actor | None:
    """The actor for a token resolved within the last `TOKEN_CACHE_SECONDS`, else None."""
    return _token_cache.get(_token_hash(token)) if _TOKEN_SHAPE.fullmatch(token) else None


def actor_for_token(session: Session, token: str) -> Actor:
    """Resolve a bearer token into the acting service user, or raise NotAuthenticated."""
    if not _TOKEN_SHAPE.fullmatch(token):  # before any query: no odd bytes reach the database
        raise NotAuthenticated("the bearer token is not a Backhaul API key")
    token_hash = _token_hash(token)
    cached = _token_cache.get(token_hash)
    if cached is not None:
        return cached
    generation = _token_cache.generation
    parts = token.removeprefix(TOKEN_PREFIX).split("_", 1)
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == parts[0])).first()
    if (
        key is None
        or key.revoked_at is not None
        or not key.user.is_active
        or not hmac.compare_digest(key.token_hash, token_hash)
    ):
        raise NotAuthenticated("the API key is unknown or revoked")
    actor = actor_for(key.user, via="key")
    _token_cache.put(token_hash, actor, generation)
    return actor


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a sign-in attempt; failures are returned, not raised, so they are kept."""

    user: User | None
    error: str | None = None


def login(session: Session, username: str, password: str) -> LoginResult:
    """Check a password; lock the account for a while after too many failures in a row."""
    settings = get_settings()
    dummy = _dummy_hash()
    user = session.scalars(
        select(User).where(User.username == username.strip().lower(), User.is_service.is_(False))
    ).first()
    generic = "unknown user name or wrong password"
    if user is None or user.password_hash is None:
        _hasher.verify(password, dummy)  # same work as a real check: no user enumeration
        return LoginResult(None, generic)
    now = utcnow()
    system = Actor(
        user_id=None, username="web", display_name="Sign-in", role=Role.admin, via="system"
    )
    if user.locked_until is not None and user.locked_until > now:
        # Refused unchecked, but kept: attempts against a locked account are worth seeing.
        record_change(
            session,
            system,
            "user.login_failed",
            "user",
            user.username,
            None,
            {"locked": True, "while_locked": True},
            emit=False,
        )
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60))
        return LoginResult(None, f"too many failed attempts: try again in {minutes} min")
    if not user.is_active or not _hasher.verify(password, user.password_hash):
        user.failed_logins += 1
        locked = user.failed_logins >= settings.login_max_failures
        if locked:
            user.locked_until = now + timedelta(seconds=settings.login_lockout_seconds)
            user.failed_logins = 0
        session.flush()
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
