"""Operational queues over HTTP: the exception queue (supervisors) and the outbox (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import StringConstraints
from sqlalchemy import select

from backhaul.accounts.deps import CurrentActor
from backhaul.db import utcnow
from backhaul.kit.changes import record_change
from backhaul.kit.errors import Conflict, NotFound
from backhaul.kit.exception_queue import ExceptionItem
from backhaul.kit.http import DbSession
from backhaul.kit.outbox import OutboxEvent
from backhaul.kit.schemas import Input, Output
from backhaul.kit.visibility import visible

router = APIRouter(prefix="/api/v1", tags=["queues"])


class ExceptionOut(Output):
    """Something that needs a person, with the reason it was kept."""

    id: int
    kind: str
    reason: str
    reference: str | None
    payload: Any
    created_at: datetime
    resolved_at: datetime | None
    resolution: str | None


class ResolveIn(Input):
    """How the item was dealt with."""

    resolution: Annotated[str, StringConstraints(min_length=3, max_length=500)]


class OutboxEventOut(Output):
    """An event as it will be (or was) delivered; `event_id` is stable across retries."""

    id: int
    event_id: str
    type: str
    subject: str
    payload: Any
    created_at: datetime
    delivered_at: datetime | None
    attempts: int


@router.get("/exceptions", response_model=list[ExceptionOut])
def list_exceptions(
    session: DbSession,
    actor: CurrentActor,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    include_resolved: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ExceptionOut]:
    """The exception queue, oldest first: unknown serials, bad import rows, unmatched events."""
    actor.require("exceptions.read")
    statement = visible(actor, select(ExceptionItem), ExceptionItem).order_by(ExceptionItem.id)
    if kind:
        statement = statement.where(ExceptionItem.kind == kind)
    if not include_resolved:
        statement = statement.where(ExceptionItem.resolved_at.is_(None))
    return [ExceptionOut.model_validate(item) for item in session.scalars(statement.limit(limit))]


@router.post("/exceptions/{item_id}/resolve", response_model=ExceptionOut)
def resolve_exception(
    item_id: Annotated[int, Path(ge=1, le=2**62)],
    data: ResolveIn,
    session: DbSession,
    actor: CurrentActor,
) -> ExceptionOut:
    """Close an item with a note saying what was done."""
    actor.require("exceptions.resolve")
    item = session.scalars(
        visible(actor, select(ExceptionItem), ExceptionItem).where(ExceptionItem.id == item_id)
    ).first()
    if item is None:
        raise NotFound(f"no exception item {item_id}")
    if item.resolved_at is not None:
        raise Conflict(f"item {item_id} was already resolved")
    item.resolved_at, item.resolution = utcnow(), data.resolution
    session.flush()
    record_change(
        session,
        actor,
        "exception.resolved",
        "exception",
        str(item.id),
        {"resolved": False},
        {"resolved": True, "resolution": data.resolution},
    )
    return ExceptionOut.model_validate(item)


@router.get("/outbox", response_model=list[OutboxEventOut])
def list_outbox(
    session: DbSession,
    actor: CurrentActor,
    after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OutboxEventOut]:
    """Events in the order they were written (admins; delivery workers read the same table)."""
    actor.require("outbox.read")
    events = session.scalars(
        select(OutboxEvent).where(OutboxEvent.id > after_id).order_by(OutboxEvent.id).limit(limit)
    )
    return [OutboxEventOut.model_validate(event) for event in events]
