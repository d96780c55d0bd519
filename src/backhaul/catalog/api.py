"""Catalog over HTTP: brands, products, sites, firmware releases and images, test plans,
inspection checklists, and test rigs with their calibrations."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from backhaul.accounts.deps import CurrentActor
from backhaul.catalog import firmware_images, service
from backhaul.catalog.checklists import Checklist
from backhaul.catalog.firmware_images import StagedImage
from backhaul.catalog.models import (
    FirmwareRelease,
    InspectionChecklist,
    Product,
    ReleaseStatus,
    SiteKind,
    TestPlan,
    TestRig,
)
from backhaul.catalog.schemas import (
    BrandIn,
    BrandOut,
    BrandPatch,
    CalibrationIn,
    CalibrationOut,
    FirmwareIn,
    FirmwareOut,
    FirmwarePatch,
    InspectionChecklistIn,
    InspectionChecklistOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    SiteIn,
    SiteOut,
    SitePatch,
    TestPlanIn,
    TestPlanOut,
    TestRigIn,
    TestRigOut,
    TestRigPatch,
)
from backhaul.db import utcnow
from backhaul.kit.audit_api import register_scope_check
from backhaul.kit.errors import UnsupportedMediaType
from backhaul.kit.http import PROBLEM, DbSession, IfMatch, etag

router = APIRouter(prefix="/api/v1", tags=["catalog"])
register_scope_check("product", service.get_product)
register_scope_check("site", service.get_site)
register_scope_check("brand", service.get_brand)
register_scope_check("test_rig", service.rig_in_scope)
register_scope_check(
    "inspection_checklist",
    lambda session, actor, label: service.get_product(session, actor, label.partition("@")[0]),
)
IMAGE_PATH = "/products/{sku}/firmware/{version}/image"
# The upload route, for the body-size middleware (which runs before routing).
IMAGE_UPLOAD_PATH = re.compile(r"/api/v1/products/[^/]+/firmware/[^/]+/image")
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


def _firmware_out(release: FirmwareRelease, image_stored: bool | None = None) -> FirmwareOut:
    stored = firmware_images.is_stored(release.sha256) if image_stored is None else image_stored
    return FirmwareOut.model_validate(release.snapshot() | {"image_stored": stored})


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


async def _staged_image(request: Request, actor: CurrentActor) -> AsyncIterator[StagedImage]:
    """The request body written to the image store's incoming folder while it is hashed; the
    temporary file is removed after the request unless the upload kept it. The caller is
    checked first, and no write transaction is open while the body arrives."""
    actor.require("firmware.upload")
    content_type = request.headers.get("content-type", "application/octet-stream")
    if content_type.split(";")[0].strip().lower() != "application/octet-stream":
        raise UnsupportedMediaType(
            f"send the image as raw bytes with Content-Type: application/octet-stream, "
            f"not {content_type[:80]}",
            field="header.Content-Type",
        )
    staged = await firmware_images.stage_stream(request.stream())
    try:
        yield staged
    finally:
        staged.discard()


_IMAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The image's bytes (at most BACKHAUL_FIRMWARE_MAX_BYTES)",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    IMAGE_PATH,
    response_model=FirmwareOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_IMAGE_BODY,
    responses={
        200: {"model": FirmwareOut, "description": "The release existed; its image is stored"},
        201: {"description": "The upload registered the release and stored its image"},
        415: {"description": "Not sent as application/octet-stream", "content": {PROBLEM: {}}},
    },
)
def upload_firmware_image(
    sku: str,
    version: str,
    staged: Annotated[StagedImage, Depends(_staged_image)],
    session: DbSession,
    actor: CurrentActor,
    response: Response,
    release_status: Annotated[
        ReleaseStatus | None,
        Query(alias="status", description="For a new version: its status (default supported)"),
    ] = None,
) -> FirmwareOut:
    """Upload a release's image (raw bytes). The server computes its sha256 and size: for a
    release registered by hash they must match; an unknown version is registered by the upload.
    Uploading the same bytes again changes nothing."""
    upload = service.store_firmware_image(session, actor, sku, version, staged, release_status)
    if not upload.created:
        response.status_code = status.HTTP_200_OK
    return _firmware_out(upload.release, image_stored=True)


@router.get(
    IMAGE_PATH,
    response_class=FileResponse,
    responses={
        200: {
            "description": "The image; ETag and Repr-Digest carry its sha256",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
def download_firmware_image(
    sku: str, version: str, session: DbSession, actor: CurrentActor
) -> FileResponse:
    """Download a release's image (404 when only its hash is registered)."""
    release, path = service.firmware_image(session, actor, sku, version)
    return image_response(release, path)


