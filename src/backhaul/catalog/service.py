"""Catalog use cases: brands, products, sites, firmware releases and their images, test plans,
inspection checklists, and test rigs with their calibrations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from backhaul.catalog import checklists, firmware_images, rigs
from backhaul.catalog.checklists import Checklist
from backhaul.catalog.firmware_images import StagedImage
from backhaul.catalog.models import (
    Battery,
    Brand,
    FirmwareRelease,
    InspectionChecklist,
    Product,
    ReleaseStatus,
    RigCalibration,
    Site,
    TestPlan,
    TestRig,
)
from backhaul.catalog.schemas import (
    BrandIn,
    BrandPatch,
    CalibrationIn,
    FirmwareIn,
    FirmwarePatch,
    InspectionChecklistIn,
    ProductIn,
    ProductPatch,
    SiteIn,
    SitePatch,
    TestPlanIn,
    TestRigIn,
    TestRigPatch,
)
from backhaul.db import after_commit, utcnow
from backhaul.kit.auth import Actor
from backhaul.kit.changes import record_change
from backhaul.kit.errors import Conflict, NotFound, StaleVersion, ValidationFailed
from backhaul.kit.prepared import Prepared
from backhaul.kit.visibility import visible

DEFAULT_BRAND_CODE = "default"


def check_version(current: int, expected: int | None) -> None:
    """Refuse a change made against a version that is no longer current (`If-Match`)."""
    if expected is not None and expected != current:
        raise StaleVersion(
            f"the object is at version {current}, not {expected}; reload it and try again",
            current_version=current,
        )


# --- brands ------------------------------------------------------------------------------


def list_brands(session: Session, actor: Actor) -> list[Brand]:
    """Brands the actor may see."""
    actor.require("catalog.read")
    return list(session.scalars(visible(actor, select(Brand), Brand).order_by(Brand.code)))


def get_brand(session: Session, actor: Actor, code: str) -> Brand:
    """One brand by code, or NotFound when it does not exist or is out of scope."""
    actor.require("catalog.read")
    brand = session.scalars(
        visible(actor, select(Brand), Brand).where(Brand.code == code.lower())
    ).first()
    if brand is None:
        raise NotFound(f"no brand '{code}'")
    return brand


def create_brand(session: Session, actor: Actor, data: BrandIn) -> Brand:
    """Add a brand."""
    actor.require("brands.write")
    if session.scalar(select(Brand.id).where(Brand.code == data.code)) is not None:
        raise Conflict(f"brand '{data.code}' already exists", field="code")
    brand = Brand(code=data.code, name=data.name, device_cloud_url=data.device_cloud_url)
    session.add(brand)
    session.flush()
    record_change(session, actor, "brand.created", "brand", brand.code, None, brand.snapshot())
    return brand


def update_brand(
    session: Session, actor: Actor, code: str, patch: BrandPatch, if_match: int | None = None
) -> Brand:
    """Change a brand's name or device cloud; `device_cloud_url: null` removes the cloud."""
    brand = get_brand(session, actor, code)
    actor.require("brands.write")
    check_version(brand.version, if_match)
    before = brand.snapshot()
    _apply(brand, patch.model_dump(exclude_unset=True))
    session.flush()
    record_change(session, actor, "brand.updated", "brand", brand.code, before, brand.snapshot())
    return brand


def ensure_default_brand(session: Session, actor: Actor) -> Brand:
    """The brand products fall into when an installation has only one (made by `db upgrade`)."""
    brand = session.scalars(select(Brand).where(Brand.code == DEFAULT_BRAND_CODE)).first()
    if brand is None and session.scalar(select(func.count()).select_from(Brand)) == 0:
        brand = create_brand(session, actor, BrandIn(code=DEFAULT_BRAND_CODE, name="Default brand"))
    return brand or session.scalars(select(Brand).order_by(Brand.id)).one()


def _resolve_brand(session: Session, actor: Actor, code: str | None) -> Brand:
    if code is not None:
        try:
            return get_brand(session, actor, code)
        except NotFound:
            raise ValidationFailed(f"no brand '{code}'", field="brand") from None
    brands = list_brands(session, actor)
    if len(brands) != 1:
        raise ValidationFailed(
            "this installation serves several brands: say which one", field="brand"
        )
    return brands[0]


