"""Step use cases: take a unit through one step, deciding the outcome from the evidence, and
write the step record, the unit's new state, the audit record and the outbound event at once."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from backhaul.accounts.models import User
from backhaul.catalog import checklists
from backhaul.catalog import service as catalog
from backhaul.catalog.models import Regulated, ReleaseStatus, Site, SiteKind
from backhaul.db import utcnow
from backhaul.kit import exception_queue, signing
from backhaul.kit.auth import Actor
from backhaul.kit.changes import record_change
from backhaul.kit.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    StaleVersion,
    ValidationFailed,
)
from backhaul.kit.ids import current_request_id, new_id
from backhaul.kit.jsonable import jsonable
from backhaul.kit.prepared import Prepared
from backhaul.processing import (
    certificates,
    chain,
    disposition,
    faults,
    grading,
    lifecycle,
    sampling,
    store,
    testing,
)
from backhaul.processing import photos as unit_photos
from backhaul.processing.lifecycle import HANDOFF_ROUTES, Outcome, Route, Step
from backhaul.processing.models import SanitizationCertificate
from backhaul.processing.schemas import (
    AccountStatus,
    AuthorizeIn,
    Battery,
    ConfirmationSource,
    DispositionIn,
    FlashIn,
    GradeIn,
    HarvestIn,
    InspectIn,
    ReceiveIn,
    RecycleIn,
    RepackageIn,
    ReturnFromRepairIn,
    SanitizeIn,
    SellIn,
    SendToRepairIn,
    ShipIn,
    ShipToCustomerIn,
    TestIn,
    WriteOffIn,
)
from backhaul.processing.states import State
from backhaul.processing.store import StepRow, UnitState
from backhaul.settings import get_settings
from backhaul.units import service as units
from backhaul.units.registry import normalise_serial

DEFAULT_MAX_TEST_ATTEMPTS = 3
# Steps where the unit arrives from outside the actor's sites: looked up by brand scope only.
INTAKE_STEPS = frozenset({Step.authorize, Step.ship, Step.receive, Step.return_from_repair})
PERMISSION = {Step.sell: "units.import", Step.authorize: "steps.intake", Step.ship: "steps.intake"}
# Where re-verification draws come from: unpredictable, so nobody knows which wipe is checked
# (tests put a seeded generator here).
REVERIFY_CHANCE: sampling.Chance = secrets.SystemRandom()


@dataclass
class Context:
    """Everything a step handler may look at."""

    session: Session
    actor: Actor
    unit: UnitState
    steps: list[chain.StepFact]
    facts: chain.Facts
    now: datetime
    override_request: int | None = None  # the approved request a supervisor's override answers


@dataclass
class Evaluation:
    """What a handler decided: the outcome, the evidence to keep, and changes to the unit."""

    outcome: Outcome
    evidence: dict[str, Any]
    route: Route | None = None
    site: SiteRef | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    decision: dict[str, Any] | None = None
    override_reason: str | None = None
    certificate: dict[str, Any] | None = None
    # Items for the exception queue, written with the step (handlers only read).
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    reverification: dict[str, Any] | None = None  # a passed wipe drawn for re-verification
    photos: list[int] = field(default_factory=list)  # unit photos that become this step's


@dataclass
class Performed:
    """The result of a step: the unit after it, its history, and what the step decided."""

    unit: UnitState
    history: list[StepRow]
    outcome: str
    failures: list[dict[str, Any]]
    decision: dict[str, Any] | None
    certificate_id: str | None
    reverification: str | None = None  # "pending" when this wipe was drawn


@dataclass
class Queued:
    """A receipt for a serial nobody knows: kept in the exception queue."""

    exception_id: int
    reason: str


# --- lookups -----------------------------------------------------------------------------


def find_unit(
    session: Session, actor: Actor, serial: str, *, by_site: bool = True
) -> UnitState | None:
    """The unit with this serial inside the actor's scope, or None."""
    return store.load_unit(session, actor, normalise_serial(serial), by_site=by_site)


def _facts(steps: list[StepRow]) -> list[chain.StepFact]:
    return [chain.StepFact(row.step, row.outcome, row.evidence) for row in steps]


@dataclass(frozen=True, slots=True)
class SiteRef:
    """A site a step sends the unit to or receives it at."""

    id: int
    code: str
    kind: SiteKind


# Sites and people a step names are read on the driver (kit/prepared.py), like its unit.
_SITE_BY_CODE = Prepared(
    select(Site.id, Site.code, Site.kind).where(Site.code == bindparam("code"))
)


def _site(session: Session, code: str) -> SiteRef | None:
    rows = _SITE_BY_CODE.rows(session, {"code": code.strip().upper()})
    return SiteRef(*rows[0]) if rows else None


def _site_in_scope(ctx: Context, code: str, field_name: str, kinds: set[SiteKind]) -> SiteRef:
    ctx.actor.require("catalog.read")
    site = _site(ctx.session, code)
    if site is None or not ctx.actor.sees_site(site.id):
        raise NotFound(f"no site '{code}' that you work at", field=field_name)
    if site.kind not in kinds:
        raise ValidationFailed(f"site {site.code} is a {site.kind.value}", field=field_name)
    return site


