"""The home page: what this role does here, and where to go next."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from backhaul.catalog import service as catalog
from backhaul.kit.http import DbSession
from backhaul.units import service as units
from backhaul.web.common import PageActor, render

router = APIRouter(include_in_schema=False)

ROLE_INTRO = {
    "admin": "Set up products, sites, users and keys; every change is audited.",
    "supervisor": "Watch the queues, handle exceptions and approve overrides.",
    "technician": "Units at your hub, by where they are in their lifecycle.",
    "partner": "The units sent to you, by where they are.",
    "analyst": "Look at cycle times, yield and the cost of returns.",
}


@router.get("/")
def home(request: Request, session: DbSession, actor: PageActor) -> Response:
    """A home page per role with the numbers that role cares about."""
    sites = catalog.list_sites(session, actor)
    products = catalog.list_products(session, actor)
    by_state = units.count_by_state(session, actor)
    return render(
        request,
        "home.html",
        actor,
        intro=ROLE_INTRO[actor.role.value],
        sites=sites,
        products=products,
        unit_count=sum(by_state.values()),
        by_state=sorted(by_state.items(), key=lambda item: -item[1]),
    )
