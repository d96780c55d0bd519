"""Catalog input and output shapes, with the checks that name the bad field."""

from __future__ import annotations

import math
import re
import zoneinfo
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from backhaul.catalog.models import Battery, Regulated, ReleaseStatus, SiteKind
from backhaul.kit.money import Currency, Money
from backhaul.kit.schemas import Input, Output, ToLower, ToUpper
from backhaul.processing import wait_targets
from backhaul.processing.grading import Cosmetic

Code = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", strip_whitespace=True, to_lower=True),
    ToLower,
]
Sku = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,39}$", strip_whitespace=True, to_upper=True),
    ToUpper,
]
SiteCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,19}$", strip_whitespace=True, to_upper=True),
    ToUpper,
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Region = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{2,3}$", strip_whitespace=True, to_upper=True), ToUpper
]
HsCode = Annotated[str, StringConstraints(pattern=r"^\d{4}(\.?\d{2}){1,3}$")]
Capability = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$")]


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"not a valid regular expression: {error}") from error
    return pattern


def _known_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown IANA time zone '{name}'") from error
    return name


WaitHours = Annotated[
    float,
    Field(gt=0, le=wait_targets.MAX_HOURS, allow_inf_nan=False, description="Hours"),
]
StepWaitTargets = Annotated[
    dict[str, WaitHours],
    Field(max_length=20, description='Hours per step a unit waits for, e.g. {"inspect": 4}'),
    AfterValidator(wait_targets.check_step_targets),
]


def _device_cloud_url(value: str) -> str:
    if any(character.isspace() for character in value):
        raise ValueError("must not contain spaces")
    url = urlsplit(value)
    if url.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    try:
        url.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise ValueError("has an invalid port") from None
    if not url.hostname:
        raise ValueError("names no host")
    if url.username is not None or url.password is not None:
        raise ValueError(
            "must not carry credentials: the station sends its token "
            "(BACKHAUL_DEVICE_CLOUD_TOKEN_<BRAND> or BACKHAUL_DEVICE_CLOUD_TOKEN) instead"
        )
    if url.query or url.fragment:
        raise ValueError("must not have a query or a fragment")
    return value.rstrip("/")


SerialPattern = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_compiles)
]
TimeZone = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_timezone)
]
DeviceCloudUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500, strip_whitespace=True),
    AfterValidator(_device_cloud_url),
]


CLOUD_URL_HELP = (
    "Base URL of the brand's device cloud: stations call POST {url}/devices/{serial}/deactivation "
    "(see docs/adapters.md); null: the station's device adapter deactivates accounts itself"
)


class BrandIn(Input):
    """A new brand."""

    code: Code
    name: Name
    device_cloud_url: DeviceCloudUrl | None = Field(None, description=CLOUD_URL_HELP)


class BrandPatch(Input):
    """Fields to change on a brand; the code never changes. `device_cloud_url: null` removes
    the device cloud (the station's adapter then deactivates accounts itself)."""

    name: Name | None = None
    device_cloud_url: DeviceCloudUrl | None = Field(None, description=CLOUD_URL_HELP)

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("a brand always has a name")
        return value


class BrandOut(Output):
    """A brand."""

    code: str
    name: str
    device_cloud_url: str | None
    version: int


class ProductIn(Input):
    """A new product. `brand` may be left out while the installation has a single brand."""

    brand: Code | None = None
    sku: Sku
    name: Name
    family: Label
    category: Label
    serial_pattern: SerialPattern = Field(description="Regular expression every serial must match")
    regulated: Regulated = Regulated.none
    battery: Battery = Battery.li_ion
    weight_g: int = Field(gt=0, le=1_000_000)
    msrp: Money
    currency: Currency
    hs_code: HsCode
    warranty_months: int = Field(12, ge=0, le=240)


class ProductPatch(Input):
    """Fields to change on a product; the SKU and brand never change."""

    name: Name | None = None
    family: Label | None = None
    category: Label | None = None
    serial_pattern: SerialPattern | None = None
    regulated: Regulated | None = None
    battery: Battery | None = None
    weight_g: int | None = Field(None, gt=0, le=1_000_000)
    msrp: Money | None = None
    currency: Currency | None = None
    hs_code: HsCode | None = None
    warranty_months: int | None = Field(None, ge=0, le=240)