# --- products ----------------------------------------------------------------------------


def list_products(
    session: Session, actor: Actor, *, brand: str | None = None, family: str | None = None
) -> list[Product]:
    """Products the actor may see, optionally filtered by brand code or family."""
    actor.require("catalog.read")
    statement = visible(actor, select(Product), Product).order_by(Product.sku)
    if brand:
        statement = statement.join(Brand).where(Brand.code == brand.lower())
    if family:
        statement = statement.where(Product.family == family)
    return list(session.scalars(statement))


def get_product(session: Session, actor: Actor, sku: str) -> Product:
    """One product by SKU, or NotFound when it does not exist or is out of scope."""
    actor.require("catalog.read")
    product = session.scalars(
        visible(actor, select(Product), Product).where(Product.sku == sku.strip().upper())
    ).first()
    if product is None:
        raise NotFound(f"no product with SKU '{sku}'")
    return product


def create_product(session: Session, actor: Actor, data: ProductIn) -> Product:
    """Add a product to a brand's catalog."""
    actor.require("catalog.write")
    brand = _resolve_brand(session, actor, data.brand)
    if session.scalar(select(Product.id).where(Product.sku == data.sku)) is not None:
        raise Conflict(f"a product with SKU '{data.sku}' already exists", field="sku")
    product = Product(brand=brand, **data.model_dump(exclude={"brand"}))
    session.add(product)
    session.flush()
    record_change(
        session, actor, "product.created", "product", product.sku, None, product.snapshot()
    )
    return product


