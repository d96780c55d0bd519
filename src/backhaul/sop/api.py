"""The standard operating procedure over HTTP: `GET /api/v1/products/{sku}/sop?site=HUB`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from backhaul.accounts.deps import CurrentActor
from backhaul.kit.http import PROBLEM, DbSession
from backhaul.sop import render, service

router = APIRouter(prefix="/api/v1", tags=["catalog"])


@router.get(
    "/products/{sku}/sop",
    response_class=Response,
    responses={
        200: {"content": {"text/markdown": {}, "application/pdf": {}}},
        404: {
            "description": "Unknown product or site, or outside your scope",
            "content": {PROBLEM: {}},
        },
        422: {"description": "The site is not a hub", "content": {PROBLEM: {}}},
    },
)
def product_sop(
    sku: str,
    session: DbSession,
    actor: CurrentActor,
    site: Annotated[str, Query(min_length=1, max_length=20, description="The hub's code")],
    format: Literal["markdown", "pdf"] = "markdown",
) -> Response:
    """The product's standard operating procedure at a hub, built from the configuration, with
    the check of the hub's capabilities (`X-Capabilities-Missing` lists what it lacks)."""
    built = service.procedure_for(session, actor, sku, site)
    suffix = "pdf" if format == "pdf" else "md"
    headers = {
        "X-Capabilities-Missing": ",".join(n.capability for n in built.check.missing),
        "Content-Disposition": f'inline; filename="{built.file_stem}.{suffix}"',
    }
    if format == "pdf":
        return Response(render.pdf(built), media_type="application/pdf", headers=headers)
    return Response(
        render.markdown(built), media_type="text/markdown; charset=utf-8", headers=headers
    )
