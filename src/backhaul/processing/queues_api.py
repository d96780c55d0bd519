"""The supervisor's queues over HTTP: units waiting per position and site, and the units
waiting longer than their site's target for their next step."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from backhaul.accounts.deps import CurrentActor
from backhaul.db import utcnow
from backhaul.kit.http import DbSession
from backhaul.kit.schemas import Output
from backhaul.processing import queues
from backhaul.processing.wait_targets import hours

router = APIRouter(prefix="/api/v1", tags=["queues"])


class QueueLineOut(Output):
    """Units waiting at one position at one site."""

    site: str
    position: str
    waiting: int
    over_target: int = Field(description="How many wait longer than the site's target")


class OverTargetOut(Output):
    """A unit waiting longer than its site's target for its next step."""

    serial: str
    sku: str
    site: str
    position: str
    next_step: str | None
    since: datetime = Field(description="The unit's latest step")
    target_hours: float
    waited_hours: float
    over_by_hours: float


class QueuesOut(Output):
    """The queues per position and site, and who waits too long (oldest first)."""

    queues: list[QueueLineOut]
    over_target: list[OverTargetOut]


@router.get("/queues", response_model=QueuesOut)
def get_queues(
    session: DbSession,
    actor: CurrentActor,
    site: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> QueuesOut:
    """Units in the house per position and site at your sites, and up to `limit` units over
    their site's wait target for their next step, with how long they waited and how far over."""
    now = utcnow()
    lines = queues.queues(session, actor, now)
    if site:
        lines = [line for line in lines if line.site == site.strip().upper()]
    late = queues.over_target(session, actor, now, site=site, limit=limit)
    return QueuesOut(
        queues=[
            QueueLineOut(
                site=line.site,
                position=line.position,
                waiting=line.waiting,
                over_target=line.overdue,
            )
            for line in lines
        ],
        over_target=[
            OverTargetOut(
                serial=unit.serial,
                sku=unit.sku,
                site=unit.site,
                position=unit.position,
                next_step=unit.next_step,
                since=unit.since,
                target_hours=unit.target_hours,
                waited_hours=hours(unit.waited),
                over_by_hours=hours(unit.over),
            )
            for unit in late
        ],
    )