def _partner_site(session: Session, code: str, field_name: str, kind: SiteKind) -> SiteRef:
    site = _site(session, code)
    if site is None or site.kind is not kind:
        raise ValidationFailed(f"no {kind.value.replace('_', ' ')} site '{code}'", field=field_name)
    return site


def _require_reverified(ctx: Context, what: str) -> None:
    """A wipe drawn for re-verification holds the unit in custody until it is re-verified."""
    pending = store.pending_reverification(ctx.session, ctx.unit.id)
    if pending is None:
        return
    wipe = sampling.Wipe(pending.wiped_by, pending.wiped_by_id, pending.wipe_verified_by)
    raise IllegalTransition(
        sampling.hold_message(ctx.unit.serial, what, wipe, ctx.unit.site, float(pending.share)),
        missing="reverification",
        reverification={
            "status": "pending",
            "certificate_id": pending.certificate_id,
            "who_may": sampling.who_may(wipe, ctx.unit.site),
        },
    )


def _require_wiped(ctx: Context, route: Route, what: str) -> None:
    require_wiped(ctx.facts, route, what)


def require_wiped(facts: chain.Facts, route: Route, what: str) -> None:
    """Refuse a route that hands the unit over un-wiped (invariant 2), naming `what` chose it."""
    if route in HANDOFF_ROUTES and not facts.wiped:
        raise IllegalTransition(
            f"{what} hands the unit to someone else, which needs a sanitize pass (clear or "
            "purge) or a destroy record after its latest receipt",
            missing="sanitize",
        )


# --- step handlers (one per step; outcome from evidence, never from the client's word) -------


def _authorize(ctx: Context, data: AuthorizeIn) -> Evaluation:
    return Evaluation(Outcome.passed, data.model_dump())


def _ship(ctx: Context, data: ShipIn) -> Evaluation:
    return Evaluation(Outcome.passed, data.model_dump())


def _receive(ctx: Context, data: ReceiveIn) -> Evaluation:
    site = _site_in_scope(ctx, data.site, "site", {SiteKind.hub})
    unannounced = ctx.unit.state is State.in_field
    exceptions = []
    if unannounced:
        exceptions.append(
            {
                "kind": "unannounced_receipt",
                "reason": f"{ctx.unit.serial} arrived at {site.code} without a return "
                "authorisation",
                "payload": {"serial": ctx.unit.serial, "site": site.code},
                "reference": ctx.unit.serial,
                "brand_id": ctx.unit.brand_id,
                "site_id": site.id,
            }
        )
    evidence = data.model_dump() | {"site": site.code, "unmatched": unannounced}
    changes = {"route": None, "condition": None, "may_sell_as_new": None, "hazard": None}
    return Evaluation(Outcome.passed, evidence, site=site, changes=changes, exceptions=exceptions)


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{name}'" for name in names) if names else "none"


def _inspect(ctx: Context, data: InspectIn) -> Evaluation:
    faults.taxonomy().check(data.fault_codes)
    checklist = catalog.current_checklist(ctx.session, ctx.unit.product_id)
    which = checklist.name(ctx.unit.sku)
    answers = checklists.judge(checklist, data.accessories_present, data.cosmetic_findings)
    if answers.unknown_accessories:
        raise ValidationFailed(
            f"'{answers.unknown_accessories[0]}' is not an accessory on {which}; its "
            f"accessories are: {_listed(checklist.accessories)}",
            field="accessories_present",
        )
    if answers.unknown_findings:
        raise ValidationFailed(
            f"'{answers.unknown_findings[0]}' is not a cosmetic point on {which}; its points "
            f"are: {_listed(checklist.cosmetic_points)}",
            field="cosmetic_findings",
        )
    if checklist.packaging_check and data.packaging is None:
        raise ValidationFailed(
            f"{which} checks the packaging: record it as sealed, opened or damaged",
            field="packaging",
        )
    if checklist.battery_check and data.battery is None:
        raise ValidationFailed(
            f"{which} checks the battery: record it as ok, swollen or leaking", field="battery"
        )
    photos = unit_photos.for_current_inspection(ctx.session, ctx.unit.id)
    distinct = list(dict.fromkeys(photo.sha256 for photo in photos))
    missing = checklists.photos_missing(checklist, len(distinct))
    if missing:
        raise IllegalTransition(
            f"{which} asks for {checklist.photos()} of the unit and "
            f"{len(distinct)} were uploaded since it was received: upload {missing} more "
            f"(POST /api/v1/units/{ctx.unit.serial}/photos, or the photo field of the station "
            "page), then inspect again",
            missing="photos",
            photos_required=checklist.photos_required,
            photos_uploaded=len(distinct),
        )
    evidence = data.model_dump() | {
        "accessories_complete": answers.accessories_complete,
        "accessories_missing": list(answers.accessories_missing),
        "checklist": checklist.evidence(),
        "photos": distinct,
    }
    attached = [photo.id for photo in photos]
    if data.battery is not None and data.battery is not Battery.ok:
        return Evaluation(
            Outcome.hazard,
            evidence,
            changes={"hazard": f"battery_{data.battery.value}"},
            photos=attached,
        )
    outcome = Outcome.passed if data.outcome == "pass" else Outcome.failed
    return Evaluation(outcome, evidence, photos=attached)


