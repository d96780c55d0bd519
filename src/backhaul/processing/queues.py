"""Supervisor reads: the queue of units waiting per position and site, the units waiting longer
than their site's target for their next step, quarantined units and the open exception queue,
all through the visibility filter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from backhaul.catalog.models import Product, Site, SiteKind
from backhaul.kit.auth import Actor
from backhaul.kit.exception_queue import ExceptionItem
from backhaul.kit.visibility import visible
from backhaul.processing import chain, lifecycle, wait_targets
from backhaul.processing.models import UnitStep
from backhaul.processing.states import State
from backhaul.processing.wait_targets import IN_HOUSE, WaitTargets
from backhaul.units.models import Unit

# How many candidate units are judged per round trip when looking for those over target.
_BATCH = 500


@dataclass(frozen=True)
class QueueLine:
    """Units waiting at one position at one site, and how many wait longer than the target."""

    position: str
    site: str
    waiting: int
    overdue: int  # waiting longer than the site's target for their next step


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


@dataclass(frozen=True)
class OverTarget:
    """A unit waiting longer than its site's target for its next step."""

    serial: str
    sku: str
    site: str
    position: str
    next_step: str | None
    since: datetime
    target_hours: float
    waited: timedelta
    over: timedelta


def queues(session: Session, actor: Actor, now: datetime) -> list[QueueLine]:
    """Units in the house by position and site, with how many are over their site's target."""
    actor.require("units.read")
    statement = (
        select(Unit.state, Unit.route, Site.code, func.count())
        .join(Site, Site.id == Unit.site_id)
        .where(Unit.state.in_(IN_HOUSE))
        .group_by(Unit.state, Unit.route, Site.code)
        .order_by(Site.code, Unit.state, Unit.route)
    )
    statement = visible(actor, statement, Unit)
    late = Counter((unit.site, unit.position) for unit in _over_target(session, actor, now))
    lines = []
    for state, route, site, count in session.execute(statement):
        at = lifecycle.position(state, route)
        lines.append(QueueLine(at, site, count, late[site, at]))
    return lines


def site_targets(site: Site) -> WaitTargets:
    """A site's wait targets as the pure rules take them."""
    return WaitTargets(float(site.wait_target_hours), dict(site.step_wait_targets or {}))


def over_target(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    site: str | None = None,
    limit: int = 100,
) -> list[OverTarget]:
    """Units waiting longer than their site's target for their next step, oldest first."""
    actor.require("units.read")
    found = []
    for unit in _over_target(session, actor, now, site):
        found.append(unit)
        if len(found) >= limit:
            break
    return found


def _over_target(
    session: Session, actor: Actor, now: datetime, site_code: str | None = None
) -> Iterator[OverTarget]:
    sites = visible(actor, select(Site), Site).where(Site.kind == SiteKind.hub)
    if site_code:
        sites = sites.where(Site.code == site_code.strip().upper())
    targets = {site.id: (site.code, site_targets(site)) for site in session.scalars(sites)}
    if not targets:
        return
    # Only a unit that has waited longer than its site's tightest target can be over target:
    # let the database skip the others (the index on site and state helps).
    late_somewhere = or_(
        *(
            and_(
                Unit.site_id == site_id,
                Unit.updated_at < now - timedelta(hours=target.shortest_hours),
            )
            for site_id, (_code, target) in targets.items()
        )
    )
    statement = (
        select(
            Unit.id,
            Unit.serial,
            Product.sku,
            Unit.state,
            Unit.route,
            Unit.site_id,
            Unit.updated_at,
        )
        .join(Product, Product.id == Unit.product_id)
        .where(Unit.state.in_(IN_HOUSE), late_somewhere)
        .order_by(Unit.updated_at, Unit.serial)
    )
    rows = session.execute(visible(actor, statement, Unit)).yield_per(_BATCH)
    for batch in rows.partitions():
        sanitized = [row.id for row in batch if row.state is State.sanitized]
        inspections = _latest_inspections(session, sanitized)
        for row in batch:
            code, target = targets[row.site_id]
            at = lifecycle.position(row.state, row.route)
            wait = wait_targets.assess(target, at, inspections.get(row.id), row.updated_at, now)
            if wait.is_over:
                yield OverTarget(
                    row.serial,
                    row.sku,
                    code,
                    at,
                    wait.step.value if wait.step else None,
                    row.updated_at,
                    wait.target_hours,
                    wait.waited,
                    wait.over,
                )


def _latest_inspections(session: Session, unit_ids: list[int]) -> dict[int, bool | None]:
    """Whether each unit's latest inspection since its latest receipt passed (the guard that
    decides whether a sanitized unit waits for `flash` or for `disposition`)."""
    if not unit_ids:
        return {}
    statement = (
        select(UnitStep.unit_id, UnitStep.step, UnitStep.outcome)
        .where(UnitStep.unit_id.in_(unit_ids), UnitStep.step.in_(("receive", "inspect")))
        .order_by(UnitStep.unit_id, UnitStep.seq)
    )
    facts: dict[int, list[chain.StepFact]] = {}
    for unit_id, step, outcome in session.execute(statement):
        facts.setdefault(unit_id, []).append(chain.StepFact(step, outcome, {}))
    return {unit_id: chain.facts(steps).inspection_passed for unit_id, steps in facts.items()}


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
