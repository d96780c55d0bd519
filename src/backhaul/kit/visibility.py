"""The one visibility filter: every read of a scoped table goes through `visible`."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

from backhaul.kit.auth import Actor

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


class Scoped:
    """Mixin naming the columns that tie a row to a brand and/or a site.

    A row is visible when the actor's scope covers its brand (if the table names one) and its
    site (if the table names one).
    """

    brand_scope: str | None = None
    site_scope: str | None = None


def visible(actor: Actor, statement: S, model: type[Scoped], *, by_site: bool = True) -> S:
    """Restrict a SELECT over `model` to the rows inside the actor's brand and site scope.

    `by_site=False` is for intake, where a unit arrives from outside any site: the brand scope
    still applies, and the caller checks the receiving site against the actor's sites.
    """
    if model.brand_scope and actor.brand_ids is not None:
        statement = statement.where(getattr(model, model.brand_scope).in_(actor.brand_ids))
    if by_site and model.site_scope and actor.site_ids is not None:
        statement = statement.where(getattr(model, model.site_scope).in_(actor.site_ids))
    return statement