# The people a certificate names: who wiped (by id) and who verified (an active person).
_PERSON_COLUMNS = (User.username, User.display_name, User.role, User.email)
_PERSON_BY_ID = Prepared(select(*_PERSON_COLUMNS).where(User.id == bindparam("id")))
_VERIFIER = Prepared(
    select(*_PERSON_COLUMNS).where(
        User.username == bindparam("username"),
        User.is_service.is_(False),
        User.is_active.is_(True),
    )
)


def _person(
    session: Session, prepared: Prepared, params: dict[str, Any]
) -> certificates.Signatory | None:
    rows = prepared.rows(session, params)
    return certificates.Signatory(*rows[0]) if rows else None


def _check_account_confirmation(ctx: Context, data: SanitizeIn) -> None:
    """No sanitize pass on the station's word alone: an unbound account needs the confirmation
    of whoever unbound it, from the cloud the unit's brand deactivates through."""
    if data.account is AccountStatus.still_bound:
        return  # the step fails anyway; the confirmation, if any, is kept as the reason
    confirmation = data.account_confirmation
    if confirmation is None:
        raise ValidationFailed(
            f"account '{data.account.value}' needs its confirmation: the source and the device "
            "cloud's reference (account_confirmation)",
            field="account_confirmation",
        )
    if confirmation.reference is None:
        raise ValidationFailed(
            f"account '{data.account.value}' is not confirmed without the device cloud's reference",
            field="account_confirmation.reference",
        )
    brand, cloud = ctx.unit.brand, ctx.unit.brand_device_cloud
    if confirmation.source is ConfirmationSource.device_adapter and cloud:
        raise ValidationFailed(
            f"brand {brand} deactivates accounts through its device cloud ({cloud}): "
            "confirm there, or record the cloud's reference by hand (source manual)",
            field="account_confirmation.source",
        )
    if confirmation.source is ConfirmationSource.device_cloud:
        if not cloud:
            raise ValidationFailed(
                f"brand {brand} has no device cloud configured",
                field="account_confirmation.source",
            )
        url = confirmation.response.url if confirmation.response else None
        if not url or not url.startswith(cloud + "/"):
            raise ValidationFailed(
                f"the confirmation does not come from brand {brand}'s device cloud ({cloud})",
                field="account_confirmation.response.url",
            )


def _workplace(unit: UnitState) -> certificates.Workplace | None:
    if unit.site is None or unit.site_name is None or unit.site_region is None:
        return None
    return certificates.Workplace(unit.site, unit.site_name, unit.site_region)


def _sanitize(ctx: Context, data: SanitizeIn) -> Evaluation:
    _check_account_confirmation(ctx, data)
    regulated = ctx.unit.regulated is not Regulated.none
    if regulated:
        if data.method.value == "clear":
            raise ValidationFailed(
                f"{ctx.unit.sku} is a regulated ({ctx.unit.regulated.value}) product: "
                "use purge or destroy, not clear",
                field="method",
            )
        if data.verified_by is None:
            raise ValidationFailed(
                f"{ctx.unit.sku} is regulated: a second person must verify the wipe (verified_by)",
                field="verified_by",
            )
    verifier = None
    if data.verified_by is not None:
        if data.verified_by == ctx.actor.username:
            raise ValidationFailed(
                "the verifier must be another person than the one who wiped the unit",
                field="verified_by",
            )
        verifier = _person(ctx.session, _VERIFIER, {"username": data.verified_by})
        if verifier is None:
            raise ValidationFailed(f"no active user '{data.verified_by}'", field="verified_by")
    failures = []
    if data.account is AccountStatus.still_bound:
        why = data.account_confirmation.reason if data.account_confirmation else None
        reason = "the device-cloud account is still bound" + (f": {why}" if why else "")
        failures.append({"test": "account", "reason": reason})
    if data.verification_result != "passed":
        failures.append({"test": "verification", "reason": "wipe verification failed"})
    evidence = data.model_dump()
    changes: dict[str, Any] = {}
    if data.account.value in ("deactivated", "still_bound"):
        changes["ever_activated"] = True
    if failures:
        return Evaluation(Outcome.failed, evidence, failures=failures, changes=changes)
    certificate_id = new_id()
    evidence["certificate_id"] = certificate_id
    site = _workplace(ctx.unit)
    performer = (
        _person(ctx.session, _PERSON_BY_ID, {"id": ctx.actor.user_id})
        if ctx.actor.user_id
        else None
    )
    certificate = certificates.build(
        certificate_id=certificate_id,
        serial=ctx.unit.serial,
        sku=ctx.unit.sku,
        make=ctx.unit.brand_name,
        model=ctx.unit.product_name,
        regulated=ctx.unit.regulated,
        data=data,
        performer=certificates.person(
            performer, ctx.actor.display_name, ctx.actor.role.value, site
        ),
        performed_by=ctx.actor.username,
        verifier=certificates.person(verifier, "", "", site) if verifier else None,
        verified_by=verifier.username if verifier else None,
        site_code=ctx.unit.site,
        now=ctx.now,
    )
    share = get_settings().reverify_share
    reverification = None
    if sampling.drawn(share, REVERIFY_CHANCE):
        evidence["reverification"] = {"drawn": True, "share": share}
        reverification = {
            "share": share,
            "wiped_by": ctx.actor.username,
            "wiped_by_id": ctx.actor.user_id,
            "wipe_verified_by": verifier.username if verifier else None,
        }
    return Evaluation(
        Outcome.passed,
        evidence,
        changes=changes,
        certificate=certificate,
        reverification=reverification,
    )


