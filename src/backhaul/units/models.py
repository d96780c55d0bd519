"""Units (one row per serial) and the import batches that registered them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, Enum, ForeignKey, Index, Integer, Numeric, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backhaul.catalog.models import Product, Site
from backhaul.db import Base, UTCDateTime, utcnow
from backhaul.kit.audit import BigId
from backhaul.kit.visibility import Scoped
from backhaul.processing.lifecycle import Route
from backhaul.processing.states import State


class ImportBatch(Base):
    """One import of sold units: what came in and what became of it."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(300))
    rows_sha256: Mapped[str] = mapped_column(String(64))
    added: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Unit(Scoped, Base):
    """A physical unit, by serial: its sale, its warranty, and where it is in its lifecycle."""

    __tablename__ = "units"
    __table_args__ = (
        Index("ix_units_order", "order_ref"),
        Index("ix_units_site_state", "site_id", "state"),
    )
    brand_scope = "brand_id"
    site_scope = "site_id"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    state: Mapped[State] = mapped_column(
        Enum(State, name="unit_state", native_enum=False, length=30)
    )
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    order_ref: Mapped[str] = mapped_column(String(64))
    customer_email: Mapped[str] = mapped_column(String(254))
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime)
    region: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(40))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    warranty_end: Mapped[date] = mapped_column(Date)
    import_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batches.id"), nullable=True
    )
    # What the steps have established so far (derived from the step records, kept for reads).
    route: Mapped[Route | None] = mapped_column(
        Enum(Route, name="route", native_enum=False, length=30), nullable=True
    )
    condition: Mapped[str | None] = mapped_column(String(10), nullable=True)
    may_sell_as_new: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    ever_activated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    hazard: Mapped[str | None] = mapped_column(String(40), nullable=True)
    firmware_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    step_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    product: Mapped[Product] = relationship(lazy="joined", innerjoin=True)
    site: Mapped[Site | None] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}

    @property
    def air_shipment_blocked(self) -> bool:
        """A unit with a battery hazard must not fly (invariant 9)."""
        return self.hazard is not None
