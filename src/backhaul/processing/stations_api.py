"""Station helpers over HTTP: the fault-code taxonomy and a repackaged unit's label."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter
from fastapi.responses import Response

from backhaul.accounts.deps import CurrentActor
from backhaul.kit.http import DbSession
from backhaul.kit.schemas import Output
from backhaul.processing import faults, labels

router = APIRouter(prefix="/api/v1")


class FaultCodeOut(Output):
    """One fault code: its parent in the hierarchy, and what it means for the route."""

    code: str
    name: str
    parent: str | None
    hazard: bool
    repairable: bool
    no_fault_found: bool
    repair_parts: Decimal | None
    repair_minutes: int | None


@router.get("/fault-codes", response_model=list[FaultCodeOut], tags=["fault codes"])
def fault_codes(actor: CurrentActor) -> list[FaultCodeOut]:
    """The fault-code taxonomy; "no fault found" is an explicit code."""
    actor.require("units.read")
    taxonomy = faults.taxonomy()
    return [
        FaultCodeOut(
            code=fault.code,
            name=fault.name,
            parent=fault.parent,
            hazard=fault.hazard,
            repairable=fault.repairable,
            no_fault_found=fault.code == taxonomy.no_fault_found,
            repair_parts=fault.parts,
            repair_minutes=fault.minutes,
        )
        for fault in taxonomy.codes.values()
    ]


def _disposition(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'inline; filename="{name}"'}


@router.get(
    "/units/{serial}/label.pdf",
    tags=["units"],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def label_pdf(serial: str, session: DbSession, actor: CurrentActor) -> Response:
    """The repackaged unit's label (condition SKU, serial, grade, GS1-128 with AI 21) as PDF."""
    label = labels.label_for(session, actor, serial)
    return Response(
        labels.render_pdf(label),
        media_type="application/pdf",
        headers=_disposition(f"label-{label.serial}.pdf"),
    )


@router.get(
    "/units/{serial}/label.zpl",
    tags=["units"],
    response_class=Response,
    responses={200: {"content": {"application/zpl": {}}}},
)
def label_zpl(serial: str, session: DbSession, actor: CurrentActor) -> Response:
    """The same label in ZPL II for Zebra thermal printers (203 dpi, 4 x 2 inch)."""
    label = labels.label_for(session, actor, serial)
    return Response(
        labels.render_zpl(label),
        media_type="application/zpl",
        headers=_disposition(f"label-{label.serial}.zpl"),
    )