def _flash(ctx: Context, data: FlashIn) -> Evaluation:
    release = catalog.firmware_release(ctx.session, ctx.unit.product_id, data.release)
    if release is None:
        raise ValidationFailed(f"{ctx.unit.sku} has no release '{data.release}'", field="release")
    if release.status is not ReleaseStatus.current:
        current = catalog.current_firmware(ctx.session, ctx.unit.product_id)
        hint = f"flash the current release {current.version}" if current else "none is current"
        raise ValidationFailed(
            f"release {release.version} is {release.status.value}: {hint}", field="release"
        )
    if data.image_sha256 != release.sha256:
        raise ValidationFailed(
            f"the image is not release {release.version}'s (its sha256 "
            f"differs from the registry's)",
            field="image_sha256",
        )
    failures = []
    if data.readback_version != release.version:
        failures.append(
            {"test": "readback_version", "reason": f"device reports {data.readback_version}"}
        )
    if data.readback_sha256 != release.sha256:
        failures.append(
            {"test": "readback_sha256", "reason": "read-back hash differs from the image"}
        )
    attempt = ctx.facts.flash_attempts + 1
    evidence = data.model_dump() | {"attempt": attempt}
    if failures:
        return Evaluation(Outcome.failed, evidence, failures=failures)
    return Evaluation(Outcome.passed, evidence, changes={"firmware_version": release.version})


def _test(ctx: Context, data: TestIn) -> Evaluation:
    plan = catalog.current_test_plan(ctx.session, ctx.unit.product_id)
    if plan is None:
        raise IllegalTransition(f"{ctx.unit.sku} has no test plan yet", missing="test_plan")
    if data.plan != plan.version:
        raise ValidationFailed(
            f"plan version {data.plan} is not current: test against version {plan.version}",
            field="plan",
        )
    unit = ctx.unit
    if unit.site_id is None or unit.site is None or unit.site_timezone is None:
        raise IllegalTransition(f"unit {unit.serial} is at no site", missing="receive")
    today = catalog.site_today(unit.site_timezone, ctx.now)
    rig = catalog.rig_for_test(ctx.session, unit.site_id, unit.site, data.rig, today)
    limit = DEFAULT_MAX_TEST_ATTEMPTS
    if ctx.facts.test_attempts >= limit:
        raise IllegalTransition(
            f"the unit was tested {ctx.facts.test_attempts} times, the "
            f"plan's limit: disposition it instead",
            missing="disposition",
        )
    result = testing.evaluate(plan.tests, data.measurements)
    if result.unknown:
        raise ValidationFailed(
            f"measurement '{result.unknown[0]}' is not in plan version {plan.version}",
            field=f"measurements.{result.unknown[0]}",
        )
    evidence = data.model_dump() | {
        "attempt": ctx.facts.test_attempts + 1,
        "rig": rig.code,
        # The calibration that vouched for the rig on the day (design: "rig calibration id").
        "rig_calibration": {
            "id": rig.calibration_id,
            "certificate_ref": rig.calibration.certificate_ref,
            "calibrated_on": rig.calibration.calibrated_on.isoformat(),
            "due_on": rig.calibration.due_on.isoformat(),
        },
    }
    failures = [f.as_dict() for f in result.failures]
    return Evaluation(
        Outcome.passed if result.passed else Outcome.failed, evidence, failures=failures
    )


def _grade(ctx: Context, data: GradeIn) -> Evaluation:
    result = grading.grade(
        ctx.unit.sku,
        data.cosmetic,
        data.functional,
        ctx.facts.packaging,
        ctx.unit.ever_activated,
        ctx.facts.accessories_missing,
    )
    checklist = catalog.current_checklist(ctx.session, ctx.unit.product_id)
    evidence = data.model_dump() | {
        "condition": result.condition,
        "condition_sku": result.condition_sku,
        "may_sell_as_new": result.may_sell_as_new,
        "why": result.why,
        # The wording the grade was given by: the product's checklist's, else the default.
        "cosmetic_criterion": checklist.criteria()[data.cosmetic],
        "checklist_version": checklist.version,
    }
    return Evaluation(
        Outcome.passed,
        evidence,
        changes={"condition": result.condition, "may_sell_as_new": result.may_sell_as_new},
    )


