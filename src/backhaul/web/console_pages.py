"""The supervisor's console (queues per position and site, overdue and quarantined units, the
exception queue, route overrides with a written reason) and the stock page with filters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from backhaul.db import utcnow
from backhaul.inventory import service as inventory
from backhaul.kit.auth import Actor
from backhaul.kit.errors import DomainError, Forbidden, NotAuthenticated
from backhaul.kit.http import DbSession
from backhaul.processing import queues, reverification, service
from backhaul.processing.lifecycle import Route, Step
from backhaul.processing.schemas import DispositionIn
from backhaul.processing.states import State
from backhaul.web.common import CsrfChecked, PageActor, flash, render

router = APIRouter(include_in_schema=False)
FormText = Annotated[str, Form(max_length=1000)]
# Where a supervisor may override a route: anywhere the disposition step is allowed.
OVERRIDABLE = (
    State.graded,
    State.test_failed,
    State.firmware_failed,
    State.inspection_failed,
    State.sanitized,
    State.quarantined,
)


def _console(
    request: Request,
    session: Session,
    actor: Actor,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "console.html",
        actor,
        status=status,
        queues=queues.queues(session, actor, utcnow()),
        target_hours=queues.WAIT_TARGET_HOURS,
        quarantined=queues.units_at(session, actor, (State.quarantined,)),
        awaiting=queues.units_at(session, actor, OVERRIDABLE),
        exceptions=queues.open_exceptions(session, actor),
        # console_reverification.html: pending re-verifications, then the latest failures
        reverifications=reverification.queue(session, actor)
        + reverification.queue(
            session, actor, statuses=(reverification.Status.failed,), limit=20, newest_first=True
        ),
        routes=[route.value for route in Route],
        form=form or {},
        errors=errors or {},
    )


@router.get("/console")
def console(request: Request, session: DbSession, actor: PageActor) -> Response:
    """What a supervisor watches: queues, overdue and quarantined units, exceptions."""
    actor.require("steps.override")
    return _console(request, session, actor)


@router.post("/console/override", dependencies=[CsrfChecked])
def override(
    request: Request,
    session: DbSession,
    actor: PageActor,
    serial: FormText = "",
    route: FormText = "",
    reason: FormText = "",
) -> Response:
    """Override a unit's route with a written reason: a disposition step of its own."""
    actor.require("steps.override")
    form = {"serial": serial, "route": route, "reason": reason}
    errors: dict[str, str] = {}
    try:
        data = DispositionIn.model_validate({"route": route or None, "override_reason": reason})
        result = service.perform_step(session, actor, serial.strip(), Step.disposition, data)
    except ValidationError as error:
        for e in error.errors():
            name = str(e["loc"][0]) if e["loc"] else "reason"
            errors[{"override_reason": "reason"}.get(name, name)] = str(e["msg"]).removeprefix(
                "Value error, "
            )
    except (NotAuthenticated, Forbidden):
        raise
    except DomainError as error:
        errors[error.field or "serial"] = error.detail
    else:
        assert isinstance(result, service.Performed)
        flash(request, f"{result.unit.serial} overridden to {route}: {reason}")
        return RedirectResponse("/console", status_code=303)
    return _console(request, session, actor, form, errors, status=422)


@router.get("/stock")
def stock(
    request: Request,
    session: DbSession,
    actor: PageActor,
    sku: str = "",
    site: str = "",
    condition: str = "",
) -> Response:
    """Available stock by SKU, condition and site, with filters."""
    filters = {"sku": sku[:40], "site": site[:40], "condition": condition[:40]}
    lines = inventory.stock(
        session,
        actor,
        sku=filters["sku"] or None,
        site=filters["site"] or None,
        condition=filters["condition"] or None,
    )
    return render(request, "stock.html", actor, lines=lines, filters=filters)
