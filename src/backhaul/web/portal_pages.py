"""The customer returns portal (public, no account): prove ownership with the order number or
serial and the email address, pick the unit and the reason, answer the safety questions, see
the decision, get the label, follow the status behind a signed link, answer the survey.

Every page speaks the customer's language (Accept-Language, or the switcher), and writes
dates, numbers and money as that locale does. The wizard's answers live in the session cookie;
photos are stored on disk as they arrive and the session keeps only their hashes.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from backhaul.kit import i18n, uploads
from backhaul.kit.errors import Conflict, DomainError, NotEligible
from backhaul.kit.http import DbSession
from backhaul.returns import links, reasons, service
from backhaul.returns.eligibility import Decision
from backhaul.returns.models import CaseStatus, ReturnCase
from backhaul.returns.schemas import ReturnIn
from backhaul.web.common import CsrfChecked, csrf_token, templates

router = APIRouter(prefix="/returns", include_in_schema=False)
STATE = "portal"
FormText = Annotated[str, Form(max_length=300)]
LongText = Annotated[str, Form(max_length=1000)]


def N_(message: str) -> str:  # noqa: N802 - the name message extraction knows
    """Mark a message for translation where it is defined; it is translated where shown."""
    return message


RESOLUTIONS = {
    "refund": N_("Refund"),
    "exchange": N_("Exchange for another item"),
    "repair": N_("Repair"),
    "replace": N_("Replacement"),
    "advance_replacement": N_("Advance replacement (we send the new one first)"),
}
STATUSES = {
    "on_hold": N_("We are arranging the transport"),
    "label_ready": N_("Label ready: send the parcel"),
    "in_transit": N_("On its way to us"),
    "delivered": N_("Delivered to our returns hub"),
    "received": N_("Received: we are checking it"),
    "resolved": N_("Resolved"),
    "cancelled": N_("Cancelled"),
}
TIMELINE = {
    "requested": N_("Return requested"),
    "label_ready": N_("Label ready"),
    "delivered": N_("Delivered to the returns hub"),
    "received": N_("Received at %(site)s"),
    "inspected": N_("Checked by a technician"),
    "resolved": N_("Resolved"),
    "cancelled": N_("Cancelled"),
}
CARRIER_STATUSES = {
    "pre_transit": N_("Label scanned"),
    "in_transit": N_("In transit"),
    "out_for_delivery": N_("Out for delivery"),
    "delivered": N_("Delivered"),
    "available_for_pickup": N_("Waiting at a pickup point"),
    "return_to_sender": N_("Returned to sender"),
    "failure": N_("Delivery problem"),
    "cancelled": N_("Shipment cancelled"),
    "error": N_("Carrier error"),
    "unknown": N_("Carrier update"),
}
OWNERSHIP = N_(
    "We could not find a purchase with these details. Check the order or serial number and the "
    "email address you used when buying."
)
RULES = {
    "ownership.serial_not_sold": OWNERSHIP,
    "ownership.order_mismatch": OWNERSHIP,
    "ownership.email_mismatch": OWNERSHIP,
    "case.open": N_(
        "This device already has an open return (%(rma)s). Use the link in our email to follow it."
    ),
    "unit.not_in_field": N_(
        "This device is already with us or on its way, so it cannot be returned again."
    ),
    "reason.unknown": N_("Please choose a reason from the list."),
    "regulated.hygiene_seal": N_(
        "For hygiene reasons, opened health and biometric devices can be returned for a fault, "
        "but not for a change of mind."
    ),
    "damage.report_window": N_("Damage in transit had to be reported by %(date)s."),
    "window.return": N_(
        "Your return is accepted: you are inside the return window, which ends on %(date)s."
    ),
    "warranty.legal": N_(
        "Your return is accepted under the legal guarantee, which runs until %(date)s."
    ),
    "warranty.manufacturer": N_(
        "Your return is accepted under the manufacturer's warranty, which runs until %(date)s."
    ),
    "window.closed": N_(
        "The return window closed on %(date)s. After that we take back devices with a fault "
        "under warranty."
    ),
    "warranty.expired": N_(
        "The warranty for this device ended on %(date)s, so we cannot accept this return."
    ),
    "resolution.not_offered": N_("That resolution is not available for this return."),
    "policy.missing": N_("Returns are not available in your region yet. Please contact support."),
}
BATTERY = {
    "ok": N_("No, the battery looks and feels normal"),
    "damaged": N_("Yes: swollen, hot, leaking or smelling"),
    "unsure": N_("I am not sure"),
}


# --- language -------------------------------------------------------------------------------


def locale_of(request: Request) -> str:
    """?lang= (remembered), else the remembered choice, else the browser's Accept-Language."""
    chosen = request.query_params.get("lang")
    if chosen and i18n.supported(chosen) == chosen.lower()[:2]:
        request.session["locale"] = i18n.supported(chosen)
    remembered = request.session.get("locale")
    if isinstance(remembered, str) and remembered in i18n.LOCALES:
        return remembered
    return i18n.negotiate(request.headers.get("accept-language"))


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a portal page in the customer's language."""
    locale = context.pop("locale", None) or locale_of(request)
    _ = i18n.translator(locale)
    return templates.TemplateResponse(
        request,
        template,
        {
            "_": _,
            "locale": locale,
            "languages": i18n.LANGUAGE_NAMES,
            "csrf": csrf_token(request),
            "path": request.url.path,
            "fmt_date": lambda value: i18n.format_date(value, locale),
            "fmt_money": lambda amount, currency: i18n.format_money(amount, currency, locale),
            **context,
        },
        status_code=status,
    )