def _disposition(ctx: Context, data: DispositionIn) -> Evaluation:
    if data.route is not None:
        ctx.actor.require("steps.override")
        assert data.override_reason is not None
        _require_wiped(ctx, data.route, f"the route '{data.route}'")
        decision: dict[str, Any] = {
            "route": data.route.value,
            "rule": f"override by {ctx.actor.username}",
            "reason": data.override_reason,
        }
        if ctx.override_request is not None:
            decision["request_id"] = ctx.override_request
        return Evaluation(
            Outcome.passed,
            decision,
            route=data.route,
            decision=decision,
            override_reason=data.override_reason,
        )
    current = chain.since_latest_receipt(ctx.steps)
    graded = next((f for f in reversed(current) if f.step == "grade"), None)
    codes = dict.fromkeys(
        code
        for f in current
        if f.step in ("inspect", "test")
        for code in f.evidence.get("fault_codes") or ()
    )
    unit = ctx.unit
    book = disposition.policy_book()
    # Weigh money in one currency: the sale price and the site's labour rate, in the book's base.
    price = book.to_base(unit.price, unit.currency)
    labour = (
        book.to_base(unit.site_labour_rate, unit.site_currency)
        if unit.site_labour_rate is not None and unit.site_currency is not None
        else Decimal(0)
    )
    if price is None or labour is None:
        unknown = unit.currency if price is None else unit.site_currency or "?"
        raise IllegalTransition(
            f"the disposition policy has no exchange rate for {unknown}: add it to its fx table "
            "or route the unit by override",
            missing="exchange_rate",
        )
    facts = disposition.DispositionFacts(
        state=ctx.unit.state.value,
        inspection_passed=ctx.facts.inspection_passed,
        wiped=ctx.facts.wiped,
        cosmetic=graded.evidence.get("cosmetic") if graded else None,
        functional=graded.evidence.get("functional") if graded else None,
        in_warranty=ctx.unit.warranty_end >= ctx.now.date(),
        fault_codes=tuple(codes),
        price=price,
        channel=ctx.unit.channel,
        labour_rate=labour,
    )
    policy = book.resolve(ctx.unit.sku, ctx.unit.region)
    decided = disposition.decide(facts, policy)
    _require_wiped(ctx, decided.route, f"rule {decided.rule}")
    decision = decided.as_dict() | {"currency": book.base_currency}
    return Evaluation(Outcome.passed, dict(decision), route=decided.route, decision=decision)


def _repackage(ctx: Context, data: RepackageIn) -> Evaluation:
    release = catalog.current_firmware(ctx.session, ctx.unit.product_id)
    plan = catalog.current_test_plan(ctx.session, ctx.unit.product_id)
    missing = chain.missing_for_sale(
        ctx.steps,
        release.version if release else None,
        release.sha256 if release else None,
        plan.version if plan else None,
    )
    if missing:
        raise IllegalTransition(f"the unit cannot be sold: {missing}", missing=missing)
    _require_reverified(ctx, "repackaging")
    condition = ctx.unit.condition or "new"
    evidence = data.model_dump() | {
        "condition": condition,
        "condition_sku": grading.condition_sku(ctx.unit.sku, condition),
    }
    return Evaluation(Outcome.passed, evidence)


def _send_to_repair(ctx: Context, data: SendToRepairIn) -> Evaluation:
    _require_wiped(ctx, Route.repair, "sending to repair")
    _require_reverified(ctx, "sending to repair")
    partner = _partner_site(ctx.session, data.partner, "partner", SiteKind.repair_partner)
    evidence = data.model_dump() | {"partner": partner.code}
    return Evaluation(Outcome.passed, evidence, site=partner)


def _return_from_repair(ctx: Context, data: ReturnFromRepairIn) -> Evaluation:
    site = _site_in_scope(ctx, data.site, "site", {SiteKind.hub})
    return Evaluation(
        Outcome.passed,
        data.model_dump() | {"site": site.code},
        site=site,
        changes={"route": None, "condition": None, "may_sell_as_new": None},
    )


def _harvest(ctx: Context, data: HarvestIn) -> Evaluation:
    _require_wiped(ctx, Route.harvest, "harvesting")
    _require_reverified(ctx, "harvesting")
    return Evaluation(Outcome.passed, data.model_dump() | {"donor_serial": ctx.unit.serial})


def _recycle(ctx: Context, data: RecycleIn) -> Evaluation:
    _require_wiped(ctx, Route.recycle, "recycling")
    _require_reverified(ctx, "recycling")
    recycler = _partner_site(ctx.session, data.recycler, "recycler", SiteKind.recycler)
    return Evaluation(
        Outcome.passed, data.model_dump() | {"recycler": recycler.code}, site=recycler
    )


def _write_off(ctx: Context, data: WriteOffIn) -> Evaluation:
    return Evaluation(Outcome.passed, data.model_dump())


def _ship_to_customer(ctx: Context, data: ShipToCustomerIn) -> Evaluation:
    _require_wiped(ctx, Route.return_to_customer, "returning to the customer")
    _require_reverified(ctx, "returning to the customer")
    if ctx.unit.hazard is not None:
        raise IllegalTransition(
            "the unit has a battery hazard and must not ship by air; arrange ground transport",
            missing="ground_shipping",
        )
    return Evaluation(Outcome.passed, data.model_dump())


