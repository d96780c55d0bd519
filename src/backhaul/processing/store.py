"""Data access for the unit write path: one query to read a unit with what the steps need of its
brand, product and site, one for its steps, a version-checked update and the step row. This is
the hot path of every station: SQLAlchemy Core statements, run on the driver
(kit/prepared.py), without the ORM's unit of work (see docs/performance.md)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from backhaul.catalog.models import Brand, Product, Regulated, Site
from backhaul.kit.auth import Actor
from backhaul.kit.errors import Conflict
from backhaul.kit.prepared import Prepared
from backhaul.processing.lifecycle import Route
from backhaul.processing.models import (
    ReverificationStatus,
    SanitizationCertificate,
    UnitStep,
    WipeReverification,
)
from backhaul.processing.states import State
from backhaul.units.models import Unit


@dataclass
class UnitState:
    """A unit as the write path sees it: its row, and what the steps need of its brand, product
    and site (read in the same query, so no step reads them again)."""

    id: int
    serial: str
    brand_id: int
    brand: str
    product_id: int
    sku: str
    regulated: Regulated
    state: State
    route: Route | None
    site_id: int | None
    site: str | None
    version: int
    condition: str | None
    may_sell_as_new: bool | None
    ever_activated: bool
    hazard: str | None
    firmware_version: str | None
    step_count: int
    warranty_end: date
    sold_at: datetime
    region: str
    order_ref: str
    channel: str
    price: Decimal
    currency: str
    import_batch_id: int | None
    # As read with the unit, for the step's handlers: a step that moves the unit changes
    # site_id and site above, not these.
    brand_name: str
    brand_device_cloud: str | None  # where the brand's accounts are deactivated, if anywhere
    product_name: str
    site_name: str | None
    site_region: str | None
    site_timezone: str | None
    site_labour_rate: Decimal | None
    site_currency: str | None

    @property
    def air_shipment_blocked(self) -> bool:
        """A unit with a battery hazard must not fly (invariant 9)."""
        return self.hazard is not None


@dataclass(frozen=True)
class StepRow:
    """One recorded step, as the history shows it."""

    seq: int
    step: str
    outcome: str
    from_position: str
    to_position: str
    actor: str
    site: str | None
    at: datetime
    evidence: dict[str, Any]
    override_reason: str | None


# Columns written back by save(); the rest of UnitState is read-only here.
MUTABLE = (
    "state",
    "route",
    "site_id",
    "condition",
    "may_sell_as_new",
    "ever_activated",
    "hazard",
    "firmware_version",
    "step_count",
)

# Statements are built once: constructing SQLAlchemy statements per call costs more than
# running them on this path. Scope filters use expanding IN parameters.
_UNITS = cast(Table, Unit.__table__)
_STEPS = cast(Table, UnitStep.__table__)
_UNIT_COLUMNS = [
    Unit.id,
    Unit.serial,
    Unit.brand_id,
    Brand.code.label("brand"),
    Unit.product_id,
    Product.sku,
    Product.regulated,
    Unit.state,
    Unit.route,
    Unit.site_id,
    Site.code.label("site"),
    Unit.version,
    Unit.condition,
    Unit.may_sell_as_new,
    Unit.ever_activated,
    Unit.hazard,
    Unit.firmware_version,
    Unit.step_count,
    Unit.warranty_end,
    Unit.sold_at,
    Unit.region,
    Unit.order_ref,
    Unit.channel,
    Unit.price,
    Unit.currency,
    Unit.import_batch_id,
    Brand.name,
    Brand.device_cloud_url,
    Product.name,
    Site.name,
    Site.region,
    Site.timezone,
    Site.labour_rate,
    Site.currency,
]
_UNIT_FIELDS = [f.name for f in fields(UnitState)]
# The step path's two reads and two writes run on the driver (see kit/prepared.py).
_SELECT_UNIT = Prepared(
    select(*_UNIT_COLUMNS)
    .join(Product, Product.id == Unit.product_id)
    .join(Brand, Brand.id == Product.brand_id)
    .outerjoin(Site, Site.id == Unit.site_id)
    .where(Unit.serial == bindparam("serial"))
)
_SELECT_STEPS = Prepared(
    select(
        _STEPS.c.seq,
        _STEPS.c.step,
        _STEPS.c.outcome,
        _STEPS.c.from_position,
        _STEPS.c.to_position,
        _STEPS.c.actor_name,
        Site.code,
        _STEPS.c.at,
        _STEPS.c.evidence,
        _STEPS.c.override_reason,
    )
    .outerjoin(Site, Site.id == _STEPS.c.site_id)
    .where(_STEPS.c.unit_id == bindparam("unit_id"))
    .order_by(_STEPS.c.seq)
)
_UPDATE_UNIT = Prepared(
    update(_UNITS)
    .where(_UNITS.c.id == bindparam("b_id"), _UNITS.c.version == bindparam("b_version"))
    .values({name: bindparam(name) for name in (*MUTABLE, "version", "updated_at")})
)
_INSERT_STEP = Prepared(insert(_STEPS).returning(_STEPS.c.id))
_INSERT_CERTIFICATE = insert(cast(Table, SanitizationCertificate.__table__))
_REVERIFICATIONS = cast(Table, WipeReverification.__table__)
_INSERT_REVERIFICATION = insert(_REVERIFICATIONS)
_SELECT_PENDING_REVERIFICATION = (
    select(
        _REVERIFICATIONS.c.id,
        _REVERIFICATIONS.c.certificate_id,
        _REVERIFICATIONS.c.share,
        _REVERIFICATIONS.c.wiped_by,
        _REVERIFICATIONS.c.wiped_by_id,
        _REVERIFICATIONS.c.wipe_verified_by,
    )
    .where(
        _REVERIFICATIONS.c.unit_id == bindparam("unit_id"),
        _REVERIFICATIONS.c.status == ReverificationStatus.pending.value,
    )
    .order_by(_REVERIFICATIONS.c.id.desc())
    .limit(1)
)
_SUPERSEDE_REVERIFICATIONS = (
    update(_REVERIFICATIONS)
    .where(
        _REVERIFICATIONS.c.unit_id == bindparam("b_unit_id"),
        _REVERIFICATIONS.c.status == ReverificationStatus.pending.value,
    )
    .values(
        status=ReverificationStatus.superseded.value,
        decided_at=bindparam("decided_at"),
        notes=bindparam("notes"),
    )
)


def load_unit(
    session: Session, actor: Actor, serial: str, *, by_site: bool = True
) -> UnitState | None:
    """The unit with this (normalised) serial inside the actor's scope, or None.

    The scope is checked on the row rather than in the query: the same answer as an `IN` over
    the actor's brands and sites, without rendering that list into the SQL on every step."""
    rows = _SELECT_UNIT.rows(session, {"serial": serial})
    if not rows:
        return None
    unit = UnitState(**dict(zip(_UNIT_FIELDS, rows[0], strict=True)))
    if not actor.sees_brand(unit.brand_id) or (by_site and not actor.sees_site(unit.site_id)):
        return None
    return unit