def _apply(obj: Any, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(obj, name, value)


def update_product(
    session: Session, actor: Actor, sku: str, patch: ProductPatch, if_match: int | None = None
) -> Product:
    """Change a product's fields; `if_match` guards against overwriting someone else's change."""
    product = get_product(session, actor, sku)
    actor.require("catalog.write")
    check_version(product.version, if_match)
    before = product.snapshot()
    _apply(product, patch.model_dump(exclude_unset=True, exclude_none=True))
    session.flush()
    record_change(
        session, actor, "product.updated", "product", product.sku, before, product.snapshot()
    )
    return product


# --- sites -------------------------------------------------------------------------------


def list_sites(session: Session, actor: Actor, *, kind: str | None = None) -> list[Site]:
    """Sites the actor may see, optionally of one kind."""
    actor.require("catalog.read")
    statement = visible(actor, select(Site), Site).order_by(Site.code)
    if kind:
        statement = statement.where(Site.kind == kind)
    return list(session.scalars(statement))


def get_site(session: Session, actor: Actor, code: str) -> Site:
    """One site by code, or NotFound when it does not exist or is out of scope."""
    actor.require("catalog.read")
    site = session.scalars(
        visible(actor, select(Site), Site).where(Site.code == code.strip().upper())
    ).first()
    if site is None:
        raise NotFound(f"no site '{code}'")
    return site


def create_site(session: Session, actor: Actor, data: SiteIn) -> Site:
    """Add a hub, repair partner or recycler."""
    actor.require("catalog.write")
    if session.scalar(select(Site.id).where(Site.code == data.code)) is not None:
        raise Conflict(f"site '{data.code}' already exists", field="code")
    site = Site(**data.model_dump())
    session.add(site)
    session.flush()
    record_change(session, actor, "site.created", "site", site.code, None, site.snapshot())
    return site


def update_site(
    session: Session, actor: Actor, code: str, patch: SitePatch, if_match: int | None = None
) -> Site:
    """Change a site's fields."""
    site = get_site(session, actor, code)
    actor.require("catalog.write")
    check_version(site.version, if_match)
    before = site.snapshot()
    _apply(site, patch.model_dump(exclude_unset=True, exclude_none=True))
    session.flush()
    record_change(session, actor, "site.updated", "site", site.code, before, site.snapshot())
    return site


# --- firmware releases -------------------------------------------------------------------


def list_firmware(session: Session, actor: Actor, sku: str) -> list[FirmwareRelease]:
    """A product's firmware releases, newest first."""
    product = get_product(session, actor, sku)
    return list(
        session.scalars(
            select(FirmwareRelease)
            .where(FirmwareRelease.product_id == product.id)
            .order_by(FirmwareRelease.id.desc())
        )
    )


_FIRMWARE_BY_VERSION = select(FirmwareRelease).where(
    FirmwareRelease.product_id == bindparam("product_id"),
    FirmwareRelease.version == bindparam("version"),
)


def get_firmware(session: Session, actor: Actor, sku: str, version: str) -> FirmwareRelease:
    """One release of a product, or NotFound."""
    product = get_product(session, actor, sku)
    release = session.scalars(
        _FIRMWARE_BY_VERSION, {"product_id": product.id, "version": version}
    ).first()
    if release is None:
        raise NotFound(f"{product.sku} has no firmware release '{version}'")
    return release


@dataclass(frozen=True, slots=True)
class ReleaseFacts:
    """A firmware release as the steps and the station pages read it."""

    version: str
    sha256: str
    size: int
    status: ReleaseStatus


# The steps read releases, plans and checklists on every unit: on the driver (kit/prepared.py).
_RELEASE_COLUMNS = (
    FirmwareRelease.version,
    FirmwareRelease.sha256,
    FirmwareRelease.size,
    FirmwareRelease.status,
)
_CURRENT_FIRMWARE_ROW = select(FirmwareRelease).where(
    FirmwareRelease.product_id == bindparam("product_id"),
    FirmwareRelease.status == ReleaseStatus.current,
)
_RELEASE_BY_VERSION = Prepared(_FIRMWARE_BY_VERSION.with_only_columns(*_RELEASE_COLUMNS))
_CURRENT_RELEASE = Prepared(_CURRENT_FIRMWARE_ROW.with_only_columns(*_RELEASE_COLUMNS).limit(1))


def _release(rows: list[tuple[Any, ...]]) -> ReleaseFacts | None:
    return ReleaseFacts(*rows[0]) if rows else None


def firmware_release(session: Session, product_id: int, version: str) -> ReleaseFacts | None:
    """The product's release with this version, if it has one."""
    return _release(
        _RELEASE_BY_VERSION.rows(session, {"product_id": product_id, "version": version})
    )


def current_firmware(session: Session, product_id: int) -> ReleaseFacts | None:
    """The product's current release, if it has one."""
    return _release(_CURRENT_RELEASE.rows(session, {"product_id": product_id}))


def _demote_current(session: Session, actor: Actor, product_id: int, keep: int | None) -> None:
    previous = session.scalars(_CURRENT_FIRMWARE_ROW, {"product_id": product_id}).first()
    if previous is not None and previous.id != keep:
        before = previous.snapshot()
        previous.status = ReleaseStatus.supported
        session.flush()
        record_change(
            session,
            actor,
            "firmware.updated",
            "firmware",
            f"{previous.product.sku}@{previous.version}",
            before,
            previous.snapshot(),
        )


def add_firmware(session: Session, actor: Actor, sku: str, data: FirmwareIn) -> FirmwareRelease:
    """Register a release by its image hash; registering it as current demotes the old one."""
    product = get_product(session, actor, sku)
    actor.require("catalog.write")
    if (
        session.scalar(
            select(FirmwareRelease.id).where(
                FirmwareRelease.product_id == product.id, FirmwareRelease.version == data.version
            )
        )
        is not None
    ):
        raise Conflict(f"{product.sku} already has a release '{data.version}'", field="version")
    if data.status is ReleaseStatus.current:
        _demote_current(session, actor, product.id, keep=None)
    release = FirmwareRelease(product=product, **data.model_dump())
    session.add(release)
    session.flush()
    record_change(
        session,
        actor,
        "firmware.created",
        "firmware",
        f"{product.sku}@{release.version}",
        None,
        release.snapshot(),
    )
    return release


def set_firmware_status(
    session: Session, actor: Actor, sku: str, version: str, data: FirmwarePatch
) -> FirmwareRelease:
    """Change a release's status, keeping exactly one current release per product."""
    release = get_firmware(session, actor, sku, version)
    actor.require("catalog.write")
    if release.status is data.status:
        return release
    if release.status is ReleaseStatus.current:
        raise Conflict(
            f"{release.version} is the current release of {release.product.sku}; "
            "make another release current instead",
            field="status",
        )
    before = release.snapshot()
    if data.status is ReleaseStatus.current:
        _demote_current(session, actor, release.product_id, keep=release.id)
    release.status = data.status
    session.flush()
    record_change(
        session,
        actor,
        "firmware.updated",
        "firmware",
        f"{release.product.sku}@{release.version}",
        before,
        release.snapshot(),
    )
    return release


# --- firmware images ---------------------------------------------------------------------


@dataclass
class ImageUpload:
    """What an upload did: the release, whether the upload registered it, and whether the image
    is new to the store (False: the same bytes were uploaded before, nothing changed)."""

    release: FirmwareRelease
    created: bool
    newly_stored: bool


def _firmware_label(release: FirmwareRelease) -> str:
    return f"{release.product.sku}@{release.version}"


def store_firmware_image(
    session: Session,
    actor: Actor,
    sku: str,
    version: str,
    staged: StagedImage,
    status: ReleaseStatus | None = None,
) -> ImageUpload:
    """Keep an uploaded image for a release: the bytes must be the registered release's (same
    sha256 and size); for a version not registered yet, the upload registers it (`status`,
    default supported). The image moves into the store when the transaction commits; a refused
    upload's temporary file is removed at once."""
    actor.require("firmware.upload")
    try:
        product = get_product(session, actor, sku)
        if staged.size == 0:
            raise ValidationFailed("the image is empty: send its bytes as the body", field="image")
        release = session.scalars(
            select(FirmwareRelease).where(
                FirmwareRelease.product_id == product.id,
                FirmwareRelease.version == version.strip(),
            )
        ).first()
        created = release is None
        if release is None:
            release = add_firmware(
                session, actor, product.sku, _new_release(version, staged, status)
            )
        else:
            _check_image_matches(release, staged, status)
    except BaseException:
        staged.discard()
        raise
    if firmware_images.is_stored(release.sha256):
        staged.discard()
        return ImageUpload(release, created, newly_stored=False)
    record_change(
        session,
        actor,
        "firmware.image_stored",
        "firmware",
        _firmware_label(release),
        release.snapshot() | {"image_stored": False},
        release.snapshot() | {"image_stored": True},
    )

    def keep() -> None:
        firmware_images.keep(staged)

    after_commit(session, keep)
    return ImageUpload(release, created, newly_stored=True)


def _new_release(version: str, staged: StagedImage, status: ReleaseStatus | None) -> FirmwareIn:
    try:
        return FirmwareIn.model_validate(
            {
                "version": version,
                "sha256": staged.sha256,
                "size": staged.size,
                "status": status or ReleaseStatus.supported,
            }
        )
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "version"
        raise ValidationFailed(f"{name}: {first['msg']}", field=name) from None


def _check_image_matches(
    release: FirmwareRelease, staged: StagedImage, status: ReleaseStatus | None
) -> None:
    label = f"{release.product.sku} {release.version}"
    if staged.sha256 != release.sha256:
        raise ValidationFailed(
            f"the uploaded image has sha256 {staged.sha256}, but {label} was registered with "
            f"sha256 {release.sha256}: this is not its image",
            field="sha256",
        )
    if staged.size != release.size:
        raise ValidationFailed(
            f"the uploaded image is {staged.size:,} bytes, but {label} was registered as "
            f"{release.size:,} bytes",
            field="size",
        )
    if status is not None and status is not release.status:
        raise Conflict(
            f"{label} is already registered as {release.status.value}; change its status "
            "separately (PATCH the release, or `backhaul firmware set-status`)",
            field="status",
        )


def firmware_image(
    session: Session, actor: Actor, sku: str, version: str
) -> tuple[FirmwareRelease, Path]:
    """A release and the stored file of its image, or NotFound when only its hash is known."""
    actor.require("firmware.download")
    release = get_firmware(session, actor, sku, version)
    path = firmware_images.image_path(release.sha256)
    if not path.is_file():
        raise NotFound(
            f"only the hash of {release.product.sku} {release.version} is registered; "
            "upload the image (POST .../image or `backhaul firmware upload`)"
        )
    return release, path


# --- test plans --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanFacts:
    """A test plan version as the steps and the station pages read it."""

    version: int
    tests: list[dict[str, Any]]


_CURRENT_PLAN = Prepared(
    select(TestPlan.version, TestPlan.tests)
    .where(TestPlan.product_id == bindparam("product_id"))
    .order_by(TestPlan.version.desc())
    .limit(1)
)


def current_test_plan(session: Session, product_id: int) -> PlanFacts | None:
    """The newest version of the product's test plan."""
    rows = _CURRENT_PLAN.rows(session, {"product_id": product_id})
    return PlanFacts(*rows[0]) if rows else None


def list_test_plans(session: Session, actor: Actor, sku: str) -> list[TestPlan]:
    """Every version of a product's test plan, newest first."""
    product = get_product(session, actor, sku)
    return list(
        session.scalars(
            select(TestPlan)
            .where(TestPlan.product_id == product.id)
            .order_by(TestPlan.version.desc())
        )
    )


def add_test_plan(session: Session, actor: Actor, sku: str, data: TestPlanIn) -> TestPlan:
    """Publish a new plan version; it must be newer than every existing one."""
    product = get_product(session, actor, sku)
    actor.require("catalog.write")
    latest = current_test_plan(session, product.id)
    if latest is not None and data.version <= latest.version:
        raise Conflict(
            f"{product.sku} already has test plan version {latest.version}; "
            f"publish a version above it",
            field="version",
        )
    plan = TestPlan(
        product=product, version=data.version, tests=[t.model_dump() for t in data.tests]
    )
    session.add(plan)
    session.flush()
    record_change(
        session,
        actor,
        "test_plan.created",
        "test_plan",
        f"{product.sku}@{plan.version}",
        None,
        plan.snapshot(),
    )
    return plan


# --- inspection checklists ----------------------------------------------------------------


# Only the column the default checklist needs: loading the whole product (and its brand) for
# it cost 150 µs on every inspect and grade step of a product without a checklist.
_NEWEST_CHECKLIST = (
    select(InspectionChecklist)
    .where(InspectionChecklist.product_id == bindparam("product_id"))
    .order_by(InspectionChecklist.version.desc())
    .limit(1)
)


def _newest_checklist(session: Session, product_id: int) -> InspectionChecklist | None:
    """The row of the product's newest checklist version, for changing or showing it."""
    return session.scalars(_NEWEST_CHECKLIST, {"product_id": product_id}).first()


_BATTERY = Prepared(select(Product.battery).where(Product.id == bindparam("product_id")))
_CHECKLIST_COLUMNS = (
    InspectionChecklist.version,
    InspectionChecklist.accessories,
    InspectionChecklist.cosmetic_points,
    InspectionChecklist.packaging_check,
    InspectionChecklist.battery_check,
    InspectionChecklist.photos_required,
    InspectionChecklist.cosmetic_criteria,
)
_CURRENT_CHECKLIST = Prepared(_NEWEST_CHECKLIST.with_only_columns(*_CHECKLIST_COLUMNS))


def _as_checklist(session: Session, product_id: int, row: tuple[Any, ...] | None) -> Checklist:
    """The checklist from its row's `_CHECKLIST_COLUMNS`; None: the default, which checks the
    battery when the product has one."""
    if row is None:
        ((battery,),) = _BATTERY.rows(session, {"product_id": product_id})
        return checklists.default_checklist(has_battery=battery is not Battery.none)
    version, accessories, points, packaging, battery_check, photos, criteria = row
    return Checklist(
        version=version,
        accessories=tuple(accessories),
        cosmetic_points=tuple(points),
        packaging_check=packaging,
        battery_check=battery_check,
        photos_required=photos,
        cosmetic_criteria=dict(criteria),
    )


def current_checklist(session: Session, product_id: int) -> Checklist:
    """The checklist a unit of the product is inspected against now: the newest version, or the
    default when the product has none."""
    rows = _CURRENT_CHECKLIST.rows(session, {"product_id": product_id})
    return _as_checklist(session, product_id, rows[0] if rows else None)


def get_inspection_checklist(
    session: Session, actor: Actor, sku: str
) -> tuple[Product, Checklist, InspectionChecklist | None]:
    """A product's current inspection checklist, and its row (None: the default applies)."""
    product = get_product(session, actor, sku)
    row = _newest_checklist(session, product.id)
    facts = tuple(getattr(row, column.key) for column in _CHECKLIST_COLUMNS) if row else None
    return product, _as_checklist(session, product.id, facts), row


def set_inspection_checklist(
    session: Session,
    actor: Actor,
    sku: str,
    data: InspectionChecklistIn,
    if_match: int | None = None,
) -> InspectionChecklist:
    """Publish the next version of a product's inspection checklist (it becomes current);
    `if_match` names the version the change was made against (0: the default checklist)."""
    product = get_product(session, actor, sku)
    actor.require("catalog.write")
    latest = _newest_checklist(session, product.id)
    check_version(latest.version if latest else 0, if_match)
    battery_check = data.battery_check
    if battery_check is None:
        battery_check = product.battery is not Battery.none
    row = InspectionChecklist(
        product=product,
        version=(latest.version if latest else 0) + 1,
        accessories=list(data.accessories),
        cosmetic_points=list(data.cosmetic_points),
        packaging_check=data.packaging_check,
        battery_check=battery_check,
        photos_required=data.photos_required,
        cosmetic_criteria={grade.value: text for grade, text in data.cosmetic_criteria.items()},
        created_by=actor.username,
    )
    session.add(row)
    session.flush()
    record_change(
        session,
        actor,
        "inspection_checklist.created",
        "inspection_checklist",
        f"{product.sku}@{row.version}",
        latest.snapshot() if latest else None,
        row.snapshot(),
    )
    return row


# --- test rigs ---------------------------------------------------------------------------


def site_today(timezone: str, now: datetime) -> date:
    """The date it is at a site in this time zone (calibrations fall due by the site's own
    calendar)."""
    return now.astimezone(ZoneInfo(timezone)).date()


def rig_calibrations(session: Session, rig: TestRig) -> list[RigCalibration]:
    """A rig's calibration records, the current one (newest calibration date) first."""
    return list(
        session.scalars(
            select(RigCalibration)
            .where(RigCalibration.rig_id == rig.id)
            .order_by(RigCalibration.calibrated_on.desc(), RigCalibration.id.desc())
        )
    )


# A rig's current calibration: the newest calibration date (the newest record among equals).
_NEWEST_CALIBRATION_FIRST = (RigCalibration.calibrated_on.desc(), RigCalibration.id.desc())
_LATEST_CALIBRATION = (
    select(RigCalibration)
    .where(RigCalibration.rig_id == bindparam("rig_id"))
    .order_by(*_NEWEST_CALIBRATION_FIRST)
    .limit(1)
)


def latest_calibration(session: Session, rig: TestRig) -> RigCalibration | None:
    """The rig's current calibration: the one with the newest calibration date."""
    return session.scalars(_LATEST_CALIBRATION, {"rig_id": rig.id}).first()


def rig_verdict(
    session: Session, rig: TestRig, now: datetime
) -> tuple[rigs.RigVerdict, RigCalibration | None]:
    """Whether the rig may be tested on now, with its current calibration."""
    today = site_today(rig.site.timezone, now)
    latest = latest_calibration(session, rig)
    facts = (
        rigs.Calibration(latest.calibrated_on, latest.due_on, latest.certificate_ref)
        if latest is not None
        else None
    )
    return rigs.verdict(rig.code, rig.active, facts, today), latest


def list_rigs(session: Session, actor: Actor, site_code: str) -> list[TestRig]:
    """The test rigs at a site the actor may see, by code."""
    site = get_site(session, actor, site_code)
    return list(
        session.scalars(
            visible(actor, select(TestRig), TestRig)
            .where(TestRig.site_id == site.id)
            .order_by(TestRig.code)
        )
    )


def get_rig(session: Session, actor: Actor, site_code: str, rig_code: str) -> TestRig:
    """One rig at a site, or NotFound."""
    site = get_site(session, actor, site_code)
    rig = session.scalars(
        visible(actor, select(TestRig), TestRig).where(
            TestRig.site_id == site.id, TestRig.code == rig_code.strip().upper()
        )
    ).first()
    if rig is None:
        raise NotFound(f"site {site.code} has no test rig '{rig_code}'")
    return rig


def _rig_label(rig: TestRig) -> str:
    return f"{rig.site.code}/{rig.code}"


def rig_in_scope(session: Session, actor: Actor, label: str) -> TestRig:
    """The rig an audit object id (`SITE/RIG`) names, if the actor may see it."""
    site_code, _, rig_code = label.partition("/")
    return get_rig(session, actor, site_code, rig_code)


def create_rig(session: Session, actor: Actor, site_code: str, data: TestRigIn) -> TestRig:
    """Add a test rig to a site."""
    site = get_site(session, actor, site_code)
    actor.require("rigs.manage")
    exists = session.scalar(
        select(TestRig.id).where(TestRig.site_id == site.id, TestRig.code == data.code)
    )
    if exists is not None:
        raise Conflict(f"site {site.code} already has a rig '{data.code}'", field="code")
    rig = TestRig(site=site, **data.model_dump())
    session.add(rig)
    session.flush()
    record_change(
        session, actor, "test_rig.created", "test_rig", _rig_label(rig), None, rig.snapshot()
    )
    return rig


def update_rig(
    session: Session, actor: Actor, site_code: str, rig_code: str, patch: TestRigPatch
) -> TestRig:
    """Rename a rig, or take it out of (or back into) service."""
    rig = get_rig(session, actor, site_code, rig_code)
    actor.require("rigs.manage")
    before = rig.snapshot()
    _apply(rig, patch.model_dump(exclude_unset=True, exclude_none=True))
    session.flush()
    if rig.snapshot() != before:
        record_change(
            session, actor, "test_rig.updated", "test_rig", _rig_label(rig), before, rig.snapshot()
        )
    return rig


def record_calibration(
    session: Session, actor: Actor, site_code: str, rig_code: str, data: CalibrationIn
) -> RigCalibration:
    """Record a calibration of a rig (it becomes current when it is the newest)."""
    rig = get_rig(session, actor, site_code, rig_code)
    actor.require("rigs.manage")
    now = utcnow()
    today = site_today(rig.site.timezone, now)
    if data.calibrated_on > today:
        raise ValidationFailed(
            f"calibrated_on {data.calibrated_on.isoformat()} is in the future at "
            f"{rig.site.code} (today there is {today.isoformat()})",
            field="calibrated_on",
        )
    previous = latest_calibration(session, rig)
    calibration = RigCalibration(
        rig_id=rig.id,
        calibrated_on=data.calibrated_on,
        due_on=data.due_on,
        certificate_ref=data.certificate_ref,
        recorded_by=actor.username,
        recorded_at=now,
    )
    session.add(calibration)
    session.flush()
    record_change(
        session,
        actor,
        "test_rig.calibrated",
        "test_rig",
        _rig_label(rig),
        previous.snapshot() if previous is not None else None,
        calibration.snapshot(),
    )
    return calibration


@dataclass(frozen=True, slots=True)
class RigForTest:
    """The rig a test is run on, with the calibration that vouches for it today."""

    code: str
    calibration_id: int
    calibration: rigs.Calibration


_LATEST_CALIBRATION_ID = (
    select(RigCalibration.id)
    .where(RigCalibration.rig_id == TestRig.id)
    .order_by(*_NEWEST_CALIBRATION_FIRST)
    .limit(1)
    .correlate(TestRig)
    .scalar_subquery()
)
# The rig at a site with its current calibration, in one read on the driver (every test).
_RIG_AT_SITE = Prepared(
    select(
        TestRig.code,
        TestRig.active,
        RigCalibration.id,
        RigCalibration.calibrated_on,
        RigCalibration.due_on,
        RigCalibration.certificate_ref,
    )
    .outerjoin(RigCalibration, RigCalibration.id == _LATEST_CALIBRATION_ID)
    .where(TestRig.site_id == bindparam("site_id"), TestRig.code == bindparam("code"))
)


def rig_for_test(
    session: Session, site_id: int, site_code: str, rig_code: str, today: date
) -> RigForTest:
    """The rig a test is run on at the unit's site, with the calibration that vouches for it
    on the site's `today`; ValidationFailed naming `rig` when it is unknown there, out of
    service, never calibrated or its calibration is due."""
    rows = _RIG_AT_SITE.rows(session, {"site_id": site_id, "code": rig_code})
    if not rows:
        raise ValidationFailed(f"site {site_code} has no test rig '{rig_code}'", field="rig")
    code, active, calibration_id, calibrated_on, due_on, certificate_ref = rows[0]
    latest = (
        rigs.Calibration(calibrated_on, due_on, certificate_ref)
        if calibration_id is not None
        else None
    )
    verdict = rigs.verdict(code, active, latest, today)
    if not verdict.usable:
        raise ValidationFailed(verdict.refusal or "rig refused", field="rig")
    assert latest is not None and calibration_id is not None
    return RigForTest(code, calibration_id, latest)