Handler = Callable[[Context, Any], Evaluation]
# Every step but `sell` (which creates the unit; see perform_step) has a handler.
HANDLERS: dict[Step, Handler] = {
    Step.authorize: _authorize,
    Step.ship: _ship,
    Step.receive: _receive,
    Step.inspect: _inspect,
    Step.sanitize: _sanitize,
    Step.flash: _flash,
    Step.test: _test,
    Step.grade: _grade,
    Step.disposition: _disposition,
    Step.repackage: _repackage,
    Step.send_to_repair: _send_to_repair,
    Step.return_from_repair: _return_from_repair,
    Step.harvest: _harvest,
    Step.recycle: _recycle,
    Step.write_off: _write_off,
    Step.ship_to_customer: _ship_to_customer,
}
# What each step takes as evidence.
STEP_INPUT: dict[Step, type[BaseModel]] = {
    Step.sell: SellIn,
    Step.authorize: AuthorizeIn,
    Step.ship: ShipIn,
    Step.receive: ReceiveIn,
    Step.inspect: InspectIn,
    Step.sanitize: SanitizeIn,
    Step.flash: FlashIn,
    Step.test: TestIn,
    Step.grade: GradeIn,
    Step.disposition: DispositionIn,
    Step.repackage: RepackageIn,
    Step.send_to_repair: SendToRepairIn,
    Step.return_from_repair: ReturnFromRepairIn,
    Step.harvest: HarvestIn,
    Step.recycle: RecycleIn,
    Step.write_off: WriteOffIn,
    Step.ship_to_customer: ShipToCustomerIn,
}


# --- the one write path ------------------------------------------------------------------


def _snapshot(unit: UnitState) -> dict[str, Any]:
    return {
        "state": unit.state.value,
        "route": unit.route.value if unit.route else None,
        "site": unit.site,
        "condition": unit.condition,
        "version": unit.version,
    }


def _sell(session: Session, actor: Actor, serial: str, data: SellIn) -> Performed:
    row = data.model_dump(mode="json") | {"serial": serial}
    summary = units.import_units(session, actor, [row], source="api: sell step")
    if summary.duplicates:
        raise Conflict(f"serial {normalise_serial(serial)} is already registered on this order")
    if summary.rejections:
        rejection = summary.rejections[0]
        raise ValidationFailed(rejection.reason, field=rejection.field)
    unit = find_unit(session, actor, serial)
    if unit is None:  # registered, but a site-scoped actor cannot see a unit in the field
        raise NotFound(f"serial {serial} registered; it is outside your sites")
    return Performed(unit, [], Outcome.passed.value, [], None, None)


def perform_step(
    session: Session,
    actor: Actor,
    serial: str,
    step: Step,
    data: BaseModel,
    if_match: int | None = None,
    *,
    override_request: int | None = None,
) -> Performed | Queued:
    """Run one step on one unit: check the table, judge the evidence, record everything.

    `override_request` names the approved request a supervisor's route override answers.
    """
    actor.require(PERMISSION.get(step, "steps.process"))
    if step is Step.sell:
        assert isinstance(data, SellIn)
        return _sell(session, actor, serial, data)
    unit = find_unit(session, actor, serial, by_site=step not in INTAKE_STEPS)
    if unit is None:
        if step is Step.receive:
            assert isinstance(data, ReceiveIn)
            return _queue_unknown_receipt(session, actor, serial, data)
        raise NotFound(f"no unit with serial '{serial}' at your sites")
    _check_version(unit, if_match)
    history = store.load_steps(session, unit.id)
    steps = _facts(history)
    facts = chain.facts(steps)
    at = lifecycle.position(unit.state, unit.route)
    verdict = lifecycle.check(step, at, facts.inspection_passed)
    if not verdict.allowed:
        raise IllegalTransition(
            verdict.reason, missing=_prerequisite(step, at), state=unit.state.value
        )
    ctx = Context(session, actor, unit, steps, facts, utcnow(), override_request)
    evaluation = HANDLERS[step](ctx, data)
    return _record(ctx, step, at, evaluation, history)


def _check_version(unit: UnitState, if_match: int | None) -> None:
    if if_match is not None and if_match != unit.version:
        raise StaleVersion(
            f"unit {unit.serial} is at version {unit.version}, not {if_match}; "
            "reload it and try again",
            current_version=unit.version,
        )


def override_failed_step(
    session: Session,
    actor: Actor,
    serial: str,
    step: Step,
    reason: str,
    if_match: int | None = None,
    *,
    override_request: int | None = None,
) -> Performed:
    """Override a failed `inspect` or `test` to passed with a written reason: a new record of
    that step (outcome pass, evidence marked as an override, with the original failure) taken
    through the lifecycle table's pass transition and the one write path."""
    actor.require("steps.override")
    unit = find_unit(session, actor, serial)
    if unit is None:
        raise NotFound(f"no unit with serial '{serial}' at your sites")
    _check_version(unit, if_match)
    history = store.load_steps(session, unit.id)
    check_failed_step_override(session, unit, history, step)
    failed = history[-1]
    evidence = {k: v for k, v in failed.evidence.items() if k != "failures"} | {
        "override": True,
        "original_failure": {
            "seq": failed.seq,
            "outcome": failed.outcome,
            "actor": failed.actor,
            "at": _iso(failed.at),
            "failures": failed.evidence.get("failures", []),
        },
        "reason": reason,
        "supervisor": actor.username,
        "request_id": override_request,
    }
    if step is Step.inspect:
        evidence["outcome"] = Outcome.passed.value
    steps = _facts(history)
    ctx = Context(session, actor, unit, steps, chain.facts(steps), utcnow(), override_request)
    evaluation = Evaluation(Outcome.passed, evidence, override_reason=reason)
    at = lifecycle.position(unit.state, unit.route)
    return _record(ctx, step, at, evaluation, history)


