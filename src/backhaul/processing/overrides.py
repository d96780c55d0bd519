"""Overrides: a supervisor overrides a route or a failed step with a written reason, directly or
by deciding a technician's override request. Every override goes through the step write path
(processing/service.py), so it is a step of its own in the unit's history, audited with its
outbound event in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backhaul.catalog.models import Product, Site
from backhaul.db import utcnow
from backhaul.kit.auth import Actor
from backhaul.kit.changes import record_change
from backhaul.kit.errors import Conflict, IllegalTransition, NotFound, ValidationFailed
from backhaul.kit.visibility import visible
from backhaul.processing import chain, lifecycle, service, store
from backhaul.processing.lifecycle import Route, Step
from backhaul.processing.models import OverrideKind, OverrideRequest, OverrideStatus
from backhaul.processing.schemas import DispositionIn, OverrideDecisionIn, OverrideIn
from backhaul.processing.store import StepRow, UnitState
from backhaul.units.models import Unit
from backhaul.units.registry import normalise_serial

MIN_REJECTION_NOTE = 3


@dataclass(frozen=True)
class RequestView:
    """An override request with its unit's serial, SKU, site and where the unit stands now."""

    request: OverrideRequest
    serial: str
    sku: str
    site: str | None
    position: str
    unit_version: int

    @property
    def stale(self) -> bool:
        """The unit has changed since the request was made: it is not applied any more."""
        return self.unit_version != self.request.unit_version

    def as_dict(self) -> dict[str, object]:
        """The request as the API shows it."""
        request = self.request
        return {
            "id": request.id,
            "serial": self.serial,
            "sku": self.sku,
            "site": self.site,
            "kind": request.kind,
            "step": request.step,
            "route": request.route.value if request.route else None,
            "reason": request.reason,
            "requested_by": request.requested_by,
            "requested_at": request.requested_at,
            "status": request.status,
            "decided_by": request.decided_by,
            "decided_at": request.decided_at,
            "decision_note": request.decision_note,
            "unit_version": request.unit_version,
            "position": self.position,
            "stale": self.stale,
        }


# --- checks shared by requests and direct overrides ---------------------------------------


def _fields_for_kind(data: OverrideIn) -> None:
    if data.kind is OverrideKind.failed_step:
        if data.step is None:
            raise ValidationFailed(
                "name the failed step to override (inspect or test)", field="step"
            )
        if data.route is not None:
            raise ValidationFailed("a failed-step override takes no route", field="route")
    else:
        if data.route is None:
            raise ValidationFailed("name the route to take", field="route")
        if data.step is not None:
            raise ValidationFailed("a route override takes no step", field="step")


def _check_route(unit: UnitState, history: list[StepRow], route: Route) -> None:
    """A route can be overridden where the disposition step is allowed now, and never to hand
    an un-wiped unit over (invariant 2)."""
    facts = chain.facts([chain.StepFact(r.step, r.outcome, r.evidence) for r in history])
    at = lifecycle.position(unit.state, unit.route)
    verdict = lifecycle.check(Step.disposition, at, facts.inspection_passed)
    if not verdict.allowed:
        raise IllegalTransition(
            "a route can be overridden only where the disposition step is allowed: "
            + verdict.reason,
            state=unit.state.value,
        )
    service.require_wiped(facts, route, f"the route '{route}'")


def _check(session: Session, unit: UnitState, data: OverrideIn) -> None:
    _fields_for_kind(data)
    history = store.load_steps(session, unit.id)
    if data.kind is OverrideKind.failed_step:
        assert data.step is not None
        service.check_failed_step_override(session, unit, history, data.step)
    else:
        assert data.route is not None
        _check_route(unit, history, data.route)


def _apply(
    session: Session,
    actor: Actor,
    serial: str,
    data: OverrideIn,
    if_match: int | None,
    request_id: int | None = None,
) -> service.Performed:
    if data.kind is OverrideKind.failed_step:
        assert data.step is not None
        return service.override_failed_step(
            session, actor, serial, data.step, data.reason, if_match, override_request=request_id
        )
    actor.require("steps.override")
    disposition = DispositionIn(route=data.route, override_reason=data.reason)
    result = service.perform_step(
        session, actor, serial, Step.disposition, disposition, if_match, override_request=request_id
    )
    assert isinstance(result, service.Performed)
    return result


# --- direct overrides (supervisors) --------------------------------------------------------


def override(
    session: Session, actor: Actor, serial: str, data: OverrideIn, if_match: int | None = None
) -> service.Performed:
    """Override a route or a failed step at once, with a written reason (supervisors)."""
    actor.require("steps.override")
    _fields_for_kind(data)
    return _apply(session, actor, serial, data, if_match)


# --- requests (technicians ask, supervisors decide) ---------------------------------------