def load_steps(session: Session, unit_id: int) -> list[StepRow]:
    """The unit's steps in order, with the site's code."""
    return [StepRow(*row) for row in _SELECT_STEPS.rows(session, {"unit_id": unit_id})]


def save(session: Session, unit: UnitState, expected_version: int, now: datetime) -> None:
    """Write the unit's changed fields if nobody changed it since we read it, else 409."""
    params = {name: getattr(unit, name) for name in MUTABLE}
    params.update(
        b_id=unit.id, b_version=expected_version, version=expected_version + 1, updated_at=now
    )
    if _UPDATE_UNIT.run(session, params).rowcount != 1:
        raise Conflict(
            f"unit {unit.serial} was changed by someone else at the same time; "
            "reload it and try again"
        )
    unit.version = expected_version + 1


def add_step(session: Session, values: dict[str, Any]) -> int:
    """Insert a step record; returns its id."""
    (step_id,) = _INSERT_STEP.run(session, values).fetchone()
    return int(step_id)


def add_certificate(session: Session, values: dict[str, Any]) -> None:
    """Insert a signed certificate of sanitization."""
    session.connection().execute(_INSERT_CERTIFICATE, values)


@dataclass(frozen=True)
class PendingReverification:
    """A drawn wipe still waiting for its re-verification."""

    id: int
    certificate_id: str
    share: Decimal
    wiped_by: str
    wiped_by_id: int | None
    wipe_verified_by: str | None


def pending_reverification(session: Session, unit_id: int) -> PendingReverification | None:
    """The unit's re-verification that is still pending, if any (it holds the unit in custody)."""
    row = session.connection().execute(_SELECT_PENDING_REVERIFICATION, {"unit_id": unit_id}).first()
    return None if row is None else PendingReverification(*row)


def add_reverification(session: Session, values: dict[str, Any]) -> None:
    """Record that a wipe was drawn for re-verification."""
    session.connection().execute(_INSERT_REVERIFICATION, values)


def supersede_reverifications(
    session: Session, unit_id: int, certificate_id: str, now: datetime
) -> int:
    """A newer wipe replaces any pending re-verification of an older one; returns how many."""
    result = session.connection().execute(
        _SUPERSEDE_REVERIFICATIONS,
        {
            "b_unit_id": unit_id,
            "decided_at": now,
            "notes": f"superseded by a newer wipe (certificate {certificate_id})",
        },
    )
    return int(result.rowcount or 0)
