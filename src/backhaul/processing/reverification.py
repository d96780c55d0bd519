"""Re-verification of wipes drawn at random (R2v3 sampling): the queue, one unit's record, and
recording the result. The draw itself happens on the sanitize step (service._sanitize) and a
pending one holds the unit in custody (service._require_reverified).

A failure is escalated three ways, in the same transaction: an exception-queue item for the
supervisors, the certificate reported as failed re-verification (beside its signed JSON, which
stays as signed), and the unit quarantined through the step write path as a failed `sanitize`
record (see service.fail_wipe_on_reverification and docs/stations.md).

A write-off (lost, stolen or destroyed) is not held by a pending draw, since a lost unit cannot
be held; a supervisor closes such a draw by withdrawing it with a written reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from backhaul.catalog import service as catalog
from backhaul.catalog.models import Product, Site
from backhaul.db import utcnow
from backhaul.kit import exception_queue
from backhaul.kit.auth import Actor
from backhaul.kit.changes import record_change
from backhaul.kit.errors import Conflict, NotFound, ValidationFailed
from backhaul.kit.visibility import visible
from backhaul.processing import lifecycle, sampling, service
from backhaul.processing.models import ReverificationStatus, WipeReverification
from backhaul.processing.schemas import ReverificationIn, ReverificationOut
from backhaul.processing.states import State
from backhaul.processing.store import UnitState
from backhaul.units.models import Unit

Status = ReverificationStatus
EXCEPTION_KIND = "reverification_failed"


def _select() -> Select[WipeReverification, str, str, str, State]:
    """Records with their unit's serial, SKU and state and their site's code (None: no site)."""
    return (
        select(WipeReverification, Unit.serial, Product.sku, Site.code, Unit.state)
        .join(Unit, Unit.id == WipeReverification.unit_id)
        .join(Product, Product.id == Unit.product_id)
        .outerjoin(Site, Site.id == WipeReverification.site_id)
    )


def _wipe(record: WipeReverification) -> sampling.Wipe:
    return sampling.Wipe(record.wiped_by, record.wiped_by_id, record.wipe_verified_by)


def view(
    record: WipeReverification, serial: str, sku: str, site: str | None, unit_state: State
) -> ReverificationOut:
    """A record as the API shows it."""
    pending = record.status is Status.pending
    return ReverificationOut(
        id=record.id,
        serial=serial,
        sku=sku,
        site=site,
        certificate_id=record.certificate_id,
        status=record.status.value,
        share=float(record.share),
        drawn_at=record.drawn_at,
        wiped_by=record.wiped_by,
        wipe_verified_by=record.wipe_verified_by,
        who_may=sampling.who_may(_wipe(record), site) if pending else None,
        performed_by=record.performed_by,
        method=record.method,
        tool=record.tool,
        notes=record.notes,
        decided_at=record.decided_at,
        exception_id=record.exception_id,
        unit_state=unit_state.value,
    )


def queue(
    session: Session,
    actor: Actor,
    *,
    site: str | None = None,
    statuses: tuple[ReverificationStatus, ...] = (Status.pending,),
    limit: int = 200,
    newest_first: bool = False,
) -> list[ReverificationOut]:
    """Drawn wipes in the actor's scope with these statuses, oldest draw first (a site the
    actor cannot see is a 404)."""
    actor.require("reverifications.read")
    statement = visible(actor, _select(), WipeReverification).where(
        WipeReverification.status.in_(statuses)
    )
    if site:
        statement = statement.where(
            WipeReverification.site_id == catalog.get_site(session, actor, site).id
        )
    if newest_first:
        statement = statement.order_by(
            WipeReverification.drawn_at.desc(), WipeReverification.id.desc()
        )
    else:
        statement = statement.order_by(WipeReverification.drawn_at, WipeReverification.id)
    statement = statement.limit(limit)
    return [
        view(record, serial, sku, site_code, state)
        for record, serial, sku, site_code, state in session.execute(statement)
    ]


def _unit(session: Session, actor: Actor, serial: str) -> UnitState:
    unit = service.find_unit(session, actor, serial)
    if unit is None:
        raise NotFound(f"no unit with serial '{serial}' at your sites")
    return unit


def latest_for_unit(session: Session, unit_id: int) -> WipeReverification | None:
    """The unit's newest re-verification record, whatever its status."""
    return session.scalars(
        select(WipeReverification)
        .where(WipeReverification.unit_id == unit_id)
        .order_by(WipeReverification.id.desc())
        .limit(1)
    ).first()