class ProductOut(Output):
    """A product as the API shows it."""

    brand: str

    @field_validator("brand", mode="before")
    @classmethod
    def _brand_code(cls, value: object) -> object:
        return getattr(value, "code", value)

    sku: str
    name: str
    family: str
    category: str
    serial_pattern: str
    regulated: Regulated
    battery: Battery
    weight_g: int
    msrp: Decimal
    currency: str
    hs_code: str
    warranty_months: int
    version: int


class SiteIn(Input):
    """A new site."""

    code: SiteCode
    name: Name
    region: Region
    timezone: TimeZone
    kind: SiteKind = SiteKind.hub
    capabilities: list[Capability] = Field(default_factory=list, max_length=100)
    labour_rate: Money
    currency: Currency
    wait_target_hours: WaitHours = wait_targets.DEFAULT_HOURS
    step_wait_targets: StepWaitTargets = Field(default_factory=dict)


class SitePatch(Input):
    """Fields to change on a site; the code never changes."""

    name: Name | None = None
    region: Region | None = None
    timezone: TimeZone | None = None
    kind: SiteKind | None = None
    capabilities: list[Capability] | None = Field(None, max_length=100)
    labour_rate: Money | None = None
    currency: Currency | None = None
    wait_target_hours: WaitHours | None = None
    step_wait_targets: StepWaitTargets | None = Field(
        None, description="Replaces the per-step targets; {} leaves only the default"
    )


class SiteOut(Output):
    """A site as the API shows it."""

    code: str
    name: str
    region: str
    timezone: str
    kind: SiteKind
    capabilities: list[str]
    labour_rate: Decimal
    currency: str
    wait_target_hours: float
    step_wait_targets: dict[str, float]
    version: int


Version = Annotated[
    str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}$", strip_whitespace=True)
]
Sha256 = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{64}$", strip_whitespace=True, to_lower=True), ToLower
]
TestId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")]


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number (JSON has no NaN or Infinity)")
    return value


# A measurement or a limit's value. Not NaN or infinity: JSON has no such numbers, yet Python's
# JSON reader (and so the request body's) takes the literals NaN and Infinity, and the answer,
# which must be JSON, could not carry them.
Scalar = Annotated[
    StrictBool | StrictInt | StrictFloat | Annotated[str, StringConstraints(max_length=80)],
    BeforeValidator(_finite),
]


class FirmwareIn(Input):
    """A firmware release registered by its image hash."""

    version: Version
    sha256: Sha256
    size: int = Field(gt=0, le=8 * 1024**3, description="Image size in bytes")
    status: ReleaseStatus = ReleaseStatus.supported


class FirmwarePatch(Input):
    """A new status for a release (making one current demotes the old current to supported)."""

    status: ReleaseStatus


class FirmwareOut(Output):
    """A firmware release; `image_stored` says whether the server holds its image or only the
    hash (download it at `.../firmware/{version}/image`)."""

    sku: str
    version: str
    sha256: str
    size: int
    status: ReleaseStatus
    image_stored: bool


