"""Catalog over HTTP: brands, products and sites."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from backhaul.accounts.deps import CurrentActor
from backhaul.catalog import service
from backhaul.catalog.models import FirmwareRelease, SiteKind, TestPlan
from backhaul.catalog.schemas import (
    BrandIn,
    BrandOut,
    BrandPatch,
    FirmwareIn,
    FirmwareOut,
    FirmwarePatch,
    ProductIn,
    ProductOut,
    ProductPatch,
    SiteIn,
    SiteOut,
    SitePatch,
    TestPlanIn,
    TestPlanOut,
)
from backhaul.kit.audit_api import register_scope_check
from backhaul.kit.http import DbSession, IfMatch, etag

router = APIRouter(prefix="/api/v1", tags=["catalog"])
register_scope_check("product", service.get_product)
register_scope_check("site", service.get_site)
register_scope_check("brand", service.get_brand)
ShortText = Annotated[str | None, Query(max_length=80)]


@router.get("/brands", response_model=list[BrandOut])
def list_brands(session: DbSession, actor: CurrentActor) -> list[BrandOut]:
    """Brands you may see."""
    return [BrandOut.model_validate(b) for b in service.list_brands(session, actor)]


@router.post("/brands", response_model=BrandOut, status_code=status.HTTP_201_CREATED)
def create_brand(
    data: BrandIn, session: DbSession, actor: CurrentActor, response: Response
) -> BrandOut:
    """Add a brand (a 3PL installation serves several), optionally with its device cloud."""
    brand = service.create_brand(session, actor, data)
    etag(response, brand.version)
    return BrandOut.model_validate(brand)


@router.get("/brands/{code}", response_model=BrandOut)
def get_brand(code: str, session: DbSession, actor: CurrentActor, response: Response) -> BrandOut:
    """One brand, with the device cloud its stations deactivate accounts through."""
    brand = service.get_brand(session, actor, code)
    etag(response, brand.version)
    return BrandOut.model_validate(brand)


@router.patch("/brands/{code}", response_model=BrandOut)
def update_brand(
    code: str,
    patch: BrandPatch,
    session: DbSession,
    actor: CurrentActor,
    if_match: IfMatch,
    response: Response,
) -> BrandOut:
    """Change a brand's name or device cloud; send `If-Match` with the version you read."""
    brand = service.update_brand(session, actor, code, patch, if_match)
    etag(response, brand.version)
    return BrandOut.model_validate(brand)


@router.get("/products", response_model=list[ProductOut])
def list_products(
    session: DbSession, actor: CurrentActor, brand: ShortText = None, family: ShortText = None
) -> list[ProductOut]:
    """Products you may see, optionally by brand code or family."""
    products = service.list_products(session, actor, brand=brand, family=family)
    return [ProductOut.model_validate(p) for p in products]


@router.post("/products", response_model=ProductOut, status_code=status.HTTP_201_CREATED)
def create_product(
    data: ProductIn, session: DbSession, actor: CurrentActor, response: Response
) -> ProductOut:
    """Add a product; `brand` may be left out while there is a single brand."""
    product = service.create_product(session, actor, data)
    etag(response, product.version)
    return ProductOut.model_validate(product)


@router.get("/products/{sku}", response_model=ProductOut)
def get_product(
    sku: str, session: DbSession, actor: CurrentActor, response: Response
) -> ProductOut:
    """One product."""
    product = service.get_product(session, actor, sku)
    etag(response, product.version)
    return ProductOut.model_validate(product)


@router.patch("/products/{sku}", response_model=ProductOut)
def update_product(
    sku: str,
    patch: ProductPatch,
    session: DbSession,
    actor: CurrentActor,
    if_match: IfMatch,
    response: Response,
) -> ProductOut:
    """Change a product; send `If-Match` with the version you read to avoid lost updates."""
    product = service.update_product(session, actor, sku, patch, if_match)
    etag(response, product.version)
    return ProductOut.model_validate(product)