def _state(request: Request) -> dict[str, Any]:
    value = request.session.get(STATE)
    return value if isinstance(value, dict) else {}


def _save(request: Request, state: dict[str, Any]) -> None:
    request.session[STATE] = state


def _restart(request: Request) -> Response:
    request.session.pop(STATE, None)
    return RedirectResponse("/returns", status_code=303)


def _rule_text(decision: Decision, locale: str) -> str:
    _ = i18n.translator(locale)
    when = {
        "window.return": decision.window_ends,
        "window.closed": decision.window_ends,
        "warranty.legal": decision.warranty_ends,
        "warranty.manufacturer": decision.warranty_ends,
        "warranty.expired": decision.warranty_ends,
    }.get(decision.rule)
    params: dict[str, str] = {"rma": decision.params.get("rma", "")}
    if when is not None:
        params["date"] = i18n.format_date(when, locale)
    if "report_by" in decision.params:
        params["date"] = i18n.format_date(date.fromisoformat(decision.params["report_by"]), locale)
    message = RULES.get(decision.rule)
    if message is None:
        return decision.explanation
    needed = {"rma", "date"} & {part[2:-2] for part in _placeholders(message)}
    return _(message, **{key: params.get(key, "") for key in needed})


def _placeholders(message: str) -> list[str]:
    import re

    return re.findall(r"%\([a-z_]+\)s", message)


# --- step 1: who are you, which unit ---------------------------------------------------------


@router.get("")
def start(request: Request) -> Response:
    """The portal's first page: prove the purchase."""
    state = _state(request)
    return page(request, "portal_start.html", form=state, errors={})