def check_failed_step_override(
    session: Session, unit: UnitState, history: list[StepRow], step: Step
) -> None:
    """Refuse an override of a failed step that would break an invariant or that no longer
    matches where the unit stands: 422 for a step that is never overridden, else 409."""
    at = lifecycle.position(unit.state, unit.route)
    latest = (history[-1].step, history[-1].outcome) if history else None
    verdict = lifecycle.check_override(step, at, latest)
    if not verdict.allowed:
        if step not in lifecycle.OVERRIDABLE_FAILURES:
            raise ValidationFailed(verdict.reason, field="step")
        raise IllegalTransition(verdict.reason, state=unit.state.value)
    if step is Step.test:
        plan = catalog.current_test_plan(session, unit.product_id)
        tested = history[-1].evidence.get("plan")
        if plan is None or plan.version != tested:
            raise IllegalTransition(
                f"the failed test was against plan version {tested}, and version "
                f"{plan.version if plan else 'none'} is current: test the unit again instead",
                missing="test",
            )


def _prerequisite(step: Step, at: str) -> str:
    """Name what must happen before `step` can run: the first source it could come from."""
    transition = lifecycle.BY_STEP[step]
    return " or ".join(str(source) for source in transition.sources) + f" (now {at})"


def _record(
    ctx: Context, step: Step, at: str, evaluation: Evaluation, history: list[StepRow]
) -> Performed:
    unit, session = ctx.unit, ctx.session
    before = _snapshot(unit)
    read_version = unit.version
    to_state = lifecycle.target(step, evaluation.outcome, evaluation.route)
    if evaluation.site is not None:
        unit.site_id, unit.site = evaluation.site.id, evaluation.site.code
    for name, value in evaluation.changes.items():
        setattr(unit, name, value)
    unit.state = to_state
    if to_state is State.dispositioned:
        unit.route = evaluation.route
    elif step is Step.disposition:
        unit.route = None
    unit.step_count += 1
    store.save(session, unit, read_version, ctx.now)
    for item in evaluation.exceptions:
        exception_queue.add(session, **item)
    evidence = jsonable(
        evaluation.evidence | ({"failures": evaluation.failures} if evaluation.failures else {})
    )
    row = StepRow(
        seq=unit.step_count,
        step=step.value,
        outcome=evaluation.outcome.value,
        from_position=at,
        to_position=lifecycle.position(unit.state, unit.route),
        actor=ctx.actor.username,
        site=unit.site,
        at=ctx.now,
        evidence=evidence,
        override_reason=evaluation.override_reason,
    )
    step_id = store.add_step(
        session,
        {
            "unit_id": unit.id,
            "seq": row.seq,
            "step": row.step,
            "outcome": row.outcome,
            "from_position": row.from_position,
            "to_position": row.to_position,
            "actor_id": ctx.actor.user_id,
            "actor_name": row.actor,
            "site_id": unit.site_id,
            "at": row.at,
            "evidence": row.evidence,
            "override_reason": row.override_reason,
            "request_id": current_request_id(),
        },
    )
    unit_photos.attach(session, evaluation.photos, step_id)
    certificate_id = None
    sampled: dict[str, Any] = {}
    if evaluation.certificate is not None:
        certificate_id = evaluation.certificate["certificate_id"]
        store.add_certificate(
            session,
            {
                "id": certificate_id,
                "unit_id": unit.id,
                "step_id": step_id,
                "issued_at": ctx.now,
                "content": evaluation.certificate,
                "signature": signing.sign(evaluation.certificate),
            },
        )
        sampled = _draw_for_reverification(ctx, certificate_id, evaluation.reverification)
    after = (
        _snapshot(unit)
        | {
            "step": step.value,
            "seq": row.seq,
            "outcome": evaluation.outcome.value,
        }
        | sampled
    )
    if evaluation.override_reason is not None:
        after["override_reason"] = evaluation.override_reason
        if ctx.override_request is not None:
            after["override_request"] = ctx.override_request
    record_change(session, ctx.actor, f"unit.{step.value}", "unit", unit.serial, before, after)
    return Performed(
        unit,
        [*history, row],
        evaluation.outcome.value,
        evaluation.failures,
        evaluation.decision,
        certificate_id,
        sampled.get("reverification"),
    )


def fail_wipe_on_reverification(
    session: Session, actor: Actor, unit: UnitState, evidence: dict[str, Any], reason: str
) -> Performed:
    """A drawn wipe failed its re-verification: record a failed `sanitize` through the one write
    path. The table's failure target for sanitize is `quarantined`, from where sanitize is legal
    again; the record keeps the position the unit really stood at (a re-verification may find
    the unit anywhere in the house), and from now on every rule that asks "wiped since the
    latest receipt?" (invariants 1 and 2, the disposition guard) answers no."""
    history = store.load_steps(session, unit.id)
    steps = _facts(history)
    ctx = Context(session, actor, unit, steps, chain.facts(steps), utcnow())
    at = lifecycle.position(unit.state, unit.route)
    evaluation = Evaluation(
        Outcome.failed,
        evidence,
        failures=[{"test": "reverification", "reason": reason}],
        changes={"route": None},
    )
    return _record(ctx, Step.sanitize, at, evaluation, history)


