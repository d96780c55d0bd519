"""Return cases in the console: the list with filters and SLA breaches, and one case with its
decision, routing, clocks and timeline, to cancel or resolve."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from backhaul.db import utcnow
from backhaul.kit.errors import Conflict, ValidationFailed
from backhaul.kit.http import DbSession
from backhaul.returns import service
from backhaul.returns.models import CaseStatus
from backhaul.web.common import CsrfChecked, PageActor, flash, render

router = APIRouter(prefix="/cases", include_in_schema=False)
Filter = Annotated[str, Form(max_length=60)]


@router.get("")
def cases(
    request: Request,
    session: DbSession,
    actor: PageActor,
    status: str = "",
    region: str = "",
    q: str = "",
    breached: str = "",
) -> Response:
    """Return cases, newest first."""
    filters = service.Filters(
        status=status if status in CaseStatus.__members__ else None,
        region=region[:8] or None,
        q=q[:254] or None,
        breached=True if breached else None,
        limit=200,
    )
    now = utcnow()
    rows = [
        (case, service.breached_clocks(session, case, now))
        for case in service.list_cases(session, actor, filters)
    ]
    return render(
        request,
        "returns_cases.html",
        actor,
        rows=rows,
        statuses=list(CaseStatus),
        filters={"status": status, "region": region, "q": q, "breached": breached},
    )


@router.get("/{rma}")
def case(request: Request, session: DbSession, actor: PageActor, rma: str) -> Response:
    """One case."""
    found = service.get_case(session, actor, rma)
    return render(request, "returns_case.html", actor, view=service.case_view(session, found))


@router.post("/{rma}/resolve", dependencies=[CsrfChecked])
def resolve(
    request: Request,
    session: DbSession,
    actor: PageActor,
    rma: str,
    outcome: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Resolve a received case."""
    found = service.get_case(session, actor, rma)
    if len(outcome.strip()) < 3:
        flash(request, "Say what the customer got (at least 3 characters).")
    else:
        try:
            service.resolve_case(session, actor, found, outcome.strip())
            flash(request, f"{found.rma} resolved; the customer gets the survey.")
        except (Conflict, ValidationFailed) as error:
            flash(request, error.detail)
    return RedirectResponse(f"/cases/{found.rma}", status_code=303)


@router.post("/{rma}/cancel", dependencies=[CsrfChecked])
def cancel(
    request: Request,
    session: DbSession,
    actor: PageActor,
    rma: str,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Cancel a case that has not shipped."""
    found = service.get_case(session, actor, rma)
    try:
        service.cancel_case(session, actor, found, reason.strip() or "cancelled by support")
        flash(request, f"{found.rma} cancelled.")
    except Conflict as error:
        flash(request, error.detail)
    return RedirectResponse(f"/cases/{found.rma}", status_code=303)
