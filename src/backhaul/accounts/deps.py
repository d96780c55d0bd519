"""Who is calling: the bearer-token actor for the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from backhaul.accounts.service import actor_for_token, cached_actor_for_token
from backhaul.db import session_scope
from backhaul.kit.auth import Actor
from backhaul.kit.errors import NotAuthenticated
from backhaul.kit.http import DbSession

_bearer = HTTPBearer(auto_error=False, description="A token from `backhaul keys create`")


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated(
            "send 'Authorization: Bearer <token>'; create a token with 'backhaul keys create'"
        )
    return credentials.credentials


async def _api_actor(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The key's actor. Async so that a token resolved moments ago (see `_TokenCache`) costs
    no trip through the thread pool; one that must be looked up is looked up in the pool, as a
    plain `def` dependency would be, so the event loop never waits on the database."""
    token = _token(credentials)
    cached = cached_actor_for_token(token)
    if cached is not None:
        return cached
    return await run_in_threadpool(actor_for_token, session, token)


CurrentActor = Annotated[Actor, Depends(_api_actor)]


def _actor_in_read_transaction(token: str) -> Actor:
    with session_scope(write=False) as session:
        return actor_for_token(session, token)


async def _actor_before_body(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The key's actor, looked up in a short read-only transaction of its own: for routes that
    take a large body before they write, so no write transaction (on SQLite: the write lock) is
    held while the body arrives."""
    token = _token(credentials)
    cached = cached_actor_for_token(token)
    if cached is not None:
        return cached
    return await run_in_threadpool(_actor_in_read_transaction, token)


ActorBeforeBody = Annotated[Actor, Depends(_actor_before_body)]
