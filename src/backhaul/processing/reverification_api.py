"""Re-verification of wipes over HTTP: the queue, a unit's record, recording the result, and
withdrawing the draw of a written-off unit."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from backhaul.accounts.deps import CurrentActor
from backhaul.kit.http import DbSession, problem_docs
from backhaul.processing import reverification
from backhaul.processing.models import ReverificationStatus
from backhaul.processing.schemas import (
    ReverificationIn,
    ReverificationOut,
    ReverificationWithdrawIn,
)

router = APIRouter(prefix="/api/v1", tags=["reverification"])
StatusFilter = Literal["pending", "passed", "failed", "superseded", "withdrawn", "all"]
_ERRORS = problem_docs(
    (404, "Unknown serial or site, or one outside your sites"),
    (409, "No re-verification is pending for the unit, or someone recorded it at once"),
    (422, "Invalid input, or you wiped or verified this wipe (`performed_by`)"),
)


@router.get("/reverifications", response_model=list[ReverificationOut], responses=_ERRORS)
def list_reverifications(
    session: DbSession,
    actor: CurrentActor,
    site: Annotated[str | None, Query(max_length=20, description="A site code")] = None,
    status: StatusFilter = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ReverificationOut]:
    """Wipes drawn for re-verification at your sites, oldest draw first (default: pending)."""
    statuses = tuple(ReverificationStatus) if status == "all" else (ReverificationStatus(status),)
    return reverification.queue(session, actor, site=site, statuses=statuses, limit=limit)


@router.get("/units/{serial}/reverification", response_model=ReverificationOut, responses=_ERRORS)
def get_reverification(serial: str, session: DbSession, actor: CurrentActor) -> ReverificationOut:
    """The unit's newest re-verification record (404 when its wipes were never drawn)."""
    return reverification.for_unit(session, actor, serial)


@router.post("/units/{serial}/reverification", response_model=ReverificationOut, responses=_ERRORS)
def record_reverification(
    serial: str, data: ReverificationIn, session: DbSession, actor: CurrentActor
) -> ReverificationOut:
    """Record the re-verification of the unit's drawn wipe, by a technician or supervisor at
    the unit's site who neither performed nor verified the wipe. A failure raises an
    exception-queue item, marks the certificate and quarantines the unit."""
    return reverification.record(session, actor, serial, data)


_WITHDRAW_ERRORS = problem_docs(
    (403, "Only a supervisor (or an admin) may withdraw a draw"),
    (404, "Unknown serial, or one outside your sites"),
    (
        409,
        "No re-verification is pending for the unit, the unit is not written off (a unit "
        "in custody must be re-verified), or someone recorded or withdrew it at once",
    ),
    (422, "Invalid input: a reason of 3 characters or more (`reason`)"),
)


@router.post(
    "/units/{serial}/reverification/withdraw",
    response_model=ReverificationOut,
    responses=_WITHDRAW_ERRORS,
)
def withdraw_reverification(
    serial: str, data: ReverificationWithdrawIn, session: DbSession, actor: CurrentActor
) -> ReverificationOut:
    """Withdraw the pending re-verification of a written-off unit (lost, stolen or destroyed:
    it can never be re-verified), with a written reason. Supervisors only; audited."""
    return reverification.withdraw(session, actor, serial, data.reason)