def _draw_for_reverification(
    ctx: Context, certificate_id: str, drawn: dict[str, Any] | None
) -> dict[str, Any]:
    """A new wipe replaces any re-verification still pending for an older one; when this wipe
    was drawn, record the draw beside the history. Returns what the audit record adds."""
    added: dict[str, Any] = {}
    superseded = store.supersede_reverifications(ctx.session, ctx.unit.id, certificate_id, ctx.now)
    if superseded:
        added["reverifications_superseded"] = superseded
    if drawn is not None:
        store.add_reverification(
            ctx.session,
            {
                "unit_id": ctx.unit.id,
                "certificate_id": certificate_id,
                "brand_id": ctx.unit.brand_id,
                "site_id": ctx.unit.site_id,
                "share": Decimal(str(drawn["share"])),
                "drawn_at": ctx.now,
                "wiped_by": drawn["wiped_by"],
                "wiped_by_id": drawn["wiped_by_id"],
                "wipe_verified_by": drawn["wipe_verified_by"],
                "status": "pending",
            },
        )
        added["reverification"] = "pending"
    return added


def _queue_unknown_receipt(session: Session, actor: Actor, serial: str, data: ReceiveIn) -> Queued:
    site = catalog.get_site(session, actor, data.site)
    reason = f"unknown serial {normalise_serial(serial)[:64]} received at {site.code}"
    item = exception_queue.add(
        session,
        "unknown_serial",
        reason,
        {"serial": serial[:64], **data.model_dump(mode="json")},
        reference=normalise_serial(serial)[:64],
        site_id=site.id,
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
    return Queued(item.id, reason)


# --- reads -------------------------------------------------------------------------------


def get_unit(session: Session, actor: Actor, serial: str) -> tuple[UnitState, list[StepRow]]:
    """A unit in the actor's scope and its steps, or NotFound."""
    actor.require("units.read")
    unit = find_unit(session, actor, serial)
    if unit is None:
        raise NotFound(f"no unit with serial '{serial}'")
    return unit, store.load_steps(session, unit.id)


def _iso(value: datetime) -> str:
    return value.isoformat()


def unit_view(unit: UnitState, steps: list[StepRow]) -> dict[str, Any]:
    """The unit as the API shows it (JSON-ready): state, condition, version and whole history:
    its sale, then every step with actor, time, site and evidence."""
    sale = {
        "step": "sell",
        "outcome": "pass",
        "from_position": lifecycle.NEW,
        "to_position": "in_field",
        "actor": "import",
        "site": None,
        "at": _iso(unit.sold_at),
        "evidence": {
            "order_ref": unit.order_ref,
            "sold_at": _iso(unit.sold_at),
            "region": unit.region,
            "channel": unit.channel,
            "price": str(unit.price),
            "currency": unit.currency,
            "warranty_end": unit.warranty_end.isoformat(),
            "import_batch": unit.import_batch_id,
        },
        "override_reason": None,
    }
    history = [sale] + [
        {
            "step": row.step,
            "outcome": row.outcome,
            "from_position": row.from_position,
            "to_position": row.to_position,
            "actor": row.actor,
            "site": row.site,
            "at": _iso(row.at),
            "evidence": row.evidence,
            "override_reason": row.override_reason,
        }
        for row in steps
    ]
    return {
        "serial": unit.serial,
        "sku": unit.sku,
        "brand": unit.brand,
        "state": unit.state.value,
        "route": unit.route.value if unit.route else None,
        "condition": unit.condition,
        "condition_sku": grading.condition_sku(unit.sku, unit.condition)
        if unit.condition
        else None,
        "site": unit.site,
        "version": unit.version,
        "may_sell_as_new": unit.may_sell_as_new,
        "hazard": unit.hazard,
        "quarantine_reason": chain.hold_reason(steps[-1].step, steps[-1].evidence, unit.hazard)
        if unit.state is State.quarantined and steps
        else None,
        "air_shipment_blocked": unit.air_shipment_blocked,
        "firmware_version": unit.firmware_version,
        "sold_at": _iso(unit.sold_at),
        "region": unit.region,
        "warranty_end": unit.warranty_end.isoformat(),
        "history": history,
    }


def latest_certificate(session: Session, actor: Actor, serial: str) -> SanitizationCertificate:
    """The unit's newest certificate of sanitization, or NotFound."""
    actor.require("units.read")
    unit = find_unit(session, actor, serial)
    if unit is None:
        raise NotFound(f"no unit with serial '{serial}' at your sites")
    certificate = session.scalars(
        select(SanitizationCertificate)
        .where(SanitizationCertificate.unit_id == unit.id)
        .order_by(SanitizationCertificate.issued_at.desc())
        .limit(1)
    ).first()
    if certificate is None:
        raise NotFound(f"unit {unit.serial} has no certificate of sanitization yet")
    return certificate
