"""The exception queue: whatever could not be matched or accepted is kept here with its reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from backhaul.db import Base, UTCDateTime, utcnow
from backhaul.kit.audit import BigId
from backhaul.kit.jsonable import jsonable
from backhaul.kit.visibility import Scoped


class ExceptionItem(Scoped, Base):
    """Something that needs a person: an unknown serial at the dock, a bad import row, …"""

    __tablename__ = "exception_items"
    __table_args__ = (Index("ix_exception_items_open", "resolved_at", "kind"),)
    brand_scope = "brand_id"
    site_scope = "site_id"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(500))
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[Any] = mapped_column(JSON)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"), nullable=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(500), nullable=True)


def add(
    session: Session,
    kind: str,
    reason: str,
    payload: dict[str, Any],
    *,
    reference: str | None = None,
    brand_id: int | None = None,
    site_id: int | None = None,
) -> ExceptionItem:
    """Queue one item for a supervisor, inside the caller's transaction.

    The same open item (kind, reference and reason) is not queued twice: re-sending the same
    bad file or event keeps one item.
    """
    reason = reason[:500]
    existing = session.scalars(
        select(ExceptionItem).where(
            ExceptionItem.kind == kind,
            ExceptionItem.reference == reference,
            ExceptionItem.reason == reason,
            ExceptionItem.resolved_at.is_(None),
        )
    ).first()
    if existing is not None:
        return existing
    item = ExceptionItem(
        kind=kind,
        reason=reason,
        reference=reference,
        payload=jsonable(payload),
        brand_id=brand_id,
        site_id=site_id,
        created_at=utcnow(),
    )
    session.add(item)
    return item
