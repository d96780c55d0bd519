"""Steps over HTTP: `POST /api/v1/units/{serial}/steps/{step}` for every step in the table.

No `from __future__ import annotations` here: the per-step endpoints are built in a loop and
FastAPI must see each one's real evidence model.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from backhaul.accounts.deps import CurrentActor
from backhaul.kit import idempotency, signing
from backhaul.kit.http import DbSession, FastJSONResponse, IfMatch, problem_docs, run_write
from backhaul.processing import certificates, lifecycle, reverification, service
from backhaul.processing.lifecycle import Step
from backhaul.processing.schemas import QueuedOut, StepResult

router = APIRouter(prefix="/api/v1", tags=["steps"])
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200, description="Repeat a request with the same key to get the first answer"
    ),
]

_ERRORS = problem_docs(
    (404, "Unknown serial, or a unit outside your sites"),
    (409, "The step is not allowed now; `missing` names what is needed"),
    (412, "If-Match names a stale version"),
    (422, "The evidence is invalid; `errors[].field` names the field"),
)


def _respond(
    session: Any,
    actor: Any,
    request: Request,
    serial: str,
    step: Step,
    data: BaseModel,
    if_match: int | None,
    key: str | None,
) -> JSONResponse:
    fingerprint = ""
    if key is not None:
        fingerprint = idempotency.fingerprint(
            "POST", request.url.path, data.model_dump(mode="json")
        )
        first = idempotency.replay(session, actor, key, fingerprint)
        if first is not None:
            return _json(first.status_code, first.body)
    result = service.perform_step(session, actor, serial, step, data, if_match)
    if isinstance(result, service.Queued):
        status = 202
        body = QueuedOut(
            queued=True, exception_id=result.exception_id, reason=result.reason
        ).model_dump(mode="json")
    else:
        # Built as JSON-ready data by the service (the shape of StepResult); not re-validated.
        status = 200
        body = service.unit_view(result.unit, result.history) | {
            "outcome": result.outcome,
            "failures": result.failures,
            "decision": result.decision,
            "certificate_id": result.certificate_id,
            "reverification": result.reverification,
        }
    if key is not None:
        idempotency.remember(session, actor, key, fingerprint, status, body)
    return _json(status, body)  # rendered before the commit: a body that cannot be sent stops it


async def _perform(
    actor: Any,
    request: Request,
    serial: str,
    step: Step,
    data: BaseModel,
    if_match: int | None,
    key: str | None,
) -> JSONResponse:
    """The step in a transaction of its own, in one thread (`run_write`)."""
    return await run_write(
        lambda session: _respond(session, actor, request, serial, step, data, if_match, key)
    )


def _json(status: int, body: dict[str, Any]) -> JSONResponse:
    """The answer, rendered to bytes now (by `json_bytes`)."""
    response = FastJSONResponse(body, status_code=status)
    if "version" in body:
        response.headers["ETag"] = f'"{body["version"]}"'
    return response


def _register(step: Step) -> None:
    model = service.STEP_INPUT[step]
    transition = lifecycle.BY_STEP[step]
    sources = ", ".join(f"`{source}`" for source in transition.sources)
    optional_body = all(not f.is_required() for f in model.model_fields.values())

    if optional_body:  # e.g. `disposition {}`: the body may be left out

        async def endpoint(
            serial: str,
            request: Request,
            actor: CurrentActor,
            if_match: IfMatch,
            idempotency_key: IdempotencyKey = None,
            data: Annotated[model, Body()] = model(),  # type: ignore[valid-type]
        ) -> JSONResponse:
            return await _perform(actor, request, serial, step, data, if_match, idempotency_key)

    else:

        async def endpoint(  # type: ignore[misc]
            serial: str,
            request: Request,
            actor: CurrentActor,
            if_match: IfMatch,
            data: Annotated[model, Body()],  # type: ignore[valid-type]
            idempotency_key: IdempotencyKey = None,
        ) -> JSONResponse:
            return await _perform(actor, request, serial, step, data, if_match, idempotency_key)

    responses = dict(_ERRORS)
    if step is Step.receive:
        responses[202] = {
            "model": QueuedOut,
            "description": "Unknown serial: kept in the exception queue",
        }
    router.add_api_route(
        f"/units/{{serial}}/steps/{step.value}",
        endpoint,
        methods=["POST"],
        response_model=StepResult,
        responses=responses,
        name=f"step_{step.value}",
        summary=f"{step.value}: from {sources}",
        description=(model.__doc__ or "") + f"\n\nRecords: {transition.records}.",
    )


for _step in Step:
    _register(_step)


class CertificateOut(BaseModel):
    """A certificate of sanitization: the signed content and its Ed25519 signature, and beside
    them (not signed) what re-verification found when the wipe was drawn for it."""

    certificate: dict[str, Any]
    signature: str
    algorithm: str = certificates.ALGORITHM
    reverification: dict[str, Any] | None = None


@router.get("/units/{serial}/certificate", response_model=CertificateOut, tags=["units"])
def certificate(serial: str, session: DbSession, actor: CurrentActor) -> CertificateOut:
    """The unit's newest certificate of sanitization (signed JSON)."""
    found = service.latest_certificate(session, actor, serial)
    return CertificateOut(
        certificate=found.content,
        signature=found.signature,
        reverification=reverification.certificate_standing(session, found.id),
    )


@router.get(
    "/units/{serial}/certificate.pdf",
    tags=["units"],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def certificate_pdf(serial: str, session: DbSession, actor: CurrentActor) -> Response:
    """The unit's newest certificate of sanitization as a PDF (with its signature)."""
    found = service.latest_certificate(session, actor, serial)
    pdf = certificates.render_pdf(
        found.content,
        found.signature,
        signing.public_key_pem(),
        reverification.certificate_standing(session, found.id),
    )
    name = f"certificate-{found.content.get('serial', serial)}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@router.get(
    "/keys/certificates",
    tags=["keys"],
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}}},
)
def certificates_public_key() -> Response:
    """The public key (PEM) that checks every certificate of sanitization, offline."""
    return Response(signing.public_key_pem(), media_type="application/x-pem-file")
