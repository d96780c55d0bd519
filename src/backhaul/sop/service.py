"""SOP use case: gather the configuration a product's procedure at a site is built from (catalog,
firmware, test plan, policies, taxonomy, settings) and build it."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from backhaul.catalog import service as catalog
from backhaul.catalog.models import FirmwareRelease, ReleaseStatus, SiteKind
from backhaul.db import utcnow
from backhaul.kit.auth import Actor
from backhaul.kit.errors import NotEligible, ValidationFailed
from backhaul.planning.workload import DEFAULT_STEPS
from backhaul.processing import disposition, faults
from backhaul.processing import service as steps
from backhaul.returns.config import load_model
from backhaul.settings import get_settings
from backhaul.sop import procedure

SOURCE = "sop/data/needs.toml"
Capability = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$")]


class _Needs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    test_rigs: dict[str, Capability] = Field(default_factory=dict)


@cache
def _needs() -> _Needs:
    text = resources.files("backhaul.sop").joinpath("data/needs.toml").read_text("utf-8")
    return load_model(_Needs, text, SOURCE)


def rig_for(family: str) -> str:
    """The site capability a product family's test plan runs on."""
    return _needs().test_rigs.get(family, f"test:{family.lower()}")


def inputs_for(session: Session, actor: Actor, sku: str, site_code: str) -> procedure.Inputs:
    """The configuration the procedure of `sku` at `site_code` is built from (both in scope)."""
    product = catalog.get_product(session, actor, sku)
    site = catalog.get_site(session, actor, site_code)
    if site.kind is not SiteKind.hub:
        raise ValidationFailed(
            f"{site.code} is a {site.kind.value.replace('_', ' ')}: the procedure runs at a hub",
            field="site",
        )
    release = catalog.current_firmware(session, product.id)
    supported = session.scalars(
        select(FirmwareRelease.version)
        .where(
            FirmwareRelease.product_id == product.id,
            FirmwareRelease.status == ReleaseStatus.supported,
        )
        .order_by(FirmwareRelease.id)
    ).all()
    plan = catalog.current_test_plan(session, product.id)
    checklist = catalog.current_checklist(session, product.id)
    book = disposition.policy_book()
    try:
        from backhaul.returns.service import effective_policy

        listed = tuple(effective_policy(session, site.region).policy.product(sku).capabilities)
    except NotEligible:  # no return policy for the site's region: nothing more is listed
        listed = ()
    return procedure.Inputs(
        product=procedure.ProductFacts(
            sku=product.sku,
            name=product.name,
            brand=product.brand.name,
            family=product.family,
            category=product.category,
            serial_pattern=product.serial_pattern,
            regulated=product.regulated.value,
            battery=product.battery.value,
        ),
        site=procedure.SiteFacts(
            code=site.code,
            name=site.name,
            region=site.region,
            timezone=site.timezone,
            capabilities=tuple(site.capabilities or ()),
            labour_rate=site.labour_rate,
            currency=site.currency,
        ),
        release=procedure.Release(release.version, release.sha256, release.size)
        if release
        else None,
        supported_releases=tuple(supported),
        plan=procedure.Plan(plan.version, tuple(plan.tests)) if plan else None,
        max_test_attempts=steps.DEFAULT_MAX_TEST_ATTEMPTS,
        disposition=book.resolve(product.sku, site.region),
        base_currency=book.base_currency,
        taxonomy=faults.taxonomy(),
        test_rig=rig_for(product.family),
        policy_capabilities=listed,
        reverify_share=get_settings().reverify_share,
        step_minutes={name: minutes for name, (minutes, _share) in DEFAULT_STEPS.items()},
        step_permission=dict(steps.PERMISSION),
        generated_on=utcnow().date().isoformat(),
        checklist=checklist,
    )


def procedure_for(session: Session, actor: Actor, sku: str, site_code: str) -> procedure.Procedure:
    """The standard operating procedure of a product at a hub, with its capability check."""
    actor.require("catalog.read")
    return procedure.build(inputs_for(session, actor, sku, site_code))
