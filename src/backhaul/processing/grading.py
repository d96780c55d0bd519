"""Pure rule: the condition a graded unit is sold in, and whether it may be sold as new."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Cosmetic(enum.StrEnum):
    """Cosmetic grade, A (as new) to D (heavy wear)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class Functional(enum.StrEnum):
    """Functional grade."""

    passed = "pass"
    failed = "fail"


NEW = "new"
# What each cosmetic grade means at the bench (the station form and the SOP show these).
COSMETIC_CRITERIA: dict[Cosmetic, str] = {
    Cosmetic.A: "as new, no marks at arm's length",
    Cosmetic.B: "light marks, none on the display",
    Cosmetic.C: "visible wear, nothing broken",
    Cosmetic.D: "heavy wear or a crack",
}


@dataclass(frozen=True, slots=True)
class GradeResult:
    """The condition, the SKU on the label, and why it may (not) be sold as new."""

    condition: str
    condition_sku: str
    may_sell_as_new: bool
    why: str


def condition_sku(sku: str, condition: str) -> str:
    """The SKU on the label: the product SKU for new stock, `SKU-RF-<grade>` for refurbished."""
    return sku if condition == NEW else f"{sku}-{condition}"


def grade(
    sku: str,
    cosmetic: Cosmetic,
    functional: Functional,
    packaging: str | None,
    ever_activated: bool,
    accessories_missing: tuple[str, ...] = (),
) -> GradeResult:
    """Refurbished is never sold as new: new needs a sealed package, every accessory of the
    product's checklist in it, and no account binding ever."""
    reasons = []
    if packaging != "sealed":
        reasons.append(f"packaging was {packaging or 'not inspected'}, not sealed")
    if accessories_missing:
        reasons.append("accessories missing: " + ", ".join(accessories_missing))
    if ever_activated:
        reasons.append("an account binding was recorded (the unit was activated)")
    if functional is not Functional.passed:
        reasons.append("functional grade is fail")
    if cosmetic is not Cosmetic.A:
        reasons.append(f"cosmetic grade is {cosmetic.value}, not A")
    as_new = not reasons
    condition = NEW if as_new else f"RF-{cosmetic.value}"
    why = (
        "sealed package with every accessory, never activated, passed every test"
        if as_new
        else "refurbished: " + "; ".join(reasons)
    )
    return GradeResult(condition, condition_sku(sku, condition), as_new, why)