@router.post("", dependencies=[CsrfChecked])
def identify(
    request: Request,
    session: DbSession,
    email: FormText = "",
    order_ref: FormText = "",
    serial: FormText = "",
) -> Response:
    """Find the customer's unit(s) by order or serial, and their email."""
    locale = locale_of(request)
    _ = i18n.translator(locale)
    form = {"email": email.strip(), "order_ref": order_ref.strip(), "serial": serial.strip()}
    errors: dict[str, str] = {}
    if "@" not in form["email"] or len(form["email"]) > 254:
        errors["email"] = _("Enter the email address you used when buying.")
    if not form["order_ref"] and not form["serial"]:
        errors["order_ref"] = _("Enter your order number or the device's serial number.")
    if errors:
        return page(request, "portal_start.html", status=422, form=form, errors=errors)
    found = service.units_for(
        session,
        service.PORTAL,
        form["serial"] or None,
        None if form["serial"] else form["order_ref"],
    )
    own = [
        unit
        for unit in found
        if unit.facts.customer_email.strip().lower() == form["email"].lower()
        and (not form["order_ref"] or unit.facts.order_ref == form["order_ref"])
    ]
    if not own:
        service.log_intake(session, "refused", "portal", decision=_ownership(found, form))
        return page(
            request,
            "portal_start.html",
            status=422,
            form=form,
            errors={"form": _(OWNERSHIP)},
        )
    _save(request, {"email": form["email"], "units": [u.facts.serial for u in own]})
    if len(own) == 1:
        return _choose(request, session, own[0].facts.serial)
    return page(request, "portal_units.html", units=own)


def _ownership(found: list[service.Found], form: dict[str, str]) -> Decision:
    rule = "ownership.email_mismatch" if found else "ownership.serial_not_sold"
    if found and form["order_ref"] and all(u.facts.order_ref != form["order_ref"] for u in found):
        rule = "ownership.order_mismatch"
    return Decision(False, rule, "-", rule)


@router.post("/unit", dependencies=[CsrfChecked])
def choose_unit(request: Request, session: DbSession, serial: FormText = "") -> Response:
    """Pick one unit of a multi-unit order."""
    state = _state(request)
    if serial not in state.get("units", []):
        return _restart(request)
    return _choose(request, session, serial)


def _choose(request: Request, session: Session, serial: str) -> Response:
    state = _state(request)
    _save(request, {"email": state["email"], "units": state.get("units", []), "serial": serial})
    return RedirectResponse("/returns/reason", status_code=303)


# --- step 2: why, and the safety questions --------------------------------------------------


def _unit(request: Request, session: Session) -> service.Found | None:
    state = _state(request)
    serial = state.get("serial")
    if not isinstance(serial, str) or not isinstance(state.get("email"), str):
        return None
    found = service.units_for(session, service.PORTAL, serial, None)
    return found[0] if found else None


def _reason_page(
    request: Request, unit: service.Found, form: dict[str, Any], errors: dict[str, str], status: int
) -> Response:
    return page(
        request,
        "portal_reason.html",
        status=status,
        unit=unit,
        categories=reasons.taxonomy().categories(),
        battery_choices=BATTERY,
        form=form,
        errors=errors,
    )


@router.get("/reason")
def reason_form(request: Request, session: DbSession) -> Response:
    """Pick the reason and answer the battery and seal questions."""
    unit = _unit(request, session)
    if unit is None:
        return _restart(request)
    return _reason_page(request, unit, _state(request), {}, 200)


# The form that carries damage photos, for the body-size middleware (which runs before routing).
PHOTOS_FORM_PATH = re.compile(r"/returns/reason")


def photos_body_limit() -> int:
    """The largest reason form: the most photos a customer may send, each of the largest size."""
    return uploads.body_limit(service.MAX_PHOTOS)


