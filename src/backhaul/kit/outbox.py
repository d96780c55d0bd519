"""The outbox: every event that leaves the system, written in the same transaction as its change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Index, Integer, String, Table, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from backhaul.db import Base, UTCDateTime, utcnow
from backhaul.kit.audit import BigId
from backhaul.kit.ids import current_request_id, new_id
from backhaul.kit.jsonable import jsonable
from backhaul.kit.prepared import Prepared


class OutboxEvent(Base):
    """An event waiting to be delivered (at least once; consumers de-duplicate on `event_id`)."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_pending", "delivered_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str] = mapped_column(String(200))  # e.g. "product:SPK-100"
    payload: Mapped[Any] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)


@dataclass(frozen=True, slots=True)
class Emitted:
    """The queued event's row id and event id."""

    id: int
    event_id: str


def emit(session: Session, event_type: str, subject: str, payload: dict[str, Any]) -> Emitted:
    """Queue an event inside the caller's transaction; it exists only if the change commits.

    Written at once with a Core INSERT in the session's transaction, as the flush did, without
    the unit of work's bookkeeping for an object nobody changes in this transaction.
    """
    event_id = new_id()
    values = {
        "event_id": event_id,
        "type": event_type,
        "subject": subject,
        "payload": jsonable(payload),
        "request_id": current_request_id(),
        "created_at": utcnow(),
        "attempts": 0,
    }
    (row_id,) = _INSERT.run(session, values).fetchone()
    return Emitted(row_id, event_id)


_TABLE = cast(Table, OutboxEvent.__table__)
# Every step emits an event: on the driver (see kit/prepared.py).
_INSERT = Prepared(insert(_TABLE).returning(_TABLE.c.id))


def pending(session: Session, limit: int = 100) -> list[OutboxEvent]:
    """The oldest undelivered events, for a delivery worker."""
    return list(
        session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.delivered_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
    )
