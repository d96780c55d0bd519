"""Return policies as data: one versioned TOML file per region, with per-product sections.

The packaged defaults (data/policies/*.toml) reflect each region's usual consumer rules; an
admin replaces one by publishing a new version (CLI or API), kept in the database, or by
pointing BACKHAUL_RETURNS_CONFIG_DIR at a folder of files. Every decision cites
`policy_version` (`<region>/<version>`).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from backhaul.returns.config import load_model

DATA = Path(__file__).parent / "data" / "policies"
Resolution = Literal["refund", "exchange", "repair", "replace", "advance_replacement"]
RESOLUTIONS: tuple[Resolution, ...] = (
    "refund",
    "exchange",
    "repair",
    "replace",
    "advance_replacement",
)
RegulatedClass = Literal["health", "biometric", "children"]
Language = Literal["en", "de", "fr", "es", "ja"]
Capability = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$")]
ReasonPattern = Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_]+)?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProductRules(_Strict):
    """What a product adds to (or changes in) its region's rules."""

    manufacturer_warranty_months: int | None = Field(None, ge=0, le=240)
    after_window_reasons: list[ReasonPattern] | None = None
    capabilities: list[Capability] = Field(default_factory=list)
    setup_help_url: Annotated[str, StringConstraints(max_length=300)] | None = None


class Sla(_Strict):
    """Targets for the four clocks of a case."""

    label_hours: float = Field(1, gt=0, le=24 * 30)
    in_transit_days: float = Field(7, gt=0, le=365)
    receive_days: float = Field(2, gt=0, le=365)
    resolve_days: float = Field(5, gt=0, le=365)


class Policy(_Strict):
    """One region's return rules, as a file states them."""

    region: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,3}$")]
    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.\-]{0,19}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    languages: list[Language] = Field(min_length=1)
    return_window_days: int = Field(ge=0, le=365)
    delivery_days: int = Field(ge=0, le=60, description="sale to assumed delivery")
    legal_warranty_months: int = Field(ge=0, le=240)
    legal_warranty_note: Annotated[str, StringConstraints(max_length=300)] = ""
    restocking_fee_percent: float = Field(0, ge=0, le=50)
    restocking_fee_reasons: list[ReasonPattern] = Field(default_factory=list)
    advance_replacement: bool = False
    transit_damage_report_days: int = Field(7, ge=0, le=365)
    hygiene_sealed_only: list[RegulatedClass] = Field(default_factory=list)
    window_resolutions: list[Resolution] = Field(min_length=1)
    warranty_resolutions: list[Resolution] = Field(min_length=1)
    pickup: bool = False
    ground_regions: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,3}$")]] = Field(
        default_factory=list
    )
    customs_union: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,3}$")]] = Field(
        default_factory=list
    )
    sla: Sla = Field(default_factory=Sla)
    products: dict[str, ProductRules] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA time zone '{value}'") from error
        return value

    @field_validator("region")
    @classmethod
    def _expected_region(cls, value: str, info: ValidationInfo) -> str:
        expected = (info.context or {}).get("region")
        if expected and value != expected:
            raise ValueError(f"the file is for region {value}, expected {expected}")
        return value

    @field_validator("products")
    @classmethod
    def _needs_default(cls, value: dict[str, ProductRules]) -> dict[str, ProductRules]:
        if "default" not in value:
            raise ValueError("needs a [products.default] section")
        if value["default"].after_window_reasons is None:
            raise ValueError("[products.default] needs after_window_reasons")
        return value

    @property
    def policy_version(self) -> str:
        """What decisions cite: `<region>/<version>`."""
        return f"{self.region}/{self.version}"

    def product(self, sku: str) -> ProductRules:
        """The product's rules, falling back field by field to `[products.default]`."""
        default = self.products["default"]
        own = self.products.get(sku)
        if own is None:
            return default
        return ProductRules(
            manufacturer_warranty_months=own.manufacturer_warranty_months
            if own.manufacturer_warranty_months is not None
            else default.manufacturer_warranty_months,
            after_window_reasons=own.after_window_reasons
            if own.after_window_reasons is not None
            else default.after_window_reasons,
            capabilities=[*default.capabilities, *own.capabilities],
            setup_help_url=own.setup_help_url or default.setup_help_url,
        )


def parse(text: str, source: str, region: str | None = None) -> Policy:
    """A policy from TOML text; ConfigError names the file, line and field of a mistake."""
    return load_model(Policy, text, source, **({"region": region} if region else {}))


def digest(text: str) -> str:
    """The SHA-256 of a policy file's text (kept with every published version)."""
    return hashlib.sha256(text.encode()).hexdigest()


def packaged_sources() -> dict[str, tuple[str, str]]:
    """Region -> (source name, TOML text) of the default policies (or the config dir's)."""
    from backhaul.settings import get_settings

    sources: dict[str, tuple[str, str]] = {}
    folders = [DATA]
    configured = get_settings().returns_config_dir
    if configured is not None:
        folders.append(
            configured / "policies" if (configured / "policies").is_dir() else configured
        )
    for folder in folders:
        for path in sorted(folder.glob("*.toml")):
            if path.stem.upper() == path.stem.upper() and path.name != "reasons.toml":
                sources[path.stem.upper()] = (str(path), path.read_text(encoding="utf-8"))
    return sources


@lru_cache(maxsize=64)
def parse_cached(text: str, source: str) -> Policy:
    """parse(), remembered by text (policies change rarely and are read on every request)."""
    return parse(text, source)
