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

_bearer = HTTPBearer(auto_error=False, description="A token from `backhaul keys create`")


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated(
            "send 'Authorization: Bearer <token>'; create a token with 'backhaul keys create'"
        )
    return credentials.credentials


def _actor_in_read_transaction(token: str) -> Actor:
    with session_scope(write=False) as session:
        return actor_for_token(session, token)


async def _api_actor(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The key's actor. Async so that a token resolved moments ago (see `_TokenCache`) costs
    no trip through the thread pool. One that must be looked up is looked up in the pool, in a
    short read-only transaction of its own, never the request's: on SQLite the request's write
    transaction takes the write lock at its first statement, and holding it from this thread
    trip to the endpoint's would let requests that have the lock wait for a thread while every
    thread waits for the lock (a deadlock once the pool's 40 threads are busy). It also keeps
    the lock free while a large body (a firmware image) arrives."""
    token = _token(credentials)
    cached = cached_actor_for_token(token)
    if cached is not None:
        return cached
    return await run_in_threadpool(_actor_in_read_transaction, token)


CurrentActor = Annotated[Actor, Depends(_api_actor)]
