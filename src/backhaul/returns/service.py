"""Return use cases: decide a request, open a case (running the lifecycle's `authorize` step),
route it, follow the carrier, keep the SLA clocks, cancel, resolve, and take the survey.

Services check the permission, change state, record the change (audit + outbox) and flush;
the request, job or command that called them commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backhaul.catalog.models import Product, Site, SiteKind
from backhaul.db import utcnow
from backhaul.kit import exception_queue, outbox
from backhaul.kit.auth import Actor, Role
from backhaul.kit.changes import record_change
from backhaul.kit.errors import Conflict, NotEligible, NotFound, ValidationFailed
from backhaul.kit.visibility import visible
from backhaul.processing.lifecycle import Step
from backhaul.processing.models import UnitStep
from backhaul.processing.schemas import AuthorizeIn, ShipIn
from backhaul.processing.service import perform_step
from backhaul.processing.states import State
from backhaul.returns import eligibility, links, reasons, routing, sla
from backhaul.returns import policy as policies
from backhaul.returns.eligibility import Claim, Decision, UnitFacts
from backhaul.returns.models import (
    OPEN_STATUSES,
    CaseStatus,
    IntakeLog,
    PolicyVersion,
    ReturnCase,
    TrackingEvent,
)
from backhaul.returns.policy import Policy
from backhaul.returns.schemas import ReturnIn
from backhaul.units.models import Unit
from backhaul.units.registry import normalise_serial

PORTAL = Actor(None, "portal", "Customer (returns portal)", Role.supervisor, via="system")
EMAIL_EVENT = "notification.email"
# A customer writing in this language, whose unit we cannot find, is told the rules of:
REGION_FOR_LOCALE = {"en": "US", "de": "EU", "fr": "EU", "es": "EU", "ja": "JP"}
MOVING = frozenset({"in_transit", "out_for_delivery", "available_for_pickup", "delivered"})
CARRIER_PROBLEMS = frozenset({"return_to_sender", "failure", "cancelled", "error"})
STATUS_RANK = {
    CaseStatus.on_hold: 0,
    CaseStatus.label_ready: 1,
    CaseStatus.in_transit: 2,
    CaseStatus.delivered: 3,
    CaseStatus.received: 4,
    CaseStatus.resolved: 5,
    CaseStatus.cancelled: 5,
}
MAX_PHOTOS = 3


def carrier_actor(carrier: str) -> Actor:
    """Who acts when a carrier's webhook moves a unit."""
    return Actor(None, f"carrier:{carrier}", f"{carrier} webhook", Role.supervisor, via="system")


# --- policies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectivePolicy:
    """A region's policy in force, and where it came from."""

    policy: Policy
    sha256: str
    source: str
    published_by: str | None = None
    published_at: datetime | None = None


