"""The supervisor's console (queues per position and site, units over their site's wait target,
quarantined units, the exception queue, pending override requests, route and failed-step
overrides with a written reason, re-verifications and withdrawing the draw of a written-off
unit) and the stock page with filters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from backhaul.db import utcnow
from backhaul.inventory import service as inventory
from backhaul.kit.auth import Actor
from backhaul.kit.errors import DomainError, Forbidden, NotAuthenticated, ValidationFailed
from backhaul.kit.http import DbSession
from backhaul.processing import lifecycle, overrides, queues, reverification, service
from backhaul.processing.lifecycle import Route, Step
from backhaul.processing.models import OverrideKind
from backhaul.processing.schemas import DispositionIn, OverrideDecisionIn, OverrideIn
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
        **_override_sections(session, actor),
        quarantined=queues.units_at(session, actor, (State.quarantined,)),
        awaiting=queues.units_at(session, actor, OVERRIDABLE),
        exceptions=queues.open_exceptions(session, actor),
        # console_reverification.html: pending re-verifications, then the latest failures and
        # withdrawals
        reverifications=reverification.queue(session, actor)
        + reverification.queue(
            session,
            actor,
            statuses=(reverification.Status.failed, reverification.Status.withdrawn),
            limit=20,
            newest_first=True,
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


# --- over target, pending overrides, failed-step overrides ---------------------------------
# Rendered by templates/console_over_target.html and templates/console_overrides.html.

FAILED = (State.inspection_failed, State.test_failed)


def _override_sections(session: Session, actor: Actor) -> dict[str, Any]:
    return {
        "over_target": queues.over_target(session, actor, utcnow()),
        "pending_overrides": overrides.list_requests(session, actor),
        "failed": queues.units_at(session, actor, FAILED),
        "overridable_steps": sorted(s.value for s in lifecycle.OVERRIDABLE_FAILURES),
    }


def _messages(error: ValidationError, names: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for e in error.errors():
        name = str(e["loc"][0]) if e["loc"] else "form"
        found.setdefault(names.get(name, name), str(e["msg"]).removeprefix("Value error, "))
    return found


@router.post("/console/override-requests/{request_id}", dependencies=[CsrfChecked])
def decide_request(
    request: Request,
    request_id: Annotated[int, Path(ge=1, le=2**62)],
    session: DbSession,
    actor: PageActor,
    decision: FormText = "",
    note: FormText = "",
) -> Response:
    """Approve a pending override request (it is applied at once) or reject it with a note."""
    actor.require("steps.override")
    key = f"request-{request_id}"
    errors: dict[str, str] = {}
    try:
        if decision not in ("approve", "reject"):
            raise ValidationFailed("choose Approve or Reject", field="decision")
        data = OverrideDecisionIn(approve=decision == "approve", note=note or None)
        view, _performed = overrides.decide(session, actor, request_id, data)
    except ValidationError as error:
        errors = {key: "; ".join(_messages(error, {}).values())}
    except (NotAuthenticated, Forbidden):
        raise
    except DomainError as error:
        errors[key] = error.detail
    else:
        done = "approved" if data.approve else "rejected"
        flash(request, f"Request #{request_id} for {view.serial} {done}.")
        return RedirectResponse("/console", status_code=303)
    form = {"request": str(request_id), "note": note}
    return _console(request, session, actor, form, errors, status=422)


@router.post("/console/override-step", dependencies=[CsrfChecked])
def override_step(
    request: Request,
    session: DbSession,
    actor: PageActor,
    serial: FormText = "",
    step: FormText = "",
    reason: FormText = "",
) -> Response:
    """Override a failed inspect or test to passed with a written reason (a step of its own)."""
    actor.require("steps.override")
    form = {"fs_serial": serial, "fs_step": step, "fs_reason": reason}
    names = {"serial": "fs_serial", "step": "fs_step", "reason": "fs_reason", "form": "fs_serial"}
    errors: dict[str, str] = {}
    try:
        data = OverrideIn.model_validate(
            {"kind": OverrideKind.failed_step, "step": step or None, "reason": reason}
        )
        result = overrides.override(session, actor, serial.strip(), data)
    except ValidationError as error:
        errors = _messages(error, names)
    except (NotAuthenticated, Forbidden):
        raise
    except DomainError as error:
        errors[names.get(error.field or "serial", "fs_serial")] = error.detail
    else:
        at = lifecycle.position(result.unit.state, result.unit.route)
        flash(request, f"{result.unit.serial}: failed {step} overridden to passed — now {at}")
        return RedirectResponse("/console", status_code=303)
    return _console(request, session, actor, form, errors, status=422)


@router.post("/console/reverification/withdraw", dependencies=[CsrfChecked])
def withdraw_reverification(
    request: Request,
    session: DbSession,
    actor: PageActor,
    serial: FormText = "",
    reason: FormText = "",
) -> Response:
    """Withdraw the pending re-verification of a written-off unit with a written reason."""
    actor.require("reverifications.withdraw")
    serial = serial.strip()
    key = f"withdraw-{serial}"
    errors: dict[str, str] = {}
    try:
        withdrawn = reverification.withdraw(session, actor, serial, reason)
    except (NotAuthenticated, Forbidden):
        raise
    except DomainError as error:
        errors[key] = error.detail
    else:
        flash(request, f"{withdrawn.serial}: re-verification withdrawn: {withdrawn.notes}")
        return RedirectResponse("/console", status_code=303)
    form = {"withdraw": serial, "withdraw_reason": reason}
    return _console(request, session, actor, form, errors, status=422)
