"""The home page: what this role does here, and where to go next."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from backhaul.catalog import service as catalog
from backhaul.kit.http import DbSession
from backhaul.kit.visibility import visible
from backhaul.units.models import Unit
from backhaul.web.common import PageActor, render

router = APIRouter(include_in_schema=False)

ROLE_INTRO = {
    "admin": "Set up products, sites, users and keys; every change is audited.",
    "supervisor": "Watch the queues, handle exceptions and approve overrides.",
    "technician": "Scan a unit to be told the next step and what counts as a pass.",
    "partner": "See the units sent to you and report what you did.",
    "analyst": "Look at cycle times, yield and the cost of returns.",
}


@router.get("/")
def home(request: Request, session: DbSession, actor: PageActor) -> Response:
    """A home page per role with the numbers that role cares about."""
    sites = catalog.list_sites(session, actor)
    products = catalog.list_products(session, actor)
    units = session.scalar(visible(actor, select(func.count()).select_from(Unit), Unit)) or 0
    return render(
        request,
        "home.html",
        actor,
        intro=ROLE_INTRO[actor.role.value],
        sites=sites,
        products=products,
        unit_count=units,
    )