class PlanTest(Input):
    """One functional test: an id, a unit and its limits."""

    id: TestId
    unit: Annotated[str, StringConstraints(max_length=20)] = ""
    min: float | None = Field(None, allow_inf_nan=False)
    max: float | None = Field(None, allow_inf_nan=False)
    equals: Scalar | None = None
    required: bool = True

    @model_validator(mode="after")
    def _limits(self) -> PlanTest:
        if self.min is None and self.max is None and self.equals is None:
            raise ValueError(f"test '{self.id}' needs a limit: min, max or equals")
        if self.equals is not None and (self.min is not None or self.max is not None):
            raise ValueError(f"test '{self.id}': use either equals or min/max, not both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"test '{self.id}': min is above max")
        return self


class TestPlanIn(Input):
    """A new version of a product's functional test plan."""

    __test__ = False
    version: int = Field(ge=1, le=1_000_000)
    tests: list[PlanTest] = Field(min_length=1, max_length=200)

    @field_validator("tests")
    @classmethod
    def _unique_ids(cls, tests: list[PlanTest]) -> list[PlanTest]:
        seen: set[str] = set()
        for test in tests:
            if test.id in seen:
                raise ValueError(f"test id '{test.id}' appears twice")
            seen.add(test.id)
        return tests


class TestPlanOut(Output):
    """A test plan version."""

    __test__ = False
    sku: str
    version: int
    tests: list[PlanTest]
    current: bool


ChecklistItem = Annotated[
    str,
    StringConstraints(min_length=1, max_length=80, strip_whitespace=True),
    Field(description="As the technician reads it on the station page, e.g. USB-C cable"),
]
Criterion = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
MAX_CHECKLIST_ITEMS = 30
MAX_PHOTOS_REQUIRED = 10


def _once_each(items: list[str], what: str) -> list[str]:
    """Refuse a name given twice (ignoring case): the station would show two boxes for it."""
    seen: set[str] = set()
    for item in items:
        if item.casefold() in seen:
            raise ValueError(f"{what} '{item}' appears twice")
        seen.add(item.casefold())
    return items


class InspectionChecklistIn(Input):
    """A new version of a product's inspection checklist (each PUT publishes the next version)."""

    accessories: list[ChecklistItem] = Field(
        default_factory=list,
        max_length=MAX_CHECKLIST_ITEMS,
        description="Accessories by name that belong in the box; the inspection ticks those "
        "present and the server decides whether the set is complete",
    )
    cosmetic_points: list[ChecklistItem] = Field(
        default_factory=list,
        max_length=MAX_CHECKLIST_ITEMS,
        description="Places to look at for cosmetic damage, e.g. display, hinge",
    )
    packaging_check: StrictBool = Field(
        True, description="Whether the inspection records the packaging (sealed/opened/damaged)"
    )
    battery_check: StrictBool | None = Field(
        None,
        description="Whether the inspection records the battery (default: the product has one)",
    )
    photos_required: int = Field(
        0,
        ge=0,
        le=MAX_PHOTOS_REQUIRED,
        description="Photos of the unit to upload before it may be inspected",
    )
    cosmetic_criteria: dict[Cosmetic, Criterion] = Field(
        default_factory=dict,
        description="This product's wording of what a cosmetic grade means; grades left out "
        "keep the default wording",
    )

    @field_validator("accessories")
    @classmethod
    def _accessories_once(cls, items: list[str]) -> list[str]:
        return _once_each(items, "accessory")

    @field_validator("cosmetic_points")
    @classmethod
    def _points_once(cls, items: list[str]) -> list[str]:
        return _once_each(items, "cosmetic point")


class InspectionChecklistOut(Output):
    """A product's current inspection checklist; `version` null: the default checklist."""

    sku: str
    version: int | None
    accessories: list[str]
    cosmetic_points: list[str]
    packaging_check: bool
    battery_check: bool
    photos_required: int
    cosmetic_criteria: dict[Cosmetic, str] = Field(
        description="What each grade means for this product (its own wording, else the default)"
    )
    created_by: str | None = None
    created_at: datetime | None = None


RigCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,39}$", strip_whitespace=True, to_upper=True),
    ToUpper,
]
CertificateRef = Annotated[
    str, StringConstraints(min_length=1, max_length=80, strip_whitespace=True)
]


class TestRigIn(Input):
    """A new test rig at a site."""

    __test__ = False
    code: RigCode
    name: Name
    kind: Label = Field(description="What the rig is, e.g. audio bench, RF enclosure")
    active: bool = True


class TestRigPatch(Input):
    """Fields to change on a rig; its code and site never change."""

    __test__ = False
    name: Name | None = None
    kind: Label | None = None
    active: bool | None = None


class CalibrationIn(Input):
    """A calibration of a rig, from its calibration certificate."""

    calibrated_on: date
    due_on: date
    certificate_ref: CertificateRef = Field(description="The calibration certificate's reference")

    @field_validator("due_on")
    @classmethod
    def _due_after_calibration(cls, due_on: date, info: ValidationInfo) -> date:
        calibrated_on = info.data.get("calibrated_on")
        if calibrated_on is not None and due_on <= calibrated_on:
            raise ValueError(f"due_on must be after calibrated_on ({calibrated_on.isoformat()})")
        return due_on


class CalibrationOut(Output):
    """A calibration record."""

    id: int
    calibrated_on: date
    due_on: date
    certificate_ref: str
    recorded_by: str


class TestRigOut(Output):
    """A rig, whether it may be tested on today (`status`, `refusal`) and its newest
    calibration; `calibrations` (newest first) only when one rig is asked for."""

    __test__ = False
    site: str
    code: str
    name: str
    kind: str
    active: bool
    status: str = Field(description="calibrated, due, uncalibrated or inactive")
    refusal: str | None = Field(description="Why a test on the rig is refused today, if it is")
    calibration: CalibrationOut | None
    calibrations: list[CalibrationOut] | None = None