@router.get("/sites", response_model=list[SiteOut])
def list_sites(
    session: DbSession, actor: CurrentActor, kind: SiteKind | None = None
) -> list[SiteOut]:
    """Sites you may see, optionally of one kind."""
    return [SiteOut.model_validate(s) for s in service.list_sites(session, actor, kind=kind)]


@router.post("/sites", response_model=SiteOut, status_code=status.HTTP_201_CREATED)
def create_site(
    data: SiteIn, session: DbSession, actor: CurrentActor, response: Response
) -> SiteOut:
    """Add a hub, repair partner or recycler."""
    site = service.create_site(session, actor, data)
    etag(response, site.version)
    return SiteOut.model_validate(site)


@router.get("/sites/{code}", response_model=SiteOut)
def get_site(code: str, session: DbSession, actor: CurrentActor, response: Response) -> SiteOut:
    """One site."""
    site = service.get_site(session, actor, code)
    etag(response, site.version)
    return SiteOut.model_validate(site)


@router.patch("/sites/{code}", response_model=SiteOut)
def update_site(
    code: str,
    patch: SitePatch,
    session: DbSession,
    actor: CurrentActor,
    if_match: IfMatch,
    response: Response,
) -> SiteOut:
    """Change a site; send `If-Match` with the version you read to avoid lost updates."""
    site = service.update_site(session, actor, code, patch, if_match)
    etag(response, site.version)
    return SiteOut.model_validate(site)


def _firmware_out(release: FirmwareRelease) -> FirmwareOut:
    return FirmwareOut.model_validate(release.snapshot())


@router.get("/products/{sku}/firmware", response_model=list[FirmwareOut])
def list_firmware(sku: str, session: DbSession, actor: CurrentActor) -> list[FirmwareOut]:
    """A product's firmware releases, newest first."""
    return [_firmware_out(r) for r in service.list_firmware(session, actor, sku)]


@router.post(
    "/products/{sku}/firmware", response_model=FirmwareOut, status_code=status.HTTP_201_CREATED
)
def add_firmware(
    sku: str, data: FirmwareIn, session: DbSession, actor: CurrentActor
) -> FirmwareOut:
    """Register a firmware release by its image hash."""
    return _firmware_out(service.add_firmware(session, actor, sku, data))


@router.get("/products/{sku}/firmware/{version}", response_model=FirmwareOut)
def get_firmware(sku: str, version: str, session: DbSession, actor: CurrentActor) -> FirmwareOut:
    """One firmware release."""
    return _firmware_out(service.get_firmware(session, actor, sku, version))


@router.patch("/products/{sku}/firmware/{version}", response_model=FirmwareOut)
def set_firmware_status(
    sku: str, version: str, data: FirmwarePatch, session: DbSession, actor: CurrentActor
) -> FirmwareOut:
    """Change a release's status; making one current demotes the previous current release."""
    return _firmware_out(service.set_firmware_status(session, actor, sku, version, data))


def _plan_out(plan: TestPlan, current_version: int | None) -> TestPlanOut:
    return TestPlanOut.model_validate(
        plan.snapshot() | {"current": plan.version == current_version}
    )


@router.get("/products/{sku}/test-plans", response_model=list[TestPlanOut])
def list_test_plans(sku: str, session: DbSession, actor: CurrentActor) -> list[TestPlanOut]:
    """Every version of a product's test plan; the newest is current."""
    plans = service.list_test_plans(session, actor, sku)
    newest = plans[0].version if plans else None
    return [_plan_out(plan, newest) for plan in plans]


@router.post(
    "/products/{sku}/test-plans", response_model=TestPlanOut, status_code=status.HTTP_201_CREATED
)
def add_test_plan(
    sku: str, data: TestPlanIn, session: DbSession, actor: CurrentActor
) -> TestPlanOut:
    """Publish a new test plan version (it becomes the current plan)."""
    plan = service.add_test_plan(session, actor, sku, data)
    return _plan_out(plan, plan.version)
