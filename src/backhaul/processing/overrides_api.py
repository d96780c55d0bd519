"""Overrides over HTTP: a technician's override request, the list a supervisor works through,
the decision, and a supervisor's direct override of a route or a failed step."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from backhaul.accounts.deps import CurrentActor
from backhaul.kit.audit_api import register_scope_check
from backhaul.kit.auth import Actor
from backhaul.kit.http import DbSession, IfMatch
from backhaul.kit.schemas import Output
from backhaul.processing import overrides, service
from backhaul.processing.models import OverrideStatus
from backhaul.processing.schemas import (
    OverrideDecisionIn,
    OverrideIn,
    OverrideRequestOut,
    StepResult,
    UnitOut,
)

router = APIRouter(prefix="/api/v1", tags=["overrides"])
RequestId = Annotated[int, Path(ge=1, le=2**62)]


def _request_in_scope(session: Session, actor: Actor, object_id: str) -> object:
    """For the audit trail: NotFound unless the request is inside the actor's scope."""
    number = int(object_id) if object_id.isdigit() and len(object_id) < 19 else 0
    return overrides.get_request(session, actor, number)


register_scope_check("override_request", _request_in_scope)


class OverrideDecisionOut(Output):
    """The decided request and, when it was approved, the unit after the override."""

    request: OverrideRequestOut
    unit: UnitOut | None


def _out(view: overrides.RequestView) -> OverrideRequestOut:
    return OverrideRequestOut.model_validate(view.as_dict())


def _unit(result: service.Performed) -> dict[str, Any]:
    return service.unit_view(result.unit, result.history)


@router.post(
    "/units/{serial}/override-requests",
    response_model=OverrideRequestOut,
    status_code=status.HTTP_201_CREATED,
)
def request_override(
    serial: str, data: OverrideIn, session: DbSession, actor: CurrentActor
) -> OverrideRequestOut:
    """Ask a supervisor to override a route or a failed step of a unit at your site, saying why.
    Refused at once when the override could never be approved (e.g. a failed sanitize)."""
    return _out(overrides.request_override(session, actor, serial, data))


@router.get("/override-requests", response_model=list[OverrideRequestOut])
def list_requests(
    session: DbSession,
    actor: CurrentActor,
    site: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[
        OverrideStatus | None, Query(description="Leave out for every status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OverrideRequestOut]:
    """Override requests at your sites, oldest first; `stale` marks a unit that moved on."""
    views = overrides.list_requests(session, actor, site=site, status=status, limit=limit)
    return [_out(view) for view in views]


@router.get("/override-requests/{request_id}", response_model=OverrideRequestOut)
def get_request(
    request_id: RequestId, session: DbSession, actor: CurrentActor
) -> OverrideRequestOut:
    """One override request."""
    return _out(overrides.get_request(session, actor, request_id))


@router.post("/override-requests/{request_id}/decision", response_model=OverrideDecisionOut)
def decide(
    request_id: RequestId, data: OverrideDecisionIn, session: DbSession, actor: CurrentActor
) -> OverrideDecisionOut:
    """Approve (the override is applied as a step of its own) or reject with a note
    (supervisors). A request whose unit has moved on since is refused with 409."""
    view, performed = overrides.decide(session, actor, request_id, data)
    unit = UnitOut.model_validate(_unit(performed)) if performed is not None else None
    return OverrideDecisionOut(request=_out(view), unit=unit)


@router.post("/units/{serial}/overrides", response_model=StepResult)
def override(
    serial: str, data: OverrideIn, session: DbSession, actor: CurrentActor, if_match: IfMatch
) -> JSONResponse:
    """Override a route or a failed step now, with a written reason (supervisors): a step of
    its own in the unit's history. Never a failed sanitize or flash, nor a hazard."""
    result = overrides.override(session, actor, serial, data, if_match)
    body = _unit(result) | {
        "outcome": result.outcome,
        "failures": result.failures,
        "decision": result.decision,
        "certificate_id": result.certificate_id,
    }
    response = JSONResponse(body)
    response.headers["ETag"] = f'"{body["version"]}"'
    return response
