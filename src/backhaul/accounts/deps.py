"""Who is calling: the bearer-token actor for the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backhaul.accounts.service import actor_for_token
from backhaul.kit.auth import Actor
from backhaul.kit.errors import NotAuthenticated
from backhaul.kit.http import DbSession

_bearer = HTTPBearer(auto_error=False, description="A token from `backhaul keys create`")


def _api_actor(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated(
            "send 'Authorization: Bearer <token>'; create a token with 'backhaul keys create'"
        )
    return actor_for_token(session, credentials.credentials)


CurrentActor = Annotated[Actor, Depends(_api_actor)]
