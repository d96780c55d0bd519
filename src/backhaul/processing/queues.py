"""Supervisor reads: the queue of units waiting per position and site, who waits too long,
quarantined units and the open exception queue, all through the visibility filter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from backhaul.catalog.models import Product, Site, SiteKind
from backhaul.kit.auth import Actor
from backhaul.kit.exception_queue import ExceptionItem
from backhaul.kit.visibility import visible
from backhaul.processing import chain, lifecycle
from backhaul.processing.models import UnitStep
from backhaul.processing.states import State
from backhaul.units.models import Unit

# How long a unit may wait at one position before a supervisor is told (hours).
WAIT_TARGET_HOURS = 24
IN_HOUSE = (
    State.received,
    State.inspected,
    State.inspection_failed,
    State.quarantined,
    State.sanitized,
    State.firmware_validated,
    State.firmware_failed,
    State.tested,
    State.test_failed,
    State.graded,
    State.dispositioned,
)


@dataclass(frozen=True)
class QueueLine:
    """Units waiting at one position at one site, and how many wait longer than the target."""

    position: str
    site: str
    waiting: int
    overdue: int


@dataclass(frozen=True)
class WaitingUnit:
    """A unit a supervisor should look at."""

    serial: str
    sku: str
    position: str
    site: str
    hazard: str | None
    since: datetime | None
    reason: str | None = None  # for a quarantined unit: why it is held


def queues(session: Session, actor: Actor, now: datetime) -> list[QueueLine]:
    """Units in the house by position and site; overdue = unchanged for over the target."""
    actor.require("units.read")
    cutoff = now - timedelta(hours=WAIT_TARGET_HOURS)
    overdue = func.sum(case((Unit.updated_at < cutoff, 1), else_=0))
    statement = (
        select(Unit.state, Unit.route, Site.code, func.count(), overdue)
        .join(Site, Site.id == Unit.site_id)
        .where(Unit.state.in_(IN_HOUSE))
        .group_by(Unit.state, Unit.route, Site.code)
        .order_by(Site.code, Unit.state, Unit.route)
    )
    statement = visible(actor, statement, Unit)
    return [
        QueueLine(lifecycle.position(state, route), site, count, int(late or 0))
        for state, route, site, count, late in session.execute(statement)
    ]


def units_at(
    session: Session, actor: Actor, states: tuple[State, ...], limit: int = 100
) -> list[WaitingUnit]:
    """Units in the given states, oldest change first; a quarantined one with the reason the
    step that put it there recorded (its latest step)."""
    actor.require("units.read")
    latest = (UnitStep.unit_id == Unit.id) & (UnitStep.seq == Unit.step_count)
    statement = (
        select(
            Unit.serial,
            Product.sku,
            Unit.state,
            Unit.route,
            Site.code,
            Unit.hazard,
            Unit.updated_at,
            UnitStep.step,
            UnitStep.evidence,
        )
        .join(Product, Product.id == Unit.product_id)
        .join(Site, Site.id == Unit.site_id, isouter=True)
        .join(UnitStep, latest, isouter=True)
        .where(Unit.state.in_(states))
        .order_by(Unit.updated_at, Unit.serial)
        .limit(limit)
    )
    statement = visible(actor, statement, Unit)
    return [
        WaitingUnit(
            serial,
            sku,
            lifecycle.position(state, route),
            site or "—",
            hazard,
            since,
            chain.hold_reason(step, evidence or {}, hazard)
            if state is State.quarantined and step
            else None,
        )
        for serial, sku, state, route, site, hazard, since, step, evidence in session.execute(
            statement
        )
    ]


def open_exceptions(session: Session, actor: Actor, limit: int = 100) -> list[ExceptionItem]:
    """The unresolved exception queue, newest first."""
    actor.require("units.read")
    statement = (
        select(ExceptionItem)
        .where(ExceptionItem.resolved_at.is_(None))
        .order_by(ExceptionItem.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(visible(actor, statement, ExceptionItem)))


def partner_sites(session: Session, kind: SiteKind) -> list[Site]:
    """Repair partners or recyclers: anyone may hand a unit to them, whatever their own sites."""
    return list(session.scalars(select(Site).where(Site.kind == kind).order_by(Site.code)))