def image_response(release: FirmwareRelease, path: Path) -> FileResponse:
    """A firmware image as a download, labelled with its sha256 (ETag and RFC 9530 digest)."""
    digest = base64.b64encode(bytes.fromhex(release.sha256)).decode()
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=f"{release.product.sku}-{release.version}.bin",
        headers={"ETag": f'"{release.sha256}"', "Repr-Digest": f"sha-256=:{digest}:"},
    )


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


def _checklist_out(
    product: Product, checklist: Checklist, row: InspectionChecklist | None
) -> InspectionChecklistOut:
    return InspectionChecklistOut(
        sku=product.sku,
        version=checklist.version,
        accessories=list(checklist.accessories),
        cosmetic_points=list(checklist.cosmetic_points),
        packaging_check=checklist.packaging_check,
        battery_check=checklist.battery_check,
        photos_required=checklist.photos_required,
        cosmetic_criteria=checklist.criteria(),
        created_by=row.created_by if row else None,
        created_at=row.created_at if row else None,
    )


@router.get("/products/{sku}/inspection-checklist", response_model=InspectionChecklistOut)
def get_inspection_checklist(
    sku: str, session: DbSession, actor: CurrentActor, response: Response
) -> InspectionChecklistOut:
    """The product's current inspection checklist (`version` null: the default one). The ETag
    is the version to send as If-Match when changing it ("0" for the default)."""
    product, checklist, row = service.get_inspection_checklist(session, actor, sku)
    etag(response, checklist.version or 0)
    return _checklist_out(product, checklist, row)


@router.put("/products/{sku}/inspection-checklist", response_model=InspectionChecklistOut)
def set_inspection_checklist(
    sku: str,
    data: InspectionChecklistIn,
    session: DbSession,
    actor: CurrentActor,
    response: Response,
    if_match: IfMatch,
) -> InspectionChecklistOut:
    """Publish the next version of the product's inspection checklist; it is current at once,
    and each inspection records the version it was made against."""
    row = service.set_inspection_checklist(session, actor, sku, data, if_match)
    product, checklist, _row = service.get_inspection_checklist(session, actor, sku)
    etag(response, row.version)
    return _checklist_out(product, checklist, row)


# --- test rigs ---------------------------------------------------------------------------


def _rig_out(
    session: Session, rig: TestRig, now: datetime, *, with_history: bool = False
) -> TestRigOut:
    verdict, latest = service.rig_verdict(session, rig, now)
    history = service.rig_calibrations(session, rig) if with_history else None
    return TestRigOut(
        site=rig.site.code,
        code=rig.code,
        name=rig.name,
        kind=rig.kind,
        active=rig.active,
        status=verdict.status.value,
        refusal=verdict.refusal,
        calibration=CalibrationOut.model_validate(latest) if latest is not None else None,
        calibrations=[CalibrationOut.model_validate(c) for c in history]
        if history is not None
        else None,
    )


@router.get("/sites/{code}/rigs", response_model=list[TestRigOut])
def list_rigs(code: str, session: DbSession, actor: CurrentActor) -> list[TestRigOut]:
    """The site's test rigs, each with its current calibration and whether it may be used."""
    now = utcnow()
    return [_rig_out(session, rig, now) for rig in service.list_rigs(session, actor, code)]


@router.post("/sites/{code}/rigs", response_model=TestRigOut, status_code=status.HTTP_201_CREATED)
def create_rig(code: str, data: TestRigIn, session: DbSession, actor: CurrentActor) -> TestRigOut:
    """Add a test rig to a site (it needs a calibration before anything is tested on it)."""
    rig = service.create_rig(session, actor, code, data)
    return _rig_out(session, rig, utcnow(), with_history=True)


@router.get("/sites/{code}/rigs/{rig}", response_model=TestRigOut)
def get_rig(code: str, rig: str, session: DbSession, actor: CurrentActor) -> TestRigOut:
    """One rig with all its calibration records, newest first."""
    found = service.get_rig(session, actor, code, rig)
    return _rig_out(session, found, utcnow(), with_history=True)


@router.patch("/sites/{code}/rigs/{rig}", response_model=TestRigOut)
def update_rig(
    code: str, rig: str, patch: TestRigPatch, session: DbSession, actor: CurrentActor
) -> TestRigOut:
    """Rename a rig, or take it out of service (`active: false`) and back."""
    found = service.update_rig(session, actor, code, rig, patch)
    return _rig_out(session, found, utcnow(), with_history=True)


@router.post(
    "/sites/{code}/rigs/{rig}/calibrations",
    response_model=TestRigOut,
    status_code=status.HTTP_201_CREATED,
)
def record_calibration(
    code: str, rig: str, data: CalibrationIn, session: DbSession, actor: CurrentActor
) -> TestRigOut:
    """Record a calibration of the rig from its certificate; answers the rig as it now stands."""
    service.record_calibration(session, actor, code, rig, data)
    found = service.get_rig(session, actor, code, rig)
    return _rig_out(session, found, utcnow(), with_history=True)
