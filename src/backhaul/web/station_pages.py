"""Station pages for technicians: scan a serial, get the unit at its next step with the step's
form and what counts as a pass, submit it through the same service as the API; ask a
supervisor for an override with a written reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from backhaul.catalog import checklists, firmware_images
from backhaul.catalog import service as catalog
from backhaul.catalog.api import image_response
from backhaul.catalog.models import SiteKind
from backhaul.db import utcnow
from backhaul.kit import uploads
from backhaul.kit.auth import Actor
from backhaul.kit.errors import DomainError, Forbidden, NotAuthenticated, NotFound
from backhaul.kit.http import DbSession
from backhaul.processing import (
    chain,
    faults,
    labels,
    lifecycle,
    overrides,
    photos,
    queues,
    reverification,
    sampling,
    service,
    store,
    testing,
)
from backhaul.processing.lifecycle import Route, Step
from backhaul.processing.models import OverrideKind, OverrideStatus
from backhaul.processing.photos import IncomingFile
from backhaul.processing.schemas import OverrideIn, ReverificationIn
from backhaul.processing.states import State
from backhaul.processing.store import UnitState
from backhaul.units.registry import normalise_serial
from backhaul.web.common import CsrfChecked, PageActor, flash, render

router = APIRouter(prefix="/station", include_in_schema=False)
# The inspect form carries photos, for the body-size middleware (which runs before routing).
INSPECT_FORM_PATH = re.compile(r"/station/units/[^/]+/steps/inspect")
# The steps a station records (the others are intake, admin or partner work).
STATION_STEPS = (
    Step.receive,
    Step.inspect,
    Step.sanitize,
    Step.flash,
    Step.test,
    Step.grade,
    Step.disposition,
    Step.repackage,
    Step.send_to_repair,
    Step.harvest,
    Step.recycle,
    Step.ship_to_customer,
    Step.return_from_repair,
)
INTAKE = frozenset({State.return_authorized, State.in_transit, State.in_repair})


@dataclass
class Field:
    """One form field of a step."""

    name: str
    label: str
    kind: str = "text"  # text, number, select, checkbox, multi (boxes), file, codes, hidden
    options: list[tuple[str, str]] = field(default_factory=list)
    value: Any = ""
    help: str = ""
    required: bool = True


@dataclass
class Release:
    """The release a flash step writes, and where to download its image (None: hash only)."""

    version: str
    sha256: str
    size: int
    download: str | None


@dataclass
class StepForm:
    """The form of a step: its fields and what counts as a pass."""

    step: Step
    fields: list[Field]
    passes: list[str]
    on_fail: str = ""
    release: Release | None = None


def _choices(*values: str) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


def _form(session: Session, actor: Actor, unit: UnitState, step: Step) -> StepForm:
    """The fields a step asks for, prefilled where the system knows the answer."""
    codes = Field(
        "fault_codes",
        "Fault codes",
        "codes",
        help="from the taxonomy, separated by spaces; NFF when no fault is found",
        required=False,
    )
    if step is Step.receive:
        hubs = catalog.list_sites(session, actor, kind=SiteKind.hub.value)
        return StepForm(
            step,
            [
                Field("site", "Site", "select", [(s.code, f"{s.code} {s.name}") for s in hubs]),
                Field(
                    "packaging_seen", "Packaging", "select", _choices("opened", "sealed", "damaged")
                ),
            ],
            ["the serial matches the parcel; the dock time is recorded"],
        )
    if step is Step.inspect:
        return _inspect_form(session, unit, codes)
    if step is Step.sanitize:
        return StepForm(
            step,
            [
                Field(
                    "method",
                    "Method (NIST SP 800-88)",
                    "select",
                    _choices("purge", "clear", "destroy"),
                ),
                Field("tool", "Tool and version", value="WipeKit 4.2"),
                Field("verification", "Verification", "select", _choices("full", "sampling")),
                Field(
                    "verification_result",
                    "Verification result",
                    "select",
                    _choices("passed", "failed"),
                ),
                Field(
                    "account",
                    "Device-cloud account",
                    "select",
                    _choices("deactivated", "none_found", "still_bound"),
                ),
                Field(
                    "account_reference",
                    "Confirmation reference",
                    help="the device cloud's reference for the deactivation (or the lookup that "
                    "found no account)",
                    required=False,
                ),
                Field("verified_by", "Verified by (second person)", required=False),
            ],
            [
                "verification passed",
                "the device-cloud account is deactivated or none was found, confirmed by the "
                "cloud's reference",
            ],
        )
    if step is Step.flash:
        release = catalog.current_firmware(session, unit.product_id)
        version = release.version if release else ""
        sha = release.sha256 if release else ""
        shown = None
        if release is not None:
            stored = firmware_images.is_stored(release.sha256)
            link = f"/station/firmware/{unit.sku}/{release.version}/image" if stored else None
            shown = Release(release.version, release.sha256, release.size, link)
        return StepForm(
            step,
            [
                Field("release", "Release", value=version),
                Field("image_sha256", "Image sha256", value=sha),
                Field("readback_version", "Read-back version"),
                Field("readback_sha256", "Read-back sha256"),
            ],
            [f"the device reads back version {version} with sha256 {sha[:12]}…"],
            release=shown,
        )
    if step is Step.test:
        plan = catalog.current_test_plan(session, unit.product_id)
        tests = plan.tests if plan else []
        fields = [Field("plan", "Plan version", "hidden", value=plan.version if plan else "")]
        for test in tests:
            if isinstance(test.get("equals"), bool):
                fields.append(
                    Field(f"m.{test['id']}", test["id"], "select", _choices("true", "false"))
                )
            else:
                fields.append(
                    Field(
                        f"m.{test['id']}", test["id"], "number", required=test.get("required", True)
                    )
                )
        rig, rig_pass = _rig_field(session, actor, unit)
        fields += [rig, Field("station", "Station", value="", required=False), codes]
        return StepForm(
            step,
            fields,
            [rig_pass, *(_limits(test) for test in tests)],
            "a failed test asks for fault codes",
        )
    if step is Step.grade:
        return StepForm(
            step,
            [
                Field(
                    "cosmetic",
                    "Cosmetic grade",
                    "select",
                    [
                        (grade.value, f"{grade.value}: {meaning}")
                        for grade, meaning in _checklist(session, unit).criteria().items()
                    ],
                ),
                Field("functional", "Functional grade", "select", _choices("pass", "fail")),
            ],
            ["new only when sealed and never activated: computed, not chosen"],
        )
    if step is Step.disposition:
        return StepForm(
            step,
            [],
            ["the engine prices every legal route and picks the best; a supervisor may override"],
        )
    if step is Step.repackage:
        return StepForm(
            step,
            [
                Field("box", "Box", "select", _choices("refurbished", "original")),
                Field("label_printed", "Label printed", "checkbox", value=True),
            ],
            ["the full chain: inspected, wiped, current firmware, tested, graded, restock"],
        )
    if step is Step.send_to_repair:
        partners = queues.partner_sites(session, SiteKind.repair_partner)
        return StepForm(
            step,
            [Field("partner", "Partner", "select", [(s.code, s.name) for s in partners])],
            ["wiped before it leaves"],
        )
    if step is Step.harvest:
        return StepForm(step, [Field("parts", "Parts taken (spaces between)")], ["wiped first"])
    if step is Step.recycle:
        recyclers = queues.partner_sites(session, SiteKind.recycler)
        return StepForm(
            step,
            [
                Field("recycler", "Recycler", "select", [(s.code, s.name) for s in recyclers]),
                Field("weight_g", "Weight (g)", "number"),
            ],
            ["wiped or destroyed first"],
        )
    if step is Step.ship_to_customer:
        return StepForm(
            step,
            [Field("carrier", "Carrier"), Field("tracking_number", "Tracking number")],
            ["wiped; a battery hazard ships by ground only"],
        )
    return StepForm(step, [Field("site", "Site")], [])


def _checklist(session: Session, unit: UnitState) -> checklists.Checklist:
    return catalog.current_checklist(session, unit.product_id)


def _inspect_form(session: Session, unit: UnitState, codes: Field) -> StepForm:
    """The inspection as the product's checklist asks for it: a box per named accessory and
    cosmetic point, packaging and battery where they are checked, and the photos it needs."""
    checklist = _checklist(session, unit)
    fields = [Field("outcome", "Outcome", "select", _choices("pass", "fail"))]
    if checklist.packaging_check:
        fields.append(
            Field("packaging", "Packaging", "select", _choices("opened", "sealed", "damaged"))
        )
    if checklist.accessories:
        fields.append(
            Field(
                "accessories_present",
                "Accessories present",
                "multi",
                [(name, name) for name in checklist.accessories],
                help="tick each one in the box; the server decides whether the set is complete",
                required=False,
            )
        )
    if checklist.cosmetic_points:
        fields.append(
            Field(
                "cosmetic_findings",
                "Cosmetic damage found at",
                "multi",
                [(name, name) for name in checklist.cosmetic_points],
                required=False,
            )
        )
    if checklist.battery_check:
        fields.append(Field("battery", "Battery", "select", _choices("ok", "swollen", "leaking")))
    uploaded = len({p.sha256 for p in photos.for_current_inspection(session, unit.id)})
    needed = checklist.photos_required
    fields += [
        Field(
            "photos",
            "Photos",
            "file",
            help=f"{uploaded} of {needed} required uploaded; JPEG or PNG, "
            f"at most {uploads.max_photo_bytes():,} bytes each"
            if needed
            else f"{uploaded} uploaded; none required, JPEG or PNG",
            required=False,
        ),
        codes,
        Field("notes", "Notes", required=False),
    ]
    passes = ["no visible damage that stops the unit working"]
    if checklist.battery_check:
        passes.append("battery flat and dry (swollen or leaking: the unit is quarantined)")
    if checklist.packaging_check:
        passes.append("sealed only when the factory seal is unbroken")
    if needed:
        passes.append(
            f"{checklist.photos()} of the unit, uploaded before the inspection is recorded"
        )
    passes.append(f"checked against {checklist.name(unit.sku)}")
    return StepForm(Step.inspect, fields, passes, "a failed inspection asks for fault codes")


def _rig_field(session: Session, actor: Actor, unit: UnitState) -> tuple[Field, str]:
    """The rig select (the site's rigs in service, the first usable one chosen) and the pass
    criterion it brings: a calibration that is not due."""
    now = utcnow()
    options: list[tuple[str, str]] = []
    usable: list[str] = []
    for rig in catalog.list_rigs(session, actor, unit.site) if unit.site else []:
        if not rig.active:
            continue
        verdict, latest = catalog.rig_verdict(session, rig, now)
        if verdict.usable and latest is not None:
            usable.append(rig.code)
            note = f"calibrated, due {latest.due_on.isoformat()}"
        elif latest is not None:
            note = f"CALIBRATION DUE {latest.due_on.isoformat()}"
        else:
            note = "not calibrated"
        options.append((rig.code, f"{rig.code} {rig.name} ({note})"))
    help_text = (
        ""
        if usable
        else f"no rig at {unit.site} has a current calibration: a supervisor records one first"
    )
    field = Field(
        "rig", "Test rig", "select", options, value=usable[0] if usable else "", help=help_text
    )
    return field, "tested on a rig whose calibration is not due"


def _limits(test: dict[str, Any]) -> str:
    unit = test.get("unit", "")
    if test.get("equals") is not None:
        return f"{test['id']} must be {str(test['equals']).lower()}"
    bounds = []
    if test.get("min") is not None:
        bounds.append(f"≥ {test['min']} {unit}".strip())
    if test.get("max") is not None:
        bounds.append(f"≤ {test['max']} {unit}".strip())
    optional = " (optional)" if test.get("required") is False else ""
    return f"{test['id']} {' and '.join(bounds)}{optional}"


def allowed_steps(unit: UnitState, steps: list[chain.StepFact]) -> list[Step]:
    """The station steps the lifecycle table allows now, the one the unit waits for first (a
    failed test is routed first; a retest is offered, not suggested)."""
    at = lifecycle.position(unit.state, unit.route)
    passed = chain.facts(steps).inspection_passed
    return [step for step in lifecycle.next_steps(at, passed) if step in STATION_STEPS]


def _find(session: Session, actor: Actor, serial: str) -> UnitState:
    unit = service.find_unit(session, actor, serial)
    if unit is None:
        # A unit on its way in is not at any of the actor's sites yet; receiving it is allowed.
        incoming = service.find_unit(session, actor, serial, by_site=False)
        if incoming is not None and incoming.state in INTAKE:
            return incoming
        raise NotFound(f"no unit with serial '{serial}' at your sites")
    return unit


def _page(
    request: Request,
    session: Session,
    actor: Actor,
    serial: str,
    step_name: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    reverify_form: dict[str, str] | None = None,
    override_form: dict[str, str] | None = None,
    override_errors: dict[str, str] | None = None,
) -> Response:
    unit = _find(session, actor, serial)
    history = store.load_steps(session, unit.id)
    steps = [chain.StepFact(r.step, r.outcome, r.evidence) for r in history]
    allowed = allowed_steps(unit, steps)
    step = next((s for s in allowed if s.value == step_name), allowed[0] if allowed else None)
    form = _form(session, actor, unit, step) if step is not None else None
    if form is not None and values:
        for item in form.fields:
            if item.name in values:
                item.value = values[item.name]
    view = service.unit_view(unit, history)
    decision = next(
        (h["evidence"] for h in reversed(view["history"]) if h["step"] == "disposition"), None
    )
    requests = _requests_for(session, actor, unit.serial)
    pending = any(r.request.status is OverrideStatus.pending for r in requests)
    return render(
        request,
        "station_unit.html",
        actor,
        status=status,
        unit=view,
        position=lifecycle.position(unit.state, unit.route),
        step=step,
        form=form,
        allowed=allowed,
        errors=errors or {},
        decision=decision,
        codes=faults.taxonomy().leaves(),
        reverify=_reverification_panel(session, actor, unit),
        reverify_form=reverify_form or {},
        # One pending request per unit: while it waits for a supervisor, nothing more to ask.
        override_choices=[] if pending else override_choices(unit, history),
        override_requests=requests,
        override_form=override_form or {},
        override_errors=override_errors or {},
    )


@router.get("")
def station(request: Request, session: DbSession, actor: PageActor, serial: str = "") -> Response:
    """The scan field; with `serial`, the unit at its next step."""
    actor.require("steps.process")
    if serial.strip():
        return RedirectResponse(
            f"/station/units/{normalise_serial(serial.strip())[:64]}", status_code=303
        )
    return render(request, "station.html", actor)


@router.get("/units/{serial}")
def unit_page(
    request: Request, serial: str, session: DbSession, actor: PageActor, step: str = ""
) -> Response:
    """The unit, its history, and the form of its next step (or of `step`, when allowed)."""
    actor.require("steps.process")
    try:
        return _page(request, session, actor, serial, step or None)
    except NotFound as error:
        return render(request, "station.html", actor, status=404, error=error.detail, serial=serial)


def _codes(raw: str) -> list[str]:
    return [code for code in raw.replace(",", " ").upper().split() if code]


def _evidence(step: Step, form: dict[str, Any], fields: list[Field]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for item in fields:
        raw = form.get(item.name)
        if item.kind == "checkbox":
            data[item.name] = raw is not None
            continue
        if item.kind == "multi":
            data[item.name] = raw if isinstance(raw, list) else [raw] if raw else []
            continue
        if item.kind == "file":
            continue  # uploaded before the step (see _record)
        text = str(raw or "").strip()
        if item.name.startswith("m."):
            if text:
                data.setdefault("measurements", {})[item.name[2:]] = (
                    text == "true" if item.kind == "select" else _number(text)
                )
            continue
        if item.kind == "codes":
            data[item.name] = _codes(text)
        elif item.name == "parts":
            data[item.name] = text.split()
        elif text or item.required:
            data[item.name] = text
    if step is Step.test:
        data.setdefault("measurements", {})
    if step is Step.sanitize:
        # Typed in from the device cloud's portal: a person's confirmation, with its reference.
        reference = data.pop("account_reference", "")
        if reference:
            data["account_confirmation"] = {"source": "manual", "reference": reference}
    return data


# Evidence fields the form shows under another name.
FORM_FIELD = {
    "account_confirmation": "account_reference",
    "account_confirmation.reference": "account_reference",
    "account_confirmation.source": "account_reference",
}


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _needs_codes(session: Session, unit: UnitState, step: Step, data: dict[str, Any]) -> str | None:
    """A step that will fail without fault codes: say why, so the technician records them."""
    if data.get("fault_codes"):
        return None
    if step is Step.inspect and data.get("outcome") == "fail":
        return "the inspection fails: record the fault codes you found"
    if step is Step.test:
        plan = catalog.current_test_plan(session, unit.product_id)
        if plan is not None:
            result = testing.evaluate(plan.tests, data.get("measurements") or {})
            if result.failures:
                failed = ", ".join(f.as_dict()["test"] for f in result.failures)
                return f"the test fails ({failed}): record the fault codes from the taxonomy"
    return None


async def _posted(request: Request) -> dict[str, Any]:
    """The form's fields: text (a list where a name repeats, e.g. ticked boxes) and files (a
    list of photos, each read up to one byte past the limit so an oversize one is refused)."""
    form = await request.form()
    posted: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        texts = [value for value in values if isinstance(value, str)]
        files = [value for value in values if not isinstance(value, str) and value.filename]
        if files:
            limit = uploads.max_photo_bytes()
            posted[key] = [
                IncomingFile(f.filename or "photo", await f.read(limit + 1)) for f in files
            ]
        elif texts:
            posted[key] = texts if len(texts) > 1 else texts[0]
    return posted


Posted = Annotated[dict[str, Any], Depends(_posted)]


@router.post("/units/{serial}/steps/{step_name}", dependencies=[CsrfChecked])
def submit(
    request: Request,
    serial: str,
    step_name: str,
    posted: Posted,
    session: DbSession,
    actor: PageActor,
) -> Response:
    """Record a step from its form through the step service (the API's write path)."""
    try:
        step = Step(step_name)
    except ValueError:
        raise NotFound(f"no step '{step_name}'") from None
    return _record(request, serial, step, posted, session, actor)


def _record(
    request: Request,
    serial: str,
    step: Step,
    form_data: dict[str, Any],
    session: Session,
    actor: Actor,
) -> Response:
    unit = _find(session, actor, serial)
    form = _form(session, actor, unit, step)
    data = _evidence(step, form_data, form.fields)
    values = {k: v for k, v in form_data.items() if k != "csrf"}
    errors: dict[str, str] = {}
    values.pop("photos", None)
    missing_codes = _needs_codes(session, unit, step, data)
    if missing_codes:
        errors["fault_codes"] = missing_codes
    else:
        try:
            evidence = service.STEP_INPUT[step].model_validate(data)
            if form_data.get("photos"):
                # Kept even if the step is refused below: the technician need not take them again.
                photos.upload(session, actor, serial, form_data["photos"])
            version = int(form_data.get("version") or 0) or None
            result = service.perform_step(session, actor, serial, step, evidence, version)
        except ValidationError as error:
            for e in error.errors():
                loc = [str(p) for p in e["loc"]]
                name = (
                    f"m.{loc[1]}"
                    if loc[:1] == ["measurements"] and len(loc) > 1
                    else (loc[0] if loc else "form")
                )
                name = FORM_FIELD.get(name, name)
                errors.setdefault(name, str(e["msg"]).removeprefix("Value error, "))
        except (NotAuthenticated, Forbidden):
            raise
        except DomainError as error:
            field_name = error.field or "form"
            # The photos, as the upload names them, or as the inspection misses them.
            if field_name.partition(".")[0] == "files" or error.extra.get("missing") == "photos":
                field_name = "photos"
            errors[FORM_FIELD.get(field_name, field_name)] = error.detail
        else:
            assert isinstance(result, service.Performed)
            now = lifecycle.position(result.unit.state, result.unit.route)
            message = f"{step.value}: {result.outcome} — now {now}"
            if result.decision:
                message += f" ({result.decision['reason']})"
            if result.reverification == "pending":
                message += "; the wipe was drawn for re-verification by another person"
            flash(request, message)
            return RedirectResponse(f"/station/units/{result.unit.serial}", status_code=303)
    return _page(request, session, actor, serial, step.value, values, errors, status=422)


def _label_response(session: Session, actor: Actor, serial: str, kind: str) -> Response:
    label = labels.label_for(session, actor, serial)
    if kind == "pdf":
        return Response(labels.render_pdf(label), media_type="application/pdf")
    return Response(labels.render_zpl(label), media_type="application/zpl")


@router.get("/units/{serial}/label.pdf")
def label_pdf(serial: str, session: DbSession, actor: PageActor) -> Response:
    """The unit's label as PDF, for the station's printer."""
    return _label_response(session, actor, serial, "pdf")


@router.get("/units/{serial}/label.zpl")
def label_zpl(serial: str, session: DbSession, actor: PageActor) -> Response:
    """The unit's label as ZPL."""
    return _label_response(session, actor, serial, "zpl")


@router.get("/firmware/{sku}/{version}/image")
def firmware_image(sku: str, version: str, session: DbSession, actor: PageActor) -> Response:
    """Download a release's image to the station (for flashing tools outside Backhaul)."""
    release, path = catalog.firmware_image(session, actor, sku, version)
    return image_response(release, path)


# --- re-verification of a drawn wipe (station_reverification.html) ------------------------


def _reverification_panel(session: Session, actor: Actor, unit: UnitState) -> dict[str, Any] | None:
    """The unit's re-verification, whether this person may record it, and why not."""
    if not actor.can("reverifications.read"):
        return None
    record = reverification.latest_for_unit(session, unit.id)
    if record is None:
        return None
    view = reverification.view(record, unit.serial, unit.sku, unit.site, unit.state)
    conflict = None
    if view.status == "pending":
        wipe = sampling.Wipe(record.wiped_by, record.wiped_by_id, record.wipe_verified_by)
        conflict = sampling.conflict_of_interest(wipe, actor.username, actor.user_id)
    return {
        "record": view,
        "conflict": conflict,
        "may_record": view.status == "pending"
        and conflict is None
        and actor.can("reverifications.record"),
        "methods": sampling.METHODS,
    }


@router.post("/units/{serial}/reverification", dependencies=[CsrfChecked])
def record_reverification(
    request: Request, serial: str, posted: Posted, session: DbSession, actor: PageActor
) -> Response:
    """Record the re-verification of the unit's drawn wipe through the API's service."""
    fields = ("result", "method", "tool", "notes")
    values = {name: posted.get(name, "").strip() for name in fields}
    errors: dict[str, str] = {}
    try:
        data = ReverificationIn.model_validate({k: v for k, v in values.items() if v})
        recorded = reverification.record(session, actor, serial, data)
    except ValidationError as error:
        for e in error.errors():
            name = str(e["loc"][0]) if e["loc"] else "form"
            errors.setdefault(f"reverify.{name}", str(e["msg"]).removeprefix("Value error, "))
    except (NotAuthenticated, Forbidden, NotFound):
        raise
    except DomainError as error:
        errors[f"reverify.{error.field or 'form'}"] = error.detail
    else:
        message = f"re-verification {recorded.status}"
        if recorded.status == "failed":
            message += ": escalated to the supervisors; the unit is quarantined"
        flash(request, message)
        return RedirectResponse(f"/station/units/{recorded.serial}", status_code=303)
    return _page(request, session, actor, serial, errors=errors, status=422, reverify_form=values)


# --- asking a supervisor for an override (templates/station_override_request.html) ----------


def override_choices(unit: UnitState, history: list[store.StepRow]) -> list[tuple[str, str]]:
    """What a technician may ask a supervisor to override now, as (value, label): the failed
    step that is the unit's latest (inspect or test), and the route where a disposition is
    allowed now. A failed sanitize or flash, or a hazard, is never offered."""
    at = lifecycle.position(unit.state, unit.route)
    latest = (history[-1].step, history[-1].outcome) if history else None
    choices = []
    for step in sorted(lifecycle.OVERRIDABLE_FAILURES):
        if lifecycle.check_override(step, at, latest).allowed:
            choices.append(
                (f"failed_step:{step.value}", f"record the failed {step.value} as passed")
            )
    passed = chain.facts([chain.StepFact(r.step, r.outcome, r.evidence) for r in history])
    if lifecycle.check(Step.disposition, at, passed.inspection_passed).allowed:
        choices += [(f"route:{route.value}", f"route it to {route.value}") for route in Route]
    return choices


def _requests_for(session: Session, actor: Actor, serial: str) -> list[overrides.RequestView]:
    if not actor.can("overrides.read"):
        return []
    return overrides.list_requests(session, actor, serial=serial, status=None)[-3:]


@router.post("/units/{serial}/override-requests", dependencies=[CsrfChecked])
def request_override(
    request: Request,
    serial: str,
    posted: Posted,
    session: DbSession,
    actor: PageActor,
) -> Response:
    """Ask a supervisor to override a failed step or the route, with a written reason."""
    actor.require("overrides.request")
    choice, reason = posted.get("override", ""), posted.get("reason", "")
    kind, _sep, value = choice.partition(":")
    errors: dict[str, str] = {}
    try:
        data = OverrideIn.model_validate(
            {
                "kind": kind or None,
                "step": value if kind == OverrideKind.failed_step.value else None,
                "route": value if kind == OverrideKind.route.value else None,
                "reason": reason,
            }
        )
        view = overrides.request_override(session, actor, serial, data)
    except ValidationError as error:
        for e in error.errors():
            name = str(e["loc"][0]) if e["loc"] else "override"
            errors.setdefault(
                "reason" if name == "reason" else "override",
                str(e["msg"]).removeprefix("Value error, "),
            )
    except (NotAuthenticated, Forbidden, NotFound):
        raise
    except DomainError as error:
        errors["reason" if error.field == "reason" else "override"] = error.detail
    else:
        flash(request, f"Override request #{view.request.id} sent to a supervisor.")
        return RedirectResponse(f"/station/units/{view.serial}", status_code=303)
    return _page(
        request,
        session,
        actor,
        serial,
        status=422,
        override_form={"override": choice, "reason": reason},
        override_errors=errors,
    )