def effective_policy(session: Session, region: str) -> EffectivePolicy:
    """The newest published version for the region, else the packaged default."""
    row = session.scalars(
        select(PolicyVersion)
        .where(PolicyVersion.region == region)
        .order_by(PolicyVersion.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        return EffectivePolicy(
            policies.parse_cached(row.text, row.source),
            row.sha256,
            row.source,
            row.published_by,
            row.published_at,
        )
    packaged = policies.packaged_sources().get(region)
    if packaged is None:
        raise NotEligible(
            f"there is no return policy for region {region}",
            rule="policy.missing",
            policy_version=None,
        )
    source, text = packaged
    return EffectivePolicy(policies.parse_cached(text, source), policies.digest(text), source)


def list_policies(session: Session, actor: Actor) -> list[EffectivePolicy]:
    """Every region's policy in force."""
    actor.require("catalog.read")
    regions = set(policies.packaged_sources()) | set(
        session.scalars(select(PolicyVersion.region).distinct())
    )
    return [effective_policy(session, region) for region in sorted(regions)]


def check_policy(text: str, source: str = "policy.toml") -> Policy:
    """Validate a policy file (ConfigError names the file, line and field)."""
    return policies.parse(text, source)


def publish_policy(
    session: Session, actor: Actor, text: str, source: str = "api", region: str | None = None
) -> EffectivePolicy:
    """Publish a new version of a region's policy; it decides every request from now on."""
    actor.require("policies.write")
    parsed = policies.parse(text, source, region)
    taken = session.scalar(
        select(PolicyVersion.id).where(
            PolicyVersion.region == parsed.region, PolicyVersion.version == parsed.version
        )
    )
    current = effective_policy(session, parsed.region) if taken is None else None
    if taken is not None or (current and current.policy.version == parsed.version):
        raise Conflict(
            f"{parsed.policy_version} is already published: raise `version`", field="version"
        )
    row = PolicyVersion(
        region=parsed.region,
        version=parsed.version,
        sha256=policies.digest(text),
        source=source[:300],
        text=text,
        published_by=actor.username,
        published_at=utcnow(),
    )
    session.add(row)
    session.flush()
    record_change(
        session,
        actor,
        "policy.published",
        "policy",
        parsed.region,
        {"policy_version": current.policy.policy_version if current else None},
        {"policy_version": parsed.policy_version, "sha256": row.sha256},
    )
    return EffectivePolicy(parsed, row.sha256, row.source, row.published_by, row.published_at)


# --- looking up the unit -------------------------------------------------------------------

_UNIT = (
    Unit.id,
    Unit.serial,
    Unit.brand_id,
    Unit.state,
    Unit.order_ref,
    Unit.customer_email,
    Unit.sold_at,
    Unit.region,
    Unit.price,
    Unit.currency,
    Unit.warranty_end,
    Product.sku,
    Product.name,
    Product.regulated,
    Product.battery,
    Product.hs_code,
)


@dataclass(frozen=True)
class Found:
    """A unit as intake sees it: its row id, brand, product and the facts eligibility needs."""

    unit_id: int
    brand_id: int
    product_name: str
    battery: str
    hs_code: str
    facts: UnitFacts


def _found(row: Any) -> Found:
    facts = UnitFacts(
        serial=row.serial,
        sku=row.sku,
        regulated=row.regulated.value,
        state=row.state.value,
        order_ref=row.order_ref,
        customer_email=row.customer_email,
        sold_at=row.sold_at,
        region=row.region,
        price=row.price,
        currency=row.currency,
        warranty_end=row.warranty_end,
    )
    return Found(row.id, row.brand_id, row.name, row.battery.value, row.hs_code, facts)


def units_for(
    session: Session, actor: Actor, serial: str | None, order_ref: str | None
) -> list[Found]:
    """The unit with this serial, or every unit on this order, inside the actor's brands."""
    statement = select(*_UNIT).join(Product, Product.id == Unit.product_id)
    if serial is not None:
        statement = statement.where(Unit.serial == normalise_serial(serial)[:64])
    else:
        assert order_ref is not None
        statement = statement.where(Unit.order_ref == order_ref.strip()[:64])
    statement = visible(actor, statement, Unit, by_site=False).order_by(Unit.serial).limit(50)
    return [_found(row) for row in session.execute(statement)]


def open_case_for(session: Session, unit_id: int) -> str | None:
    """The RMA of the unit's open return, if it has one."""
    return session.scalar(
        select(ReturnCase.rma).where(
            ReturnCase.unit_id == unit_id, ReturnCase.status.in_(OPEN_STATUSES)
        )
    )


# --- deciding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    """A request decided but not yet acted on (the portal shows it before the customer confirms)."""

    decision: Decision
    found: Found | None
    policy: Policy


def assess(
    session: Session,
    actor: Actor,
    *,
    email: str,
    reason: str,
    serial: str | None = None,
    order_ref: str | None = None,
    sealed: bool | None = None,
    locale: str = "en",
    today: date | None = None,
) -> Assessment:
    """Decide a request by the rules, without changing anything."""
    actor.require("returns.create")
    candidates = units_for(session, actor, serial, order_ref)
    if serial is None and len(candidates) > 1:
        own = [c for c in candidates if c.facts.customer_email.lower() == email.strip().lower()]
        if own:
            raise ValidationFailed(
                f"order {order_ref} holds {len(candidates)} units: name the serial",
                field="serial",
                serials=[c.facts.serial for c in own],
            )
    found = candidates[0] if candidates else None
    region = found.facts.region if found else REGION_FOR_LOCALE.get(locale, "US")
    policy = effective_policy(session, region).policy
    claim = Claim(email=email, reason=reason, serial=serial, order_ref=order_ref, sealed=sealed)
    decision = eligibility.decide(
        found.facts if found else None,
        claim,
        policy,
        reasons.taxonomy().get(reason),
        today or utcnow().date(),
        open_case_for(session, found.unit_id) if found else None,
    )
    return Assessment(decision, found, policy)


def log_intake(
    session: Session,
    outcome: str,
    channel: str,
    *,
    decision: Decision | None = None,
    found: Found | None = None,
    reason: str | None = None,
) -> None:
    """Count a request that did not become a case (refused, or solved by setup help)."""
    session.add(
        IntakeLog(
            at=utcnow(),
            outcome=outcome,
            rule=decision.rule if decision else None,
            policy_version=decision.policy_version if decision else None,
            region=found.facts.region if found else None,
            sku=found.facts.sku if found else None,
            reason=(reason or "")[:60] or None,
            channel=channel,
        )
    )
    session.flush()


def refusal(decision: Decision) -> NotEligible:
    """The problem a refused request is answered with."""
    return NotEligible(
        decision.explanation,
        rule=decision.rule,
        policy_version=decision.policy_version,
        resolutions_offered=list(decision.resolutions_offered),
    )


# --- opening a case ------------------------------------------------------------------------


def _backlogs(session: Session) -> dict[int, int]:
    """Open inbound cases plus units in process, per site."""
    counts: dict[int, int] = {}
    inbound = select(ReturnCase.destination_site_id, func.count()).where(
        ReturnCase.status.in_(OPEN_STATUSES), ReturnCase.destination_site_id.is_not(None)
    )
    for site_id, count in session.execute(inbound.group_by(ReturnCase.destination_site_id)):
        if site_id is not None:
            counts[site_id] = counts.get(site_id, 0) + count
    idle = [
        State.in_field,
        State.available,
        State.harvested,
        State.recycled,
        State.written_off,
        State.returned_to_customer,
    ]
    in_process = (
        select(Unit.site_id, func.count())
        .where(Unit.site_id.is_not(None), Unit.state.not_in(idle))
        .group_by(Unit.site_id)
    )
    for site_id, count in session.execute(in_process):
        if site_id is not None:
            counts[site_id] = counts.get(site_id, 0) + count
    return counts


def choose_hub(
    session: Session, found: Found, policy: Policy, battery_damaged: bool
) -> tuple[routing.Route, Site | None]:
    """Route the return by the rules, with the hubs as they are now."""
    hubs = list(session.scalars(select(Site).where(Site.kind == SiteKind.hub).order_by(Site.code)))
    backlog = _backlogs(session)
    shipment = routing.Shipment(
        region=found.facts.region,
        regulated=found.facts.regulated,
        battery=found.battery,
        battery_damaged=battery_damaged,
        product_capabilities=tuple(policy.product(found.facts.sku).capabilities),
        ground_regions=tuple(policy.ground_regions),
        customs_union=tuple(policy.customs_union),
    )
    chosen = routing.route(
        shipment,
        [
            routing.Hub(h.code, h.region, frozenset(h.capabilities or []), backlog.get(h.id, 0))
            for h in hubs
        ],
    )
    site = next((h for h in hubs if h.code == chosen.site), None)
    return chosen, site


def new_rma(session: Session) -> str:
    """A fresh RMA number: RMA- and eight characters that cannot be confused when read aloud."""
    alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
    while True:
        rma = "RMA-" + "".join(secrets.choice(alphabet) for _ in range(8))
        if session.scalar(select(ReturnCase.id).where(ReturnCase.rma == rma)) is None:
            return rma


def new_tracking_number() -> str:
    """The tracking number printed on a built-in drop-off label (a carrier's own, once bought)."""
    return "BH" + "".join(secrets.choice("0123456789") for _ in range(14))


@dataclass
class Opened:
    """A case was opened."""

    case: ReturnCase


@dataclass
class Refused:
    """The rules refused the request (already counted in the intake log)."""

    decision: Decision


def open_case(
    session: Session,
    actor: Actor,
    data: ReturnIn,
    *,
    channel: str,
    photos: list[dict[str, Any]] | None = None,
    setup_help: str | None = None,
    today: date | None = None,
) -> Opened | Refused:
    """Decide a request and, when eligible, open the case, authorise the unit's return, route
    it, and queue the 'label ready' email. A refusal is counted, not raised, so that it stays
    counted when the caller answers 422."""
    assessment = assess(
        session,
        actor,
        email=data.email,
        reason=data.reason,
        serial=data.serial,
        order_ref=data.order_ref,
        sealed=data.sealed,
        locale=data.locale,
        today=today,
    )
    decision, found, policy = assessment.decision, assessment.found, assessment.policy
    if decision.eligible and data.resolution not in decision.resolutions_offered:
        decision = Decision(
            False,
            "resolution.not_offered",
            decision.policy_version,
            f"{eligibility.RULES['resolution.not_offered']}: {data.resolution} (offered: "
            f"{', '.join(decision.resolutions_offered)})",
            decision.resolutions_offered,
        )
    if not decision.eligible or found is None:
        log_intake(session, "refused", channel, decision=decision, found=found, reason=data.reason)
        return Refused(decision)
    battery_damaged = data.battery == "damaged"
    chosen, site = choose_hub(session, found, policy, battery_damaged)
    now = utcnow()
    rma = new_rma(session)
    case = ReturnCase(
        rma=rma,
        brand_id=found.brand_id,
        unit_id=found.unit_id,
        serial=found.facts.serial,
        sku=found.facts.sku,
        order_ref=found.facts.order_ref,
        customer_email=found.facts.customer_email,
        customer_name=data.name or None,
        customer_address=data.address or None,
        locale=data.locale,
        region=found.facts.region,
        channel=channel,
        reason=data.reason,
        reason_note=data.note,
        resolution=data.resolution,
        status=CaseStatus.label_ready if site else CaseStatus.on_hold,
        rule=decision.rule,
        policy_version=decision.policy_version,
        decision=decision.as_dict(),
        destination_site_id=site.id if site else None,
        routing={
            "why": list(chosen.why),
            "missing_capabilities": list(chosen.missing),
            "cross_border": chosen.cross_border,
        },
        ground_only=chosen.ground_only,
        cross_border=chosen.cross_border,
        shipping_method=data.shipping if policy.pickup else "dropoff",
        battery_answer=data.battery,
        sealed=data.sealed,
        photos=photos or [],
        setup_help=setup_help,
        declared_value=Decimal(found.facts.price),
        declared_currency=found.facts.currency,
        hs_code=found.hs_code,
        tracking_number=new_tracking_number() if site else None,
        created_at=now,
        label_created_at=now if site else None,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    perform_step(
        session,
        actor,
        found.facts.serial,
        Step.authorize,
        AuthorizeIn(
            rma=rma,
            reason=data.reason,
            resolution=data.resolution,
            rule=f"{decision.rule}@{decision.policy_version}",
        ),
    )
    record_change(session, actor, "return.opened", "return", rma, None, case.snapshot())
    if site is None:
        exception_queue.add(
            session,
            "return_unrouted",
            f"{rma}: no hub can take {found.facts.serial} ({'; '.join(chosen.why[1:])})"[:500],
            {"rma": rma, "serial": found.facts.serial, "why": list(chosen.why)},
            reference=rma,
            brand_id=found.brand_id,
        )
    else:
        notify(session, case, "label_ready", product_name=found.product_name)
    return Opened(case)


# --- notifications -------------------------------------------------------------------------


def product_name(session: Session, sku: str) -> str:
    """A product's name by SKU (the SKU itself if the product is gone)."""
    return session.scalar(select(Product.name).where(Product.sku == sku)) or sku


def notify(session: Session, case: ReturnCase, template: str, **extra: Any) -> None:
    """Queue a customer email in the outbox, in the caller's transaction (sent after commit)."""
    name_of_product = extra.pop("product_name", None) or product_name(session, case.sku)
    payload = {
        "template": template,
        "to": case.customer_email,
        "locale": case.locale,
        "rma": case.rma,
        "name": case.customer_name,
        "product": name_of_product,
        "serial": case.serial,
        "resolution": case.resolution,
        "status_url": links.absolute(links.status_path(case.rma)),
        "label_url": links.absolute(links.label_path(case.rma)) if case.tracking_number else None,
        "survey_url": links.absolute(links.survey_path(case.rma)),
        "hub": case.destination.name if case.destination else None,
        "outcome": case.outcome_note,
        "ground_only": case.ground_only,
    } | extra
    outbox.emit(session, EMAIL_EVENT, f"return:{case.rma}", payload)


# --- reading -------------------------------------------------------------------------------


def get_case(session: Session, actor: Actor, rma: str) -> ReturnCase:
    """One case in the actor's scope, or NotFound."""
    actor.require("returns.read")
    found = session.scalars(
        visible(actor, select(ReturnCase), ReturnCase).where(ReturnCase.rma == rma.strip().upper())
    ).first()
    if found is None:
        raise NotFound(f"no return {rma[:40]}")
    return found


def case_by_rma(session: Session, rma: str) -> ReturnCase | None:
    """A case by RMA for a signed customer link (the signature is the customer's proof)."""
    return session.scalars(select(ReturnCase).where(ReturnCase.rma == rma)).first()


@dataclass(frozen=True)
class Filters:
    """What a case list may be narrowed by."""

    status: str | None = None
    region: str | None = None
    site: str | None = None
    reason: str | None = None
    q: str | None = None
    breached: bool | None = None
    limit: int = 100
    offset: int = 0


def list_cases(session: Session, actor: Actor, filters: Filters) -> list[ReturnCase]:
    """Cases in the actor's scope, newest first, narrowed by the filters."""
    actor.require("returns.read")
    statement = visible(actor, select(ReturnCase), ReturnCase)
    if filters.status:
        statement = statement.where(ReturnCase.status == filters.status)
    if filters.region:
        statement = statement.where(ReturnCase.region == filters.region.upper())
    if filters.reason:
        statement = statement.where(
            (ReturnCase.reason == filters.reason)
            | ReturnCase.reason.startswith(filters.reason + ".")
        )
    if filters.site:
        statement = statement.join(Site, Site.id == ReturnCase.destination_site_id).where(
            Site.code == filters.site.upper()
        )
    if filters.q:
        term = filters.q.strip()
        statement = statement.where(
            (ReturnCase.rma == term.upper())
            | (ReturnCase.serial == normalise_serial(term))
            | (func.lower(ReturnCase.customer_email) == term.lower())
            | (ReturnCase.order_ref == term)
        )
    statement = statement.order_by(ReturnCase.id.desc())
    if filters.breached is None:
        return list(session.scalars(statement.offset(filters.offset).limit(filters.limit)))
    now = utcnow()
    chosen = []
    for case in session.scalars(statement.limit(5000)):
        if bool(breached_clocks(session, case, now)) == filters.breached:
            chosen.append(case)
    return chosen[filters.offset : filters.offset + filters.limit]


@dataclass(frozen=True)
class UnitProgress:
    """What the hub has done with the unit since the case was opened."""

    received_at: datetime | None = None
    received_site: str | None = None
    inspected_at: datetime | None = None
    shipped_at: datetime | None = None


def unit_progress(session: Session, case: ReturnCase) -> UnitProgress:
    """The unit's receive and inspect steps (and API-recorded ship steps) since the case opened."""
    rows = session.execute(
        select(UnitStep.step, UnitStep.at, Site.code)
        .outerjoin(Site, Site.id == UnitStep.site_id)
        .where(
            UnitStep.unit_id == case.unit_id,
            UnitStep.at >= case.created_at,
            UnitStep.step.in_(("ship", "receive", "inspect")),
        )
        .order_by(UnitStep.seq)
    ).all()
    first: dict[str, tuple[datetime, str | None]] = {}
    for step, at, site in rows:
        first.setdefault(step, (at, site))
    received = first.get("receive")
    return UnitProgress(
        received_at=received[0] if received else None,
        received_site=received[1] if received else None,
        inspected_at=first["inspect"][0] if "inspect" in first else None,
        shipped_at=first["ship"][0] if "ship" in first else None,
    )


def effective_status(case: ReturnCase, progress: UnitProgress) -> CaseStatus:
    """The case's status, moved on by what the hub already recorded on the unit."""
    if not case.is_open:
        return case.status
    if progress.received_at is not None:
        return CaseStatus.received
    if (
        progress.shipped_at is not None
        and STATUS_RANK[case.status] < STATUS_RANK[CaseStatus.in_transit]
    ):
        return CaseStatus.in_transit
    return case.status


def case_clocks(
    session: Session, case: ReturnCase, now: datetime, progress: UnitProgress | None = None
) -> list[sla.Clock]:
    """The case's four SLA clocks under its region's policy."""
    progress = progress or unit_progress(session, case)
    try:
        targets = effective_policy(session, case.region).policy.sla
    except NotEligible:
        targets = policies.Sla()
    return sla.clocks(
        targets,
        now,
        requested_at=case.created_at,
        label_at=case.label_created_at,
        in_transit_at=case.in_transit_at or progress.shipped_at,
        delivered_at=case.delivered_at,
        received_at=case.received_at or progress.received_at,
        resolved_at=case.resolved_at,
        frozen_at=case.cancelled_at,
    )


def breached_clocks(session: Session, case: ReturnCase, now: datetime) -> list[str]:
    """Names of the case's breached clocks."""
    return [clock.name for clock in case_clocks(session, case, now) if clock.breached]


@dataclass
class TimelineEntry:
    """One milestone, for the status page and the API."""

    kind: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


def timeline(session: Session, case: ReturnCase, progress: UnitProgress) -> list[TimelineEntry]:
    """What happened to the return, oldest first."""
    entries = [TimelineEntry("requested", case.created_at)]
    if case.label_created_at:
        entries.append(TimelineEntry("label_ready", case.label_created_at))
    for event in session.scalars(
        select(TrackingEvent)
        .where(TrackingEvent.case_id == case.id)
        .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
    ):
        entries.append(
            TimelineEntry(
                "carrier",
                event.occurred_at,
                {
                    "status": event.status,
                    "message": event.message,
                    "location": event.location,
                    "carrier": event.carrier,
                },
            )
        )
    if case.delivered_at:
        entries.append(TimelineEntry("delivered", case.delivered_at))
    received_at = case.received_at or progress.received_at
    if received_at:
        hub = case.destination.name if case.destination else progress.received_site
        entries.append(TimelineEntry("received", received_at, {"site": hub}))
    if progress.inspected_at:
        entries.append(TimelineEntry("inspected", progress.inspected_at))
    if case.resolved_at:
        entries.append(TimelineEntry("resolved", case.resolved_at, {"outcome": case.outcome_note}))
    if case.cancelled_at:
        entries.append(TimelineEntry("cancelled", case.cancelled_at))
    return sorted(entries, key=lambda entry: entry.at)


def case_view(session: Session, case: ReturnCase, *, with_timeline: bool = True) -> dict[str, Any]:
    """The case as the API shows it (the shape of CaseOut)."""
    now = utcnow()
    progress = unit_progress(session, case)
    routing_info = case.routing or {}
    return {
        "rma": case.rma,
        "status": effective_status(case, progress).value,
        "serial": case.serial,
        "sku": case.sku,
        "order_ref": case.order_ref,
        "email": case.customer_email,
        "locale": case.locale,
        "region": case.region,
        "channel": case.channel,
        "reason": case.reason,
        "resolution": case.resolution,
        "resolutions_offered": case.decision.get("resolutions_offered", []),
        "decision": case.decision,
        "destination_site": case.destination.code if case.destination else None,
        "routing": {
            "destination_site": case.destination.code if case.destination else None,
            "ground_only": case.ground_only,
            "cross_border": case.cross_border,
            "missing_capabilities": routing_info.get("missing_capabilities", []),
            "why": routing_info.get("why", []),
        },
        "shipping_method": case.shipping_method,
        "battery": case.battery_answer,
        "ground_only": case.ground_only,
        "carrier": case.carrier,
        "tracking_number": case.tracking_number,
        "label_url": links.absolute(links.label_path(case.rma)) if case.tracking_number else None,
        "status_url": links.absolute(links.status_path(case.rma)),
        "created_at": case.created_at,
        "label_created_at": case.label_created_at,
        "in_transit_at": case.in_transit_at or progress.shipped_at,
        "delivered_at": case.delivered_at,
        "received_at": case.received_at or progress.received_at,
        "resolved_at": case.resolved_at,
        "cancelled_at": case.cancelled_at,
        "outcome_note": case.outcome_note,
        "survey_score": case.survey_score,
        "sla": [clock.as_dict() for clock in case_clocks(session, case, now, progress)],
        "timeline": [
            {"kind": e.kind, "at": e.at, "detail": e.detail}
            for e in (timeline(session, case, progress) if with_timeline else [])
        ],
        "version": case.version,
    }


# --- changing a case -----------------------------------------------------------------------


def _changed(
    session: Session, actor: Actor, case: ReturnCase, action: str, before: dict[str, Any]
) -> None:
    case.updated_at = utcnow()
    session.flush()
    record_change(session, actor, action, "return", case.rma, before, case.snapshot())


def cancel_case(session: Session, actor: Actor, case: ReturnCase, reason: str) -> ReturnCase:
    """Cancel a return that has not shipped yet."""
    actor.require("returns.manage")
    if case.status not in (CaseStatus.on_hold, CaseStatus.label_ready):
        raise Conflict(
            f"return {case.rma} is {case.status.value}: only a return that has not shipped can "
            "be cancelled",
            status=case.status.value,
        )
    if unit_progress(session, case).shipped_at is not None:
        raise Conflict(f"return {case.rma} has already shipped", status="in_transit")
    before = case.snapshot()
    case.status, case.cancelled_at = CaseStatus.cancelled, utcnow()
    case.outcome_note = f"cancelled: {reason}"[:500]
    _changed(session, actor, case, "return.cancelled", before)
    # The lifecycle has no step back from return_authorized: say so where a supervisor looks.
    exception_queue.add(
        session,
        "return_cancelled",
        f"{case.rma} was cancelled; unit {case.serial} stays return_authorized "
        "(the lifecycle has no step back to in_field)",
        {"rma": case.rma, "serial": case.serial, "reason": reason[:200]},
        reference=case.serial,
        brand_id=case.brand_id,
    )
    return case


def resolve_case(session: Session, actor: Actor, case: ReturnCase, outcome: str) -> ReturnCase:
    """Close a received return with its outcome; the customer is told and asked for a score."""
    actor.require("returns.manage")
    progress = unit_progress(session, case)
    status = effective_status(case, progress)
    if status is not CaseStatus.received:
        raise Conflict(
            f"return {case.rma} is {status.value}: a case is resolved once the unit is received",
            status=status.value,
        )
    before = case.snapshot()
    now = utcnow()
    case.received_at = case.received_at or progress.received_at
    case.status, case.resolved_at, case.outcome_note = CaseStatus.resolved, now, outcome
    _changed(session, actor, case, "return.resolved", before)
    notify(session, case, "resolved")
    notify(session, case, "survey")
    return case


def submit_survey(session: Session, case: ReturnCase, score: int, comment: str) -> ReturnCase:
    """Take the customer's 1–5 score and comment, once, for a resolved case."""
    if case.status is not CaseStatus.resolved:
        raise Conflict("the survey opens when the return is resolved")
    if case.survey_at is not None:
        raise Conflict("this survey was already answered; thank you")
    if not 1 <= score <= 5:
        raise ValidationFailed("the score is from 1 to 5", field="score")
    before = case.snapshot()
    case.survey_score, case.survey_comment, case.survey_at = score, comment[:2000], utcnow()
    _changed(session, PORTAL, case, "return.survey_answered", before)
    return case


# --- carrier tracking ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    """One tracking detail from a carrier."""

    status: str
    message: str
    occurred_at: datetime
    status_detail: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class TrackingUpdate:
    """A carrier's news about one tracking number (from any adapter)."""

    carrier: str
    tracking_code: str
    status: str
    scans: tuple[Scan, ...] = ()
    updated_at: datetime | None = None


def _scan_key(scan: Scan) -> str:
    text = "|".join([scan.status, scan.occurred_at.isoformat(), scan.message, scan.location or ""])
    return hashlib.sha256(text.encode()).hexdigest()


def apply_tracking(session: Session, source: str, update: TrackingUpdate) -> str:
    """Record a carrier update: new scans on the case, the unit's `ship` step when it starts
    moving and when it is delivered; an unknown tracking number goes to the exception queue.
    Re-sent scans are kept once. Returns what was done, in words."""
    actor = carrier_actor(source)
    case = session.scalars(
        select(ReturnCase).where(ReturnCase.tracking_number == update.tracking_code[:60])
    ).first()
    if case is None:
        reason = f"{update.carrier} tracking number {update.tracking_code[:60]} matches no return"
        item = exception_queue.add(
            session,
            "unknown_tracking",
            reason,
            {"carrier": update.carrier, "tracking_code": update.tracking_code, "via": source},
            reference=update.tracking_code[:200],
        )
        session.flush()
        record_change(
            session,
            actor,
            "exception.queued",
            "exception",
            str(item.id),
            None,
            {"kind": item.kind, "reason": reason},
        )
        return "queued: unknown tracking number"
    known = set(
        session.scalars(select(TrackingEvent.detail_key).where(TrackingEvent.case_id == case.id))
    )
    now = utcnow()
    added = 0
    for scan in update.scans:
        key = _scan_key(scan)
        if key in known:
            continue
        known.add(key)
        added += 1
        session.add(
            TrackingEvent(
                case_id=case.id,
                carrier=update.carrier[:40],
                status=scan.status[:40],
                status_detail=(scan.status_detail or None) and scan.status_detail[:60],
                message=scan.message[:300],
                location=scan.location[:200] if scan.location else None,
                occurred_at=scan.occurred_at,
                recorded_at=now,
                detail_key=key,
            )
        )
    before = case.snapshot() | {
        "in_transit_at": case.in_transit_at,
        "delivered_at": case.delivered_at,
    }
    if case.carrier is None:
        case.carrier = update.carrier[:40]
    done = [f"{added} new scans"]
    if case.status is CaseStatus.cancelled:
        exception_queue.add(
            session,
            "tracking_after_cancel",
            f"{case.rma} was cancelled but its parcel is moving ({update.status})",
            {"rma": case.rma, "status": update.status},
            reference=case.rma,
            brand_id=case.brand_id,
        )
        session.flush()
        return "; ".join([*done, "case is cancelled: queued for a person"])
    statuses = [scan.status for scan in update.scans] + [update.status]
    if any(status in MOVING for status in statuses) and case.in_transit_at is None:
        moving = [scan.occurred_at for scan in update.scans if scan.status in MOVING]
        case.in_transit_at = min(moving) if moving else now
        if STATUS_RANK[case.status] < STATUS_RANK[CaseStatus.in_transit]:
            case.status = CaseStatus.in_transit
        done.append(_ship(session, actor, case, "in_transit"))
    if update.status == "delivered" and case.delivered_at is None:
        delivered = [scan.occurred_at for scan in update.scans if scan.status == "delivered"]
        case.delivered_at = max(delivered) if delivered else now
        if STATUS_RANK[case.status] < STATUS_RANK[CaseStatus.delivered]:
            case.status = CaseStatus.delivered
        done.append(_ship(session, actor, case, "delivered"))
    if update.status in CARRIER_PROBLEMS:
        exception_queue.add(
            session,
            "carrier_problem",
            f"{case.rma}: the carrier reports {update.status}",
            {"rma": case.rma, "status": update.status, "carrier": update.carrier},
            reference=case.rma,
            brand_id=case.brand_id,
        )
        done.append(f"carrier reports {update.status}: queued for a person")
    after = case.snapshot() | {
        "in_transit_at": case.in_transit_at,
        "delivered_at": case.delivered_at,
    }
    if after != before or added:
        case.updated_at = now
        session.flush()
        record_change(session, actor, "return.tracking", "return", case.rma, before, after)
    return "; ".join(done)


def _ship(session: Session, actor: Actor, case: ReturnCase, status: str) -> str:
    """Run the unit's `ship` step, unless the hub already has it."""
    state = session.scalar(select(Unit.state).where(Unit.id == case.unit_id))
    if state not in (State.return_authorized, State.in_transit):
        return f"unit is {state.value if state else 'gone'}: ship step not needed"
    if status == "in_transit" and state is State.in_transit:
        return "unit already in transit"
    perform_step(
        session,
        actor,
        case.serial,
        Step.ship,
        ShipIn(
            carrier=case.carrier or "carrier",
            tracking_number=case.tracking_number or case.rma,
            status=status,
        ),
    )
    return f"unit ship step ({status})"


# --- milestones the hub records on the unit ------------------------------------------------


def sync_milestones(session: Session, limit: int = 200) -> int:
    """Bring open cases up to date with what the hub recorded on their units (received, or
    shipped through the API), and queue the 'received' email. Returns how many changed."""
    rows = session.execute(
        select(ReturnCase, Unit.state)
        .join(Unit, Unit.id == ReturnCase.unit_id)
        .where(
            ReturnCase.status.in_(
                [
                    CaseStatus.on_hold,
                    CaseStatus.label_ready,
                    CaseStatus.in_transit,
                    CaseStatus.delivered,
                ]
            ),
            # Received (or further), or shipped through the API while the case awaited it.
            Unit.state.not_in([State.return_authorized, State.in_transit])
            | (
                ReturnCase.status.in_([CaseStatus.on_hold, CaseStatus.label_ready])
                & (Unit.state == State.in_transit)
            ),
        )
        .order_by(ReturnCase.id)
        .limit(limit)
    ).all()
    changed = 0
    for case, _state in rows:
        progress = unit_progress(session, case)
        status = effective_status(case, progress)
        if status is case.status:
            continue
        before = case.snapshot()
        if status is CaseStatus.received:
            case.received_at = progress.received_at
        if case.in_transit_at is None and progress.shipped_at is not None:
            case.in_transit_at = progress.shipped_at
        case.status = status
        _changed(session, PORTAL, case, f"return.{status.value}", before)
        if status is CaseStatus.received:
            notify(session, case, "received")
        changed += 1
    return changed


def label_pdf(session: Session, case: ReturnCase) -> bytes:
    """The case's label (NotFound while the case has no destination)."""
    from backhaul.returns import labels

    if case.destination is None or case.tracking_number is None:
        raise NotFound(f"return {case.rma} has no label yet: a person is arranging its transport")
    product = session.scalars(select(Product).where(Product.sku == case.sku)).first()
    hub = case.destination
    sender = [line for line in (case.customer_address or "").splitlines() if line.strip()]
    return labels.render(
        labels.LabelData(
            rma=case.rma,
            tracking_number=case.tracking_number,
            serial=case.serial,
            sku=case.sku,
            product=product.name if product else case.sku,
            order_ref=case.order_ref,
            reason=case.reason,
            locale=case.locale,
            shipping_method=case.shipping_method,
            ground_only=case.ground_only,
            battery=product.battery.value if product else "none",
            from_lines=[case.customer_name or f"Customer, order {case.order_ref}", *sender],
            to_lines=labels.hub_address(hub.code, hub.name, hub.region),
            origin_region=case.region,
            destination_region=hub.region,
            cross_border=case.cross_border,
            hs_code=case.hs_code,
            declared_value=case.declared_value,
            currency=case.declared_currency,
            weight_g=product.weight_g if product else 0,
            created_at=case.label_created_at or case.created_at,
            status_url=links.absolute(links.status_path(case.rma)),
        )
    )
