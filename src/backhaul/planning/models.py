"""Imported history: weekly sales and returns from before Backhaul (a brand's previous system),
which the forecast and the calibration add to what Backhaul itself recorded."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backhaul.db import Base, UTCDateTime, utcnow
from backhaul.kit.visibility import Scoped


class HistoryKind(enum.StrEnum):
    """What a history row counts."""

    sales = "sales"
    returns = "returns"


class HistoryWeek(Scoped, Base):
    """Units of one product sold or returned in one region in one week (Monday), as imported.

    A returns row may carry the fault code found (empty when none was, or none was recorded).
    Re-importing under the same source name replaces that source's rows of that kind.
    """

    __tablename__ = "planning_history"
    __table_args__ = (
        UniqueConstraint(
            "product_id",
            "kind",
            "region",
            "week",
            "fault_code",
            "source",
            name="uq_planning_history_row",
        ),
        Index("ix_planning_history_brand_kind_week", "brand_id", "kind", "week"),
        Index("ix_planning_history_source", "source", "kind"),
    )
    brand_scope = "brand_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[HistoryKind] = mapped_column(
        Enum(HistoryKind, name="history_kind", native_enum=False, length=10)
    )
    region: Mapped[str] = mapped_column(String(8))
    week: Mapped[date] = mapped_column(Date)
    fault_code: Mapped[str] = mapped_column(String(64), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
