"""Account input and output shapes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from backhaul.catalog.schemas import Code, Name, SiteCode
from backhaul.kit.auth import Role
from backhaul.kit.schemas import Input, Output, ToLower

Username = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,79}$", strip_whitespace=True, to_lower=True),
    ToLower,
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=200)]


class UserIn(Input):
    """A new person who signs in to the pages (and may be given API keys)."""

    username: Username
    display_name: Name
    email: (
        Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None
    ) = None
    role: Role
    password: Password
    brands: list[Code] = Field(
        default_factory=list,
        max_length=50,
        description="Brand codes this user is limited to; empty: all",
    )
    sites: list[SiteCode] = Field(
        default_factory=list,
        max_length=50,
        description="Site codes this user is limited to; empty: all",
    )


class UserOut(Output):
    """A user as the API shows it."""

    username: str
    display_name: str
    email: str | None
    role: Role
    is_active: bool
    is_service: bool
    brands: list[str]
    sites: list[str]


class ApiKeyIn(Input):
    """A new API key with its own role and scope."""

    name: Name
    role: Role
    brands: list[Code] = Field(default_factory=list, max_length=50)
    sites: list[SiteCode] = Field(default_factory=list, max_length=50)


class ApiKeyOut(Output):
    """A freshly created key: the token appears here once and is never shown again."""

    name: str
    prefix: str
    role: Role
    token: str
