"""Catalog tables: brands, products, sites, firmware releases, test plans, inspection
checklists, and the test rigs of sites with their calibration records."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backhaul.db import Base, UTCDateTime, utcnow
from backhaul.kit.visibility import Scoped


class Regulated(enum.StrEnum):
    """Regulated product classes: these need purge-level wipes verified by a second person."""

    none = "none"
    health = "health"
    biometric = "biometric"
    children = "children"


class Battery(enum.StrEnum):
    """Battery chemistry, which decides hazard handling and air-shipping rules."""

    none = "none"
    li_ion = "li_ion"
    li_metal = "li_metal"
    other = "other"


class SiteKind(enum.StrEnum):
    """What a site does: process returns, repair for us, or recycle."""

    hub = "hub"
    repair_partner = "repair_partner"
    recycler = "recycler"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, validate_strings=True, length=20)


class Brand(Scoped, Base):
    """A brand whose products, units and cases are kept apart from every other brand's."""

    __tablename__ = "brands"
    brand_scope = "id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Base URL of the brand's device cloud (account deactivation, see devices/cloud.py); None:
    # the station's device adapter deactivates the account itself.
    device_cloud_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}

    def snapshot(self) -> dict[str, Any]:
        """The audited state."""
        return {"code": self.code, "name": self.name, "device_cloud_url": self.device_cloud_url}


class Product(Scoped, Base):
    """A product model (SKU) of a brand, with what handling it needs."""

    __tablename__ = "products"
    brand_scope = "brand_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    family: Mapped[str] = mapped_column(String(80))
    category: Mapped[str] = mapped_column(String(80))
    serial_pattern: Mapped[str] = mapped_column(String(200))
    regulated: Mapped[Regulated] = mapped_column(_enum(Regulated, "regulated"))
    battery: Mapped[Battery] = mapped_column(_enum(Battery, "battery"))
    weight_g: Mapped[int] = mapped_column(Integer)
    msrp: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    hs_code: Mapped[str] = mapped_column(String(12))
    warranty_months: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    brand: Mapped[Brand] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}

    def snapshot(self) -> dict[str, Any]:
        """The audited state."""
        return {
            "brand": self.brand.code,
            "sku": self.sku,
            "name": self.name,
            "family": self.family,
            "category": self.category,
            "serial_pattern": self.serial_pattern,
            "regulated": self.regulated.value,
            "battery": self.battery.value,
            "weight_g": self.weight_g,
            "msrp": str(self.msrp),
            "currency": self.currency,
            "hs_code": self.hs_code,
            "warranty_months": self.warranty_months,
        }


class Site(Scoped, Base):
    """A place that handles units: our hubs, repair partners and recyclers."""

    __tablename__ = "sites"
    site_scope = "id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    kind: Mapped[SiteKind] = mapped_column(_enum(SiteKind, "site_kind"))
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    labour_rate: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3))
    # How long a unit may wait here for its next step (hours): a default, and per step.
    wait_target_hours: Mapped[float] = mapped_column(Float, default=24.0, server_default="24")
    step_wait_targets: Mapped[dict[str, float]] = mapped_column(
        JSON, default=dict, server_default="{}"
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}

    def snapshot(self) -> dict[str, Any]:
        """The audited state."""
        return {
            "code": self.code,
            "name": self.name,
            "region": self.region,
            "timezone": self.timezone,
            "kind": self.kind.value,
            "capabilities": list(self.capabilities),
            "labour_rate": str(self.labour_rate),
            "currency": self.currency,
            "wait_target_hours": self.wait_target_hours,
            "step_wait_targets": dict(self.step_wait_targets or {}),
        }


class ReleaseStatus(enum.StrEnum):
    """Where a firmware release stands; exactly one release per product is `current`."""

    current = "current"
    supported = "supported"
    deprecated = "deprecated"
    blocked = "blocked"


class FirmwareRelease(Base):
    """A firmware image a product may be flashed to, identified by its SHA-256."""

    __tablename__ = "firmware_releases"
    __table_args__ = (UniqueConstraint("product_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    version: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[ReleaseStatus] = mapped_column(_enum(ReleaseStatus, "release_status"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship()

    def snapshot(self) -> dict[str, Any]:
        """The audited state."""
        return {
            "sku": self.product.sku,
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "status": self.status.value,
        }


class TestPlan(Base):
    """A versioned functional test plan; the newest version of a product's plan is current."""

    __tablename__ = "test_plans"
    __table_args__ = (UniqueConstraint("product_id", "version"),)
    __test__ = False  # not a pytest test class

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    tests: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    product: Mapped[Product] = relationship()

    def snapshot(self) -> dict[str, Any]:
        """The audited state."""
        return {"sku": self.product.sku, "version": self.version, "tests": self.tests}


class InspectionChecklist(Base):
    """A versioned inspection checklist of a product; the newest version is current. A product
    without one is inspected against the default (see catalog/checklists.py)."""

    __tablename__ = "inspection_checklists"
    __table_args__ = (UniqueConstraint("product_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    accessories: Mapped[list[str]] = mapped_column(JSON)
    cosmetic_points: Mapped[list[str]] = mapped_column(JSON)
    packaging_check: Mapped[bool] = mapped_column(Boolean)
    battery_check: Mapped[bool] = mapped_column(Boolean)
    photos_required: Mapped[int] = mapped_column(Integer)
    # Grade (A-D) -> wording replacing the default criteria; grades left out keep the default.
    cosmetic_criteria: Mapped[dict[str, str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    product: Mapped[Product] = relationship()

    def snapshot(self) -> dict[str, Any]:
        """The audited state."""
        return {
            "sku": self.product.sku,
            "version": self.version,
            "accessories": list(self.accessories),
            "cosmetic_points": list(self.cosmetic_points),
            "packaging_check": self.packaging_check,
            "battery_check": self.battery_check,
            "photos_required": self.photos_required,
            "cosmetic_criteria": dict(self.cosmetic_criteria),
        }


class TestRig(Scoped, Base):
    """A test rig at a site (a bench, a fixture, an RF box); its code is unique at the site."""

    __tablename__ = "test_rigs"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    __test__ = False  # not a pytest test class
    site_scope = "site_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(80))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    site: Mapped[Site] = relationship(lazy="joined")

    def snapshot(self) -> dict[str, Any]:
        """The audited state."""
        return {
            "site": self.site.code,
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "active": self.active,
        }


class RigCalibration(Base):
    """One calibration of a rig: when, until when, and the certificate that proves it."""

    __tablename__ = "rig_calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rig_id: Mapped[int] = mapped_column(ForeignKey("test_rigs.id"), index=True)
    calibrated_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    certificate_ref: Mapped[str] = mapped_column(String(80))
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def snapshot(self) -> dict[str, Any]:
        """The audited state."""
        return {
            "id": self.id,
            "calibrated_on": self.calibrated_on.isoformat(),
            "due_on": self.due_on.isoformat(),
            "certificate_ref": self.certificate_ref,
            "recorded_by": self.recorded_by,
        }
