"""The fault-code taxonomy (configuration): hierarchical codes, "no fault found" as an explicit
outcome, and each fault's default repair estimate. Pure data and checks, no I/O but the load."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from backhaul.kit.errors import ValidationFailed
from backhaul.returns.config import load_model

SOURCE = "processing/data/faults.toml"
Code = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,12}(\.[A-Z0-9]{2,12}){0,4}$")]


class _FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    hazard: bool = False
    repairable: bool = True
    parts: Decimal | None = Field(None, ge=0, le=100_000)
    minutes: int | None = Field(None, ge=0, le=10_000)


class _TaxonomyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    no_fault_found: Code
    codes: dict[Code, _FaultIn]

    @model_validator(mode="after")
    def _known_nff(self) -> _TaxonomyIn:
        if self.no_fault_found not in self.codes:
            raise ValueError(f"no_fault_found names '{self.no_fault_found}', which is not a code")
        return self


@dataclass(frozen=True, slots=True)
class Fault:
    """One code of the taxonomy."""

    code: str
    name: str
    parent: str | None
    hazard: bool
    repairable: bool
    parts: Decimal | None
    minutes: int | None


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """Every fault code, by code, and which one means "no fault found"."""

    version: int
    no_fault_found: str
    codes: dict[str, Fault]

    def check(self, codes: Iterable[str], field: str = "fault_codes") -> list[str]:
        """The codes as given when each is in the taxonomy, else ValidationFailed naming it."""
        given = list(codes)
        for index, code in enumerate(given):
            if code not in self.codes:
                raise ValidationFailed(
                    f"'{code}' is not a fault code (see GET /api/v1/fault-codes)",
                    field=f"{field}.{index}",
                )
        if self.no_fault_found in given and len(set(given)) > 1:
            raise ValidationFailed(
                f"'{self.no_fault_found}' (no fault found) cannot be combined with other codes",
                field=field,
            )
        return given

    def leaves(self) -> list[Fault]:
        """The codes a technician records (those no other code extends)."""
        parents = {fault.parent for fault in self.codes.values()}
        return [fault for fault in self.codes.values() if fault.code not in parents]


def parse(text: str, source: str = SOURCE) -> Taxonomy:
    """A taxonomy from TOML text; a mistake names its file, line and field."""
    model = load_model(_TaxonomyIn, text, source)
    codes = {
        code: Fault(
            code,
            entry.name,
            code.rsplit(".", 1)[0] if "." in code else None,
            entry.hazard,
            entry.repairable,
            entry.parts,
            entry.minutes,
        )
        for code, entry in sorted(model.codes.items())
    }
    return Taxonomy(model.version, model.no_fault_found, codes)


@cache
def taxonomy() -> Taxonomy:
    """The taxonomy shipped in the package."""
    text = resources.files("backhaul.processing").joinpath("data/faults.toml").read_text("utf-8")
    return parse(text)


def known(code: str) -> str:
    """Pydantic validator: the code must be in the shipped taxonomy."""
    if code not in taxonomy().codes:
        raise ValueError(f"'{code}' is not a fault code (see GET /api/v1/fault-codes)")
    return code
