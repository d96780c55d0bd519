"""Stock queries: available units counted by (SKU, condition, site), never mixing conditions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from backhaul.catalog.models import FirmwareRelease, Product, ReleaseStatus, Site
from backhaul.kit.auth import Actor
from backhaul.kit.visibility import visible
from backhaul.processing.grading import condition_sku
from backhaul.processing.states import State
from backhaul.units.models import Unit


@dataclass(frozen=True)
class StockLine:
    """Units on the shelf of one SKU, in one condition, at one site."""

    sku: str
    condition: str
    condition_sku: str
    site: str
    quantity: int
    needs_reflash: int


def stock(
    session: Session,
    actor: Actor,
    *,
    sku: str | None = None,
    site: str | None = None,
    condition: str | None = None,
) -> list[StockLine]:
    """Available stock; `needs_reflash` counts units whose firmware is no longer supported."""
    actor.require("inventory.read")
    usable = select(FirmwareRelease.version).where(
        FirmwareRelease.product_id == Unit.product_id,
        FirmwareRelease.status.in_([ReleaseStatus.current, ReleaseStatus.supported]),
    )
    stale = func.sum(case((Unit.firmware_version.in_(usable), 0), else_=1))
    statement = (
        select(Product.sku, Unit.condition, Site.code, func.count(), stale)
        .join(Product, Product.id == Unit.product_id)
        .join(Site, Site.id == Unit.site_id)
        .where(Unit.state == State.available)
        .group_by(Product.sku, Unit.condition, Site.code)
        .order_by(Product.sku, Unit.condition, Site.code)
    )
    statement = visible(actor, statement, Unit)
    if sku:
        statement = statement.where(Product.sku == sku.upper())
    if site:
        statement = statement.where(Site.code == site.upper())
    if condition:
        statement = statement.where(Unit.condition == condition)
    return [
        StockLine(
            row[0],
            row[1] or "new",
            condition_sku(row[0], row[1] or "new"),
            row[2],
            row[3],
            int(row[4] or 0),
        )
        for row in session.execute(statement)
    ]