def request_override(session: Session, actor: Actor, serial: str, data: OverrideIn) -> RequestView:
    """Ask a supervisor to override an outcome of a unit at your site, with a written reason."""
    actor.require("overrides.request")
    unit = service.find_unit(session, actor, serial)
    if unit is None:
        raise NotFound(f"no unit with serial '{serial}' at your sites")
    _check(session, unit, data)
    pending = session.scalar(
        select(OverrideRequest.id).where(
            OverrideRequest.unit_id == unit.id,
            OverrideRequest.status == OverrideStatus.pending,
        )
    )
    if pending is not None:
        raise Conflict(
            f"unit {unit.serial} already has a pending override request (#{pending}); "
            "wait for its decision"
        )
    request = OverrideRequest(
        unit_id=unit.id,
        brand_id=unit.brand_id,
        site_id=unit.site_id,
        unit_version=unit.version,
        kind=data.kind,
        step=data.step.value if data.step else None,
        route=data.route,
        reason=data.reason,
        requested_by=actor.username,
        requested_at=utcnow(),
        status=OverrideStatus.pending,
    )
    session.add(request)
    session.flush()
    view = RequestView(request, unit.serial, unit.sku, unit.site, _position(unit), unit.version)
    record_change(
        session,
        actor,
        "override_request.created",
        "override_request",
        str(request.id),
        None,
        _snapshot(view),
    )
    return view


def _position(unit: UnitState) -> str:
    return lifecycle.position(unit.state, unit.route)


def _snapshot(view: RequestView) -> dict[str, object]:
    request = view.request
    return {
        "serial": view.serial,
        "kind": request.kind.value,
        "step": request.step,
        "route": request.route.value if request.route else None,
        "reason": request.reason,
        "requested_by": request.requested_by,
        "unit_version": request.unit_version,
        "status": request.status.value,
        "decided_by": request.decided_by,
        "decision_note": request.decision_note,
    }


def _views(actor: Actor) -> Select[*tuple[Any, ...]]:
    statement = (
        select(
            OverrideRequest,
            Unit.serial,
            Product.sku,
            Site.code,
            Unit.state,
            Unit.route,
            Unit.version,
        )
        .join(Unit, Unit.id == OverrideRequest.unit_id)
        .join(Product, Product.id == Unit.product_id)
        .outerjoin(Site, Site.id == OverrideRequest.site_id)
    )
    return visible(actor, statement, OverrideRequest)


def _view(row: tuple[Any, ...]) -> RequestView:
    request, serial, sku, site, state, route, version = row
    return RequestView(request, serial, sku, site, lifecycle.position(state, route), version)


def list_requests(
    session: Session,
    actor: Actor,
    *,
    site: str | None = None,
    serial: str | None = None,
    status: OverrideStatus | None = OverrideStatus.pending,
    limit: int = 100,
) -> list[RequestView]:
    """Override requests at the actor's sites, oldest first (pending ones by default)."""
    actor.require("overrides.read")
    statement = _views(actor)
    if site:
        statement = statement.where(Site.code == site.strip().upper())
    if serial:
        statement = statement.where(Unit.serial == normalise_serial(serial))
    if status is not None:
        statement = statement.where(OverrideRequest.status == status)
    statement = statement.order_by(OverrideRequest.requested_at, OverrideRequest.id).limit(limit)
    return [_view(tuple(row)) for row in session.execute(statement)]


def get_request(session: Session, actor: Actor, request_id: int) -> RequestView:
    """One override request inside the actor's scope, or NotFound."""
    actor.require("overrides.read")
    row = session.execute(_views(actor).where(OverrideRequest.id == request_id)).first()
    if row is None:
        raise NotFound(f"no override request {request_id}")
    return _view(tuple(row))


def decide(
    session: Session, actor: Actor, request_id: int, data: OverrideDecisionIn
) -> tuple[RequestView, service.Performed | None]:
    """Approve a pending request (which applies the override through the step write path) or
    reject it with a note. A request whose unit has moved on since is stale: not applied (409)."""
    actor.require("steps.override")
    view = get_request(session, actor, request_id)
    request = view.request
    if request.status is not OverrideStatus.pending:
        raise Conflict(
            f"override request {request_id} was already {request.status.value} "
            f"by {request.decided_by}"
        )
    note = (data.note or "").strip() or None
    if not data.approve and (note is None or len(note) < MIN_REJECTION_NOTE):
        raise ValidationFailed("say why you reject the request (a note)", field="note")
    before = _snapshot(view)
    performed = None
    if data.approve:
        if view.stale:
            raise Conflict(
                f"unit {view.serial} has moved on since request {request_id} was made (it is "
                f"now {view.position}, version {view.unit_version}, not {request.unit_version}): "
                "reject the request, or ask again",
                position=view.position,
            )
        override_data = OverrideIn(
            kind=request.kind,
            step=Step(request.step) if request.step else None,
            route=request.route,
            reason=request.reason,
        )
        performed = _apply(
            session, actor, view.serial, override_data, request.unit_version, request.id
        )
        view = RequestView(
            request,
            view.serial,
            view.sku,
            view.site,
            _position(performed.unit),
            request.unit_version,  # the request was current when it was applied
        )
    request.status = OverrideStatus.approved if data.approve else OverrideStatus.rejected
    request.decided_by = actor.username
    request.decided_at = utcnow()
    request.decision_note = note
    session.flush()
    record_change(
        session,
        actor,
        f"override_request.{request.status.value}",
        "override_request",
        str(request.id),
        before,
        _snapshot(view),
    )
    return view, performed
