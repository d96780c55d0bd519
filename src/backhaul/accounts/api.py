"""Accounts over HTTP: users and API keys (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, status

from backhaul.accounts import service
from backhaul.accounts.deps import CurrentActor
from backhaul.accounts.models import User
from backhaul.accounts.schemas import ApiKeyIn, ApiKeyOut, UserIn, UserOut
from backhaul.kit.http import DbSession

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def _user_out(user: User) -> UserOut:
    return UserOut.model_validate(user.snapshot() | {"role": user.role})


@router.get("/users", response_model=list[UserOut])
def list_users(session: DbSession, actor: CurrentActor) -> list[UserOut]:
    """Every user and key service user."""
    return [_user_out(user) for user in service.list_users(session, actor)]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(data: UserIn, session: DbSession, actor: CurrentActor) -> UserOut:
    """Add a person who signs in to the pages."""
    return _user_out(service.create_user(session, actor, data))


@router.post("/keys", response_model=ApiKeyOut, status_code=status.HTTP_201_CREATED)
def create_key(data: ApiKeyIn, session: DbSession, actor: CurrentActor) -> ApiKeyOut:
    """Mint an API key; the token is in this response and nowhere else."""
    key, token = service.create_api_key(session, actor, data)
    return ApiKeyOut(name=key.name, prefix=key.prefix, role=key.user.role, token=token)
