"""Step records (a unit's life, append-only), sanitization certificates, the wipes drawn for
re-verification, the override requests technicians raise for a supervisor, and unit photos."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backhaul.db import Base, UTCDateTime, utcnow
from backhaul.kit.audit import BigId
from backhaul.kit.visibility import Scoped
from backhaul.processing.lifecycle import Route


class UnitScoped(Scoped):
    """A row about one unit, kept with the unit's brand and site: whoever sees those sees it."""

    brand_scope = "brand_id"
    site_scope = "site_id"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)


class UnitStep(Base):
    """One step taken on one unit: who, when, where, from and to, and the evidence."""

    __tablename__ = "unit_steps"
    __table_args__ = (UniqueConstraint("unit_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    seq: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(10))
    from_position: Mapped[str] = mapped_column(String(40))
    to_position: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    override_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SanitizationCertificate(Base):
    """A signed statement that a unit's data and account binding are gone."""

    __tablename__ = "sanitization_certificates"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("unit_steps.id"), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[str] = mapped_column(String(200))


class ReverificationStatus(enum.StrEnum):
    """Where a drawn wipe's re-verification stands."""

    pending = "pending"
    passed = "passed"
    failed = "failed"
    superseded = "superseded"  # a newer wipe of the unit replaced the one drawn
    withdrawn = "withdrawn"  # a supervisor withdrew the draw of a written-off unit, with a reason


class WipeReverification(UnitScoped, Base):
    """A passed wipe drawn at random for re-verification by another person (R2v3 sampling),
    kept beside the unit's history: the draw, then the result and who found it."""

    __tablename__ = "wipe_reverifications"
    __table_args__ = (
        Index("ix_wipe_reverifications_queue", "status", "site_id"),
        Index("ix_wipe_reverifications_unit_id", "unit_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    certificate_id: Mapped[str] = mapped_column(
        ForeignKey("sanitization_certificates.id"), unique=True
    )
    share: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    wiped_by: Mapped[str] = mapped_column(String(200))
    wiped_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    wipe_verified_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    status: Mapped[ReverificationStatus] = mapped_column(
        Enum(
            ReverificationStatus,
            name="reverification_status",
            native_enum=False,
            validate_strings=True,
            length=20,
        )
    )
    performed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    performed_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    method: Mapped[str | None] = mapped_column(String(20), nullable=True)
    tool: Mapped[str | None] = mapped_column(String(120), nullable=True)
    notes: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    exception_id: Mapped[int | None] = mapped_column(BigId, nullable=True)


class OverrideKind(enum.StrEnum):
    """What an override changes: the route a disposition takes, or a failed step's outcome."""

    route = "route"
    failed_step = "failed_step"


class OverrideStatus(enum.StrEnum):
    """Where an override request stands; only a pending one can be decided."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, validate_strings=True, length=20)


class OverrideRequest(UnitScoped, Base):
    """A technician's written request that a supervisor override an outcome, and the decision.

    `unit_version` is the unit's version when it was asked: a unit that has moved on since
    makes the request stale, and it is not applied.
    """

    __tablename__ = "override_requests"
    __table_args__ = (
        Index("ix_override_requests_status", "status", "requested_at"),
        Index("ix_override_requests_unit", "unit_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[OverrideKind] = mapped_column(_enum(OverrideKind, "override_kind"))
    step: Mapped[str | None] = mapped_column(String(30), nullable=True)
    route: Mapped[Route | None] = mapped_column(
        Enum(Route, name="route", native_enum=False, length=30), nullable=True
    )
    reason: Mapped[str] = mapped_column(String(1000))
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[OverrideStatus] = mapped_column(
        _enum(OverrideStatus, "override_status"), default=OverrideStatus.pending
    )
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(String(1000), nullable=True)


class UnitPhoto(UnitScoped, Base):
    """A photo of a unit taken at a site (the file is in the photo store under its SHA-256).
    `step_id` is the inspection it was evidence for; None until that inspection is recorded."""

    __tablename__ = "unit_photos"
    __table_args__ = (Index("ix_unit_photos_unit", "unit_id", "uploaded_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("unit_steps.id"), nullable=True)

    def snapshot(self) -> dict[str, Any]:
        """The audited state."""
        return {
            "sha256": self.sha256,
            "content_type": self.content_type,
            "size": self.size,
            "uploaded_by": self.uploaded_by,
        }
