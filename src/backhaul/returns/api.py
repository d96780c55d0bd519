"""Returns over HTTP: open a case (the portal's decision, for integrations and support agents),
read, list, cancel and resolve cases, their labels, the reason codes, and the policies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, JSONResponse, Response

from backhaul.accounts.deps import CurrentActor
from backhaul.db import utcnow
from backhaul.kit import uploads
from backhaul.kit.errors import NotFound
from backhaul.kit.http import PROBLEM, DbSession, problem_response
from backhaul.returns import policy, reasons, service
from backhaul.returns.models import CaseStatus
from backhaul.returns.schemas import (
    CancelIn,
    CaseOut,
    CaseSummaryOut,
    PolicyIn,
    PolicyOut,
    ReasonOut,
    ResolveIn,
    ReturnIn,
)

router = APIRouter(prefix="/api/v1", tags=["returns"])

_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "Not eligible (`rule`, `policy_version`) or invalid input (`errors`)",
        "content": {PROBLEM: {}},
    }
}


def _case(session: Any, case: Any) -> dict[str, Any]:
    return CaseOut.model_validate(service.case_view(session, case)).model_dump(mode="json")


@router.post("/returns", response_model=CaseOut, status_code=201, responses=_REFUSED)
def create_return(data: ReturnIn, session: DbSession, actor: CurrentActor) -> Response:
    """Decide a return request and, when eligible, open the case: the unit is authorised for
    return, routed to a hub, and the customer gets the label by email. An ineligible request
    is answered 422 with the `rule` and `policy_version` that refused it (and counted)."""
    result = service.open_case(session, actor, data, channel="api")
    if isinstance(result, service.Refused):
        # Answered, not raised: the refusal's count commits with this request.
        return problem_response(422, service.refusal(result.decision).problem())
    return JSONResponse(_case(session, result.case), status_code=201)


@router.get("/returns", response_model=list[CaseSummaryOut])
def list_returns(
    session: DbSession,
    actor: CurrentActor,
    status: CaseStatus | None = None,
    region: Annotated[str | None, Query(max_length=8)] = None,
    site: Annotated[str | None, Query(max_length=20)] = None,
    reason: Annotated[str | None, Query(max_length=60)] = None,
    q: Annotated[
        str | None, Query(max_length=254, description="RMA, serial, order or email")
    ] = None,
    breached: Annotated[bool | None, Query(description="Only cases with a breached clock")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[CaseSummaryOut]:
    """Cases, newest first, filtered; each names its breached SLA clocks."""
    filters = service.Filters(
        status=status.value if status else None,
        region=region,
        site=site,
        reason=reason,
        q=q,
        breached=breached,
        limit=limit,
        offset=offset,
    )
    now = utcnow()
    return [
        CaseSummaryOut(
            rma=case.rma,
            status=case.status.value,
            serial=case.serial,
            sku=case.sku,
            region=case.region,
            reason=case.reason,
            resolution=case.resolution,
            destination_site=case.destination.code if case.destination else None,
            created_at=case.created_at,
            breached=service.breached_clocks(session, case, now),
        )
        for case in service.list_cases(session, actor, filters)
    ]


@router.get("/returns/{rma}", response_model=CaseOut)
def get_return(rma: str, session: DbSession, actor: CurrentActor) -> dict[str, Any]:
    """One case: its decision, routing, SLA clocks and timeline."""
    return _case(session, service.get_case(session, actor, rma))


@router.post("/returns/{rma}/cancel", response_model=CaseOut)
def cancel_return(
    rma: str, data: CancelIn, session: DbSession, actor: CurrentActor
) -> dict[str, Any]:
    """Cancel a return that has not shipped."""
    case = service.cancel_case(session, actor, service.get_case(session, actor, rma), data.reason)
    return _case(session, case)


@router.post("/returns/{rma}/resolve", response_model=CaseOut)
def resolve_return(
    rma: str, data: ResolveIn, session: DbSession, actor: CurrentActor
) -> dict[str, Any]:
    """Close a received return with its outcome; the customer gets the survey."""
    case = service.resolve_case(session, actor, service.get_case(session, actor, rma), data.outcome)
    return _case(session, case)


@router.get(
    "/returns/{rma}/label.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The label"}},
)
def return_label(rma: str, session: DbSession, actor: CurrentActor) -> Response:
    """The case's return label (PDF)."""
    case = service.get_case(session, actor, rma)
    return Response(
        service.label_pdf(session, case),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{case.rma}.pdf"'},
    )


@router.get(
    "/returns/{rma}/photos/{number}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "A photo"}},
)
def return_photo(
    rma: str,
    number: Annotated[int, Path(ge=1, le=10)],
    session: DbSession,
    actor: CurrentActor,
) -> FileResponse:
    """A photo the customer sent with a damage claim (1-based)."""
    case = service.get_case(session, actor, rma)
    if number > len(case.photos):
        raise NotFound(f"return {case.rma} has {len(case.photos)} photos")
    photo = case.photos[number - 1]
    path = uploads.photo_path(photo["sha256"], photo["type"])
    return FileResponse(path, media_type=photo["type"])


@router.get("/reasons", response_model=list[ReasonOut], tags=["returns"])
def list_reasons() -> list[ReasonOut]:
    """The reason-code taxonomy, with labels in every portal language (public)."""
    return [
        ReasonOut(
            code=reason.code,
            category=reason.category,
            label=reason.label,
            category_label=reason.category_label,
            warranty=reason.warranty,
            change_of_mind=reason.change_of_mind,
            photos=reason.photos,
            setup_help=reason.setup_help,
        )
        for reason in reasons.taxonomy().reasons.values()
    ]


def _policy_out(effective: service.EffectivePolicy) -> PolicyOut:
    return PolicyOut(
        region=effective.policy.region,
        version=effective.policy.version,
        policy_version=effective.policy.policy_version,
        sha256=effective.sha256,
        source=effective.source,
        published_by=effective.published_by,
        published_at=effective.published_at,
        policy=effective.policy.model_dump(mode="json"),
    )


@router.get("/return-policies", response_model=list[PolicyOut])
def list_policies(session: DbSession, actor: CurrentActor) -> list[PolicyOut]:
    """Every region's policy in force, with its version and where it came from."""
    return [_policy_out(item) for item in service.list_policies(session, actor)]


@router.post("/return-policies", response_model=PolicyOut, status_code=201)
def publish_policy(data: PolicyIn, session: DbSession, actor: CurrentActor) -> PolicyOut:
    """Publish a new version of a region's policy (TOML text); a mistake is a 422 naming the
    line and field."""
    return _policy_out(service.publish_policy(session, actor, data.text, source="api"))


@router.post("/return-policies/check", response_model=PolicyOut)
def check_policy(data: PolicyIn, actor: CurrentActor) -> PolicyOut:
    """Check a policy file without publishing it."""
    actor.require("catalog.read")
    parsed = service.check_policy(data.text, "policy.toml")
    return PolicyOut(
        region=parsed.region,
        version=parsed.version,
        policy_version=parsed.policy_version,
        sha256=policy.digest(data.text),
        source="policy.toml (not published)",
        published_by=None,
        published_at=None,
        policy=parsed.model_dump(mode="json"),
    )