def for_unit(session: Session, actor: Actor, serial: str) -> ReverificationOut:
    """The unit's newest re-verification record, or NotFound when its wipes were never drawn."""
    actor.require("reverifications.read")
    unit = _unit(session, actor, serial)
    record = latest_for_unit(session, unit.id)
    if record is None:
        raise NotFound(f"unit {unit.serial}'s wipes were not drawn for re-verification")
    return view(record, unit.serial, unit.sku, unit.site, unit.state)


def pending_for_unit(session: Session, unit_id: int) -> WipeReverification | None:
    """The unit's pending re-verification, if any."""
    return session.scalars(
        select(WipeReverification)
        .where(WipeReverification.unit_id == unit_id, WipeReverification.status == Status.pending)
        .order_by(WipeReverification.id.desc())
        .limit(1)
    ).first()


def record(
    session: Session, actor: Actor, serial: str, data: ReverificationIn
) -> ReverificationOut:
    """Record a drawn wipe's re-verification by the actor; escalate a failure."""
    actor.require("reverifications.record")
    unit = _unit(session, actor, serial)
    pending = _pending(session, unit)
    reason = sampling.conflict_of_interest(_wipe(pending), actor.username, actor.user_id)
    if reason is not None:
        raise ValidationFailed(reason, field="performed_by")
    failed = data.result == "failed"
    if failed and len(data.notes) < 3:
        raise ValidationFailed(
            "a failed re-verification needs notes saying what was found", field="notes"
        )
    status = Status.failed if failed else Status.passed
    _decide(
        session,
        actor,
        unit,
        pending,
        status,
        method=data.method,
        tool=data.tool,
        notes=data.notes or None,
    )
    after: dict[str, Any] = {
        "reverification": status.value,
        "certificate_id": pending.certificate_id,
        "method": data.method,
        "tool": data.tool,
        "notes": data.notes,
    }
    if failed:
        after |= _escalate(session, actor, unit, pending, data)
    record_change(
        session,
        actor,
        f"unit.reverification_{status.value}",
        "unit",
        unit.serial,
        {"reverification": "pending", "certificate_id": pending.certificate_id},
        after,
    )
    session.refresh(pending)
    return view(pending, unit.serial, unit.sku, unit.site, unit.state)


def _pending(session: Session, unit: UnitState) -> WipeReverification:
    """The unit's pending re-verification; Conflict naming the latest status when none is."""
    pending = pending_for_unit(session, unit.id)
    if pending is not None:
        return pending
    latest = latest_for_unit(session, unit.id)
    raise Conflict(
        f"unit {unit.serial} has no re-verification pending: "
        + (
            f"the latest was {latest.status.value}"
            if latest is not None
            else "none of its wipes was drawn"
        ),
    )


def _decide(
    session: Session,
    actor: Actor,
    unit: UnitState,
    pending: WipeReverification,
    status: ReverificationStatus,
    **values: Any,
) -> None:
    """Close the pending record with `status`, decided by the actor now; Conflict when someone
    else closed it first (the update only matches a record still pending)."""
    changed = session.execute(
        update(WipeReverification)
        .where(WipeReverification.id == pending.id, WipeReverification.status == Status.pending)
        .values(
            status=status,
            performed_by=actor.username,
            performed_by_id=actor.user_id,
            decided_at=utcnow(),
            **values,
        )
        .execution_options(synchronize_session="fetch")
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"unit {unit.serial}'s re-verification was recorded or withdrawn by someone else at "
            "the same time; reload it"
        )


