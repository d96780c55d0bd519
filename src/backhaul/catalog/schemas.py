"""Catalog input and output shapes, with the checks that name the bad field."""

from __future__ import annotations

import re
import zoneinfo
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from backhaul.catalog.models import Battery, Regulated, SiteKind
from backhaul.kit.money import Currency, Money
from backhaul.kit.schemas import Input, Output

Code = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", strip_whitespace=True, to_lower=True),
]
Sku = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,39}$", strip_whitespace=True, to_upper=True),
]
SiteCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,19}$", strip_whitespace=True, to_upper=True),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Region = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{2,3}$", strip_whitespace=True, to_upper=True)
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


SerialPattern = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_compiles)
]
TimeZone = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_timezone)
]


class BrandIn(Input):
    """A new brand."""

    code: Code
    name: Name


class BrandOut(Output):
    """A brand."""

    code: str
    name: str


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


class SitePatch(Input):
    """Fields to change on a site; the code never changes."""

    name: Name | None = None
    region: Region | None = None
    timezone: TimeZone | None = None
    kind: SiteKind | None = None
    capabilities: list[Capability] | None = Field(None, max_length=100)
    labour_rate: Money | None = None
    currency: Currency | None = None


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
    version: int
