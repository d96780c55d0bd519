"""Return cases (RMAs), their carrier tracking events, published policy versions, processed
carrier webhooks, and the intake log of refusals and deflections (for analytics)."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backhaul.catalog.models import Site
from backhaul.db import Base, UTCDateTime, utcnow
from backhaul.kit.audit import BigId
from backhaul.kit.visibility import Scoped


class CaseStatus(enum.StrEnum):
    """Where a return case is; the unit's own state is the lifecycle's."""

    on_hold = "on_hold"  # no hub could be chosen: a person arranges the transport
    label_ready = "label_ready"
    in_transit = "in_transit"
    delivered = "delivered"
    received = "received"
    resolved = "resolved"
    cancelled = "cancelled"


OPEN_STATUSES = frozenset(
    {
        CaseStatus.on_hold,
        CaseStatus.label_ready,
        CaseStatus.in_transit,
        CaseStatus.delivered,
        CaseStatus.received,
    }
)


class ReturnCase(Scoped, Base):
    """One return of one unit: who asked, why, what was decided, where it goes, what happened."""

    __tablename__ = "return_cases"
    __table_args__ = (
        Index("ix_return_cases_unit", "unit_id"),
        Index("ix_return_cases_status", "status", "created_at"),
        Index("ix_return_cases_serial", "serial"),
    )
    brand_scope = "brand_id"
    site_scope = "destination_site_id"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rma: Mapped[str] = mapped_column(String(20), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    serial: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(40))
    order_ref: Mapped[str] = mapped_column(String(64))
    customer_email: Mapped[str] = mapped_column(String(254))
    customer_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    customer_address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    locale: Mapped[str] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(60))
    reason_note: Mapped[str] = mapped_column(String(1000), default="")
    resolution: Mapped[str] = mapped_column(String(30))
    status: Mapped[CaseStatus] = mapped_column(
        Enum(CaseStatus, name="case_status", native_enum=False, length=20)
    )
    rule: Mapped[str] = mapped_column(String(60))
    policy_version: Mapped[str] = mapped_column(String(40))
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    destination_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    routing: Mapped[dict[str, Any]] = mapped_column(JSON)
    ground_only: Mapped[bool] = mapped_column(Boolean, default=False)
    cross_border: Mapped[bool] = mapped_column(Boolean, default=False)
    shipping_method: Mapped[str] = mapped_column(String(10))
    battery_answer: Mapped[str] = mapped_column(String(12))
    sealed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    photos: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    setup_help: Mapped[str | None] = mapped_column(String(20), nullable=True)
    declared_value: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    declared_currency: Mapped[str] = mapped_column(String(3))
    hs_code: Mapped[str] = mapped_column(String(12))
    carrier: Mapped[str | None] = mapped_column(String(40), nullable=True)
    tracking_number: Mapped[str | None] = mapped_column(String(60), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    label_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    in_transit_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome_note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    survey_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    survey_comment: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    survey_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    destination: Mapped[Site | None] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        """Not resolved and not cancelled."""
        return self.status in OPEN_STATUSES

    def snapshot(self) -> dict[str, Any]:
        """The audited state."""
        return {
            "rma": self.rma,
            "serial": self.serial,
            "status": self.status.value,
            "reason": self.reason,
            "resolution": self.resolution,
            "rule": self.rule,
            "policy_version": self.policy_version,
            "destination": self.destination.code if self.destination else None,
            "tracking_number": self.tracking_number,
            "survey_score": self.survey_score,
        }


class TrackingEvent(Base):
    """One carrier scan of a return shipment (kept once, however often it is re-sent)."""

    __tablename__ = "return_tracking_events"
    __table_args__ = (UniqueConstraint("case_id", "detail_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("return_cases.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(40))
    status_detail: Mapped[str | None] = mapped_column(String(60), nullable=True)
    message: Mapped[str] = mapped_column(String(300), default="")
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail_key: Mapped[str] = mapped_column(String(64))


class CarrierWebhook(Base):
    """A carrier webhook event already processed (a re-delivery is acknowledged, not redone)."""

    __tablename__ = "carrier_webhooks"
    __table_args__ = (UniqueConstraint("carrier", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    carrier: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(100))
    tracking_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    outcome: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PolicyVersion(Base):
    """A published version of a region's return policy (the TOML text, as published)."""

    __tablename__ = "return_policies"
    __table_args__ = (UniqueConstraint("region", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region: Mapped[str] = mapped_column(String(8), index=True)
    version: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    published_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IntakeLog(Base):
    """A return request that did not become a case: refused by a rule, or solved by setup help."""

    __tablename__ = "return_intake_log"
    __table_args__ = (Index("ix_return_intake_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(20))  # "refused" or "deflected"
    rule: Mapped[str | None] = mapped_column(String(60), nullable=True)
    policy_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    region: Mapped[str | None] = mapped_column(String(8), nullable=True)
    sku: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(60), nullable=True)
    channel: Mapped[str] = mapped_column(String(10))