def withdraw(session: Session, actor: Actor, serial: str, reason: str) -> ReverificationOut:
    """Withdraw the pending draw of a written-off unit, which can never be re-verified, with
    the supervisor's written reason."""
    actor.require("reverifications.withdraw")
    unit = _unit(session, actor, serial)
    pending = _pending(session, unit)
    if unit.state is not State.written_off:
        raise Conflict(
            f"unit {unit.serial}: a unit in custody must be re-verified, not withdrawn; it is "
            f"{lifecycle.position(unit.state, unit.route)}",
            field="state",
        )
    reason = reason.strip()
    if len(reason) < 3:
        raise ValidationFailed(
            "say in writing why the draw is withdrawn (3 characters or more)", field="reason"
        )
    _decide(session, actor, unit, pending, Status.withdrawn, notes=reason)
    record_change(
        session,
        actor,
        f"unit.reverification_{Status.withdrawn.value}",
        "unit",
        unit.serial,
        {"reverification": "pending", "certificate_id": pending.certificate_id},
        {
            "reverification": Status.withdrawn.value,
            "certificate_id": pending.certificate_id,
            "state": unit.state.value,
            "reason": reason,
        },
    )
    session.refresh(pending)
    return view(pending, unit.serial, unit.sku, unit.site, unit.state)


def _escalate(
    session: Session,
    actor: Actor,
    unit: UnitState,
    pending: WipeReverification,
    data: ReverificationIn,
) -> dict[str, Any]:
    """A failed re-verification: queue it for the supervisors and quarantine the unit."""
    terminal = unit.state in lifecycle.TERMINAL
    reason = (
        f"{unit.serial}: the wipe of certificate {pending.certificate_id} failed "
        f"re-verification by {actor.username} ({data.method}, {data.tool}): {data.notes}"
    )
    item = exception_queue.add(
        session,
        EXCEPTION_KIND,
        reason
        + (
            "; the unit is quarantined until it is wiped again"
            if not terminal
            else f"; the unit is already {unit.state.value}"
        ),
        {
            "serial": unit.serial,
            "certificate_id": pending.certificate_id,
            "wiped_by": pending.wiped_by,
            "wipe_verified_by": pending.wipe_verified_by,
            "reverified_by": actor.username,
            "method": data.method,
            "tool": data.tool,
            "notes": data.notes,
        },
        reference=unit.serial,
        brand_id=unit.brand_id,
        site_id=unit.site_id,
    )
    session.flush()
    pending.exception_id = item.id
    session.flush()
    added: dict[str, Any] = {"exception_id": item.id}
    if not terminal:
        performed = service.fail_wipe_on_reverification(
            session,
            actor,
            unit,
            {
                "reverification": {
                    "result": "failed",
                    "method": data.method,
                    "tool": data.tool,
                    "notes": data.notes,
                    "exception_id": item.id,
                },
                "reverified_certificate_id": pending.certificate_id,
                "wiped_by": pending.wiped_by,
                "verified_by": pending.wipe_verified_by,
            },
            f"re-verification by {actor.username} found the wipe of certificate "
            f"{pending.certificate_id} incomplete",
        )
        added["state"] = State.quarantined.value
        assert performed.unit.state is State.quarantined
    return added


def certificate_standing(session: Session, certificate_id: str) -> dict[str, Any] | None:
    """What re-verification says about a certificate, reported beside its signed JSON; None
    when its wipe was not drawn."""
    found = session.scalars(
        select(WipeReverification).where(WipeReverification.certificate_id == certificate_id)
    ).first()
    if found is None:
        return None
    return {
        "status": found.status.value,
        "failed": found.status is Status.failed,
        "withdrawn": found.status is Status.withdrawn,
        "drawn_at": found.drawn_at.isoformat(),
        "performed_by": found.performed_by,
        "method": found.method,
        "tool": found.tool,
        "notes": found.notes,
        "decided_at": found.decided_at.isoformat() if found.decided_at else None,
    }