@router.post("/reason", dependencies=[CsrfChecked])
async def reason_submit(
    request: Request,
    reason: Annotated[str, Form(max_length=60)] = "",
    note: LongText = "",
    battery: Annotated[str, Form(max_length=20)] = "ok",
    sealed: Annotated[str, Form(max_length=10)] = "",
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Keep the answers (and any photos) and go on to setup help or the decision."""
    from starlette.concurrency import run_in_threadpool

    files = []
    for upload in (photos or [])[: service.MAX_PHOTOS + 1]:
        data = await upload.read(uploads.max_photo_bytes() + 1)
        if data:
            files.append(data)
    return await run_in_threadpool(_reason_submit, request, reason, note, battery, sealed, files)


def _reason_submit(
    request: Request, reason: str, note: str, battery: str, sealed: str, files: list[bytes]
) -> Response:
    from backhaul.db import session_scope

    locale = locale_of(request)
    _ = i18n.translator(locale)
    with session_scope(write=False) as session:
        unit = _unit(request, session)
        if unit is None:
            return _restart(request)
        state = _state(request)
        form = state | {"reason": reason, "note": note, "battery": battery, "sealed": bool(sealed)}
        errors: dict[str, str] = {}
        chosen = reasons.taxonomy().get(reason)
        if chosen is None:
            errors["reason"] = _("Please choose a reason from the list.")
        if battery not in ("ok", "damaged", "unsure", "no_battery"):
            errors["battery"] = _("Please answer the battery question.")
        if len(files) > service.MAX_PHOTOS:
            errors["photos"] = _("Please send at most three photos.")
        stored = list(state.get("photos", []))
        if not errors:
            for data in files:
                try:
                    photo = uploads.check_photo(data, field="photos")
                except DomainError:
                    errors["photos"] = _(
                        "Photos must be JPEG or PNG images of at most %(mb)s MB.",
                        mb=i18n.format_number(uploads.max_photo_bytes() / 1_000_000, locale),
                    )
                    break
                uploads.keep_photo(photo)
                stored.append(photo.describe())
        if chosen is not None and chosen.photos and not stored and "photos" not in errors:
            errors["photos"] = _("Please add at least one photo of the damage.")
        if errors:
            return _reason_page(request, unit, form, errors, 422)
        assert chosen is not None
    form["photos"] = stored[: service.MAX_PHOTOS]
    form.pop("setup_help", None)
    _save(request, form)
    if chosen.setup_help:
        return RedirectResponse("/returns/help", status_code=303)
    return RedirectResponse("/returns/decision", status_code=303)


# --- step 2b: setup help ----------------------------------------------------------------------


@router.get("/help")
def setup_help(request: Request, session: DbSession) -> Response:
    """Before a setup problem becomes a return: the product's setup help."""
    unit = _unit(request, session)
    state = _state(request)
    if unit is None or "reason" not in state:
        return _restart(request)
    policy = service.effective_policy(session, unit.facts.region).policy
    url = policy.product(unit.facts.sku).setup_help_url
    return page(request, "portal_help.html", unit=unit, help_url=url)


@router.post("/help", dependencies=[CsrfChecked])
def setup_help_answer(
    request: Request, session: DbSession, outcome: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    """Record whether the help solved it (no return) or the customer went on."""
    unit = _unit(request, session)
    state = _state(request)
    if unit is None or "reason" not in state:
        return _restart(request)
    if outcome == "solved":
        service.log_intake(
            session, "deflected", "portal", found=unit, reason=str(state.get("reason"))
        )
        request.session.pop(STATE, None)
        return page(request, "portal_solved.html", unit=unit)
    _save(request, state | {"setup_help": "continued"})
    return RedirectResponse("/returns/decision", status_code=303)


# --- step 3: the decision ----------------------------------------------------------------------


def _assess(request: Request, session: Session) -> tuple[service.Found, service.Assessment] | None:
    unit = _unit(request, session)
    state = _state(request)
    if unit is None or not isinstance(state.get("reason"), str):
        return None
    assessment = service.assess(
        session,
        service.PORTAL,
        email=state["email"],
        reason=state["reason"],
        serial=unit.facts.serial,
        sealed=bool(state.get("sealed")),
        locale=locale_of(request),
    )
    return unit, assessment


def _decision_page(
    request: Request,
    session: Session,
    unit: service.Found,
    assessment: service.Assessment,
    form: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    locale = locale_of(request)
    decision = assessment.decision
    state = _state(request)
    return page(
        request,
        "portal_decision.html",
        status=status,
        unit=unit,
        decision=decision,
        explanation=_rule_text(decision, locale),
        resolutions=RESOLUTIONS,
        reason=reasons.taxonomy().get(state.get("reason", "")),
        pickup=assessment.policy.pickup,
        ground_only=state.get("battery") == "damaged" and unit.battery != "none",
        form=form,
        errors=errors,
    )


@router.get("/decision")
def decision_page(request: Request, session: DbSession) -> Response:
    """The decision and what it means; an eligible customer picks the resolution and shipping."""
    assessed = _assess(request, session)
    if assessed is None:
        return _restart(request)
    unit, assessment = assessed
    return _decision_page(request, session, unit, assessment, {}, {})


@router.post("/confirm", dependencies=[CsrfChecked])
def confirm(
    request: Request,
    session: DbSession,
    resolution: Annotated[str, Form(max_length=30)] = "",
    shipping: Annotated[str, Form(max_length=10)] = "dropoff",
    name: Annotated[str, Form(max_length=200)] = "",
    address: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Open the case and show its status page (with the label)."""
    assessed = _assess(request, session)
    if assessed is None:
        return _restart(request)
    unit, assessment = assessed
    locale = locale_of(request)
    _ = i18n.translator(locale)
    state = _state(request)
    form = {"resolution": resolution, "shipping": shipping, "name": name, "address": address}
    errors: dict[str, str] = {}
    if resolution not in assessment.decision.resolutions_offered:
        errors["resolution"] = _("Please choose one of the resolutions offered.")
    if shipping == "pickup" and not address.strip():
        errors["address"] = _("For a pickup, enter the address where the carrier collects it.")
    if not assessment.decision.eligible:
        errors["form"] = _rule_text(assessment.decision, locale)
    if errors:
        return _decision_page(request, session, unit, assessment, form, errors, 422)
    try:
        data = ReturnIn(
            serial=unit.facts.serial,
            email=state["email"],
            reason=state["reason"],
            resolution=resolution,
            locale=locale,
            sealed=bool(state.get("sealed")),
            battery=state.get("battery", "ok"),
            shipping=shipping if shipping in ("dropoff", "pickup") else "dropoff",
            name=name.strip() or None,
            address=address.strip() or None,
            note=str(state.get("note", ""))[:1000],
        )
    except ValidationError:
        errors["form"] = _("Some answers could not be used; please check them and try again.")
        return _decision_page(request, session, unit, assessment, form, errors, 422)
    result = service.open_case(
        session,
        service.PORTAL,
        data,
        channel="portal",
        photos=list(state.get("photos", [])),
        setup_help=state.get("setup_help"),
    )
    if isinstance(result, service.Refused):
        errors["form"] = _rule_text(result.decision, locale)
        return _decision_page(request, session, unit, assessment, form, errors, 422)
    request.session.pop(STATE, None)
    return RedirectResponse(links.status_path(result.case.rma), status_code=303)


# --- the case, behind its signed link --------------------------------------------------------


def _case(session: Session, purpose: str, token: str) -> ReturnCase:
    rma = links.unsign(purpose, token)
    case = service.case_by_rma(session, rma) if rma else None
    if case is None:
        raise NotEligible(
            "this link is not valid; use the link from our email",
            rule="link.invalid",
            policy_version=None,
        )
    return case


def _when(value: datetime, locale: str, zone: str) -> str:
    return i18n.format_datetime(value, locale, zone, format="medium")


@router.get("/status/{token}")
def status(request: Request, session: DbSession, token: str) -> Response:
    """The case's status and timeline, in the customer's language."""
    case = _case(session, "case", token)
    locale = locale_of(request)
    _ = i18n.translator(locale)
    progress = service.unit_progress(session, case)
    current = service.effective_status(case, progress)
    try:
        zone = service.effective_policy(session, case.region).policy.timezone
    except DomainError:
        zone = "UTC"
    entries = []
    for entry in service.timeline(session, case, progress):
        if entry.kind == "carrier":
            text = _(CARRIER_STATUSES.get(entry.detail["status"], CARRIER_STATUSES["unknown"]))
            extra = ", ".join(
                part for part in (entry.detail.get("message"), entry.detail.get("location")) if part
            )
        else:
            text = _(TIMELINE[entry.kind], site=entry.detail.get("site") or "")
            extra = entry.detail.get("outcome") or ""
        if extra.strip().lower() in (
            text.lower(),
            entry.detail.get("status", "").replace("_", " "),
        ):
            extra = ""
        entries.append({"text": text, "extra": extra, "at": _when(entry.at, locale, zone)})
    return page(
        request,
        "portal_status.html",
        case=case,
        product=service.product_name(session, case.sku),
        status_text=_(STATUSES[current.value]),
        case_status=current.value,
        entries=entries,
        resolution=_(RESOLUTIONS.get(case.resolution, case.resolution)),
        token=token,
        label_path=links.label_path(case.rma) if case.tracking_number else None,
        can_cancel=current in (CaseStatus.label_ready, CaseStatus.on_hold),
        survey_path=links.survey_path(case.rma)
        if case.status is CaseStatus.resolved and case.survey_at is None
        else None,
        hub=case.destination.name if case.destination else None,
        decided=_rule_text(
            Decision(
                True,
                case.rule,
                case.policy_version,
                "",
                window_ends=_date(case.decision.get("window_ends")),
                warranty_ends=_date(case.decision.get("warranty_ends")),
            ),
            locale,
        ),
        fee=case.decision.get("restocking_fee"),
        currency=case.decision.get("currency"),
    )


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


@router.get("/label/{token}.pdf")
def label(session: DbSession, token: str) -> Response:
    """The label, for the customer to print."""
    case = _case(session, "case", token)
    return Response(
        service.label_pdf(session, case),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{case.rma}.pdf"'},
    )


@router.post("/status/{token}/cancel", dependencies=[CsrfChecked])
def cancel(request: Request, session: DbSession, token: str) -> Response:
    """The customer cancels a return before sending it."""
    case = _case(session, "case", token)
    with contextlib.suppress(Conflict):  # already shipped: the status page says so
        service.cancel_case(session, service.PORTAL, case, "cancelled by the customer")
    return RedirectResponse(links.status_path(case.rma), status_code=303)


@router.get("/survey/{token}")
def survey(request: Request, session: DbSession, token: str) -> Response:
    """How did it go? A score from 1 to 5 and a comment, once."""
    case = _case(session, "survey", token)
    return page(
        request,
        "portal_survey.html",
        case=case,
        answered=case.survey_at is not None,
        open=case.status is CaseStatus.resolved,
        errors={},
        form={},
    )


@router.post("/survey/{token}", dependencies=[CsrfChecked])
def survey_submit(
    request: Request,
    session: DbSession,
    token: str,
    score: Annotated[str, Form(max_length=3)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Take the answer once."""
    case = _case(session, "survey", token)
    _ = i18n.translator(locale_of(request))
    if not score.isdigit() or not 1 <= int(score) <= 5:
        return page(
            request,
            "portal_survey.html",
            status=422,
            case=case,
            answered=False,
            open=case.status is CaseStatus.resolved,
            errors={"score": _("Please choose a score from 1 to 5.")},
            form={"comment": comment},
        )
    try:
        service.submit_survey(session, case, int(score), comment)
    except Conflict:
        return page(
            request,
            "portal_survey.html",
            status=409,
            case=case,
            answered=True,
            open=True,
            errors={},
            form={},
        )
    return page(
        request,
        "portal_survey.html",
        case=case,
        answered=True,
        thanks=True,
        open=True,
        errors={},
        form={},
    )
