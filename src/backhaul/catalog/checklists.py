"""Pure rule: a product's inspection checklist (or the default one), and what a unit's answers
to it mean: which named accessories are missing, and which answers name nothing on the list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from backhaul.processing.grading import COSMETIC_CRITERIA, Cosmetic


@dataclass(frozen=True, slots=True)
class Checklist:
    """What an inspection checks for one product. `version` None: the default checklist (the
    product has none of its own)."""

    version: int | None
    accessories: tuple[str, ...] = ()
    cosmetic_points: tuple[str, ...] = ()
    packaging_check: bool = True
    battery_check: bool = True
    photos_required: int = 0
    # Per-grade wording that replaces the default criteria for this product (A–D scale stays).
    cosmetic_criteria: Mapping[str, str] = field(default_factory=dict)

    def criteria(self) -> dict[Cosmetic, str]:
        """What each cosmetic grade means for this product: its own wording, else the default."""
        return {
            grade: self.cosmetic_criteria.get(grade.value, default)
            for grade, default in COSMETIC_CRITERIA.items()
        }

    def name(self, sku: str) -> str:
        """How messages and pages name it: which product's, which version, or the default."""
        if self.version is None:
            return f"the default inspection checklist ({sku} has none of its own)"
        return f"{sku}'s inspection checklist (version {self.version})"

    def photos(self) -> str:
        """The photos it asks for, as messages and pages say it: "1 photo", "3 photos"."""
        count = self.photos_required
        return f"{count} photo{'' if count == 1 else 's'}"

    def evidence(self) -> dict[str, object]:
        """The checklist as a step records it: the version inspected against and what it asked."""
        return {
            "version": self.version,
            "accessories": list(self.accessories),
            "cosmetic_points": list(self.cosmetic_points),
            "photos_required": self.photos_required,
        }


def default_checklist(has_battery: bool) -> Checklist:
    """The checklist of a product without one: no named accessories or cosmetic points, no
    photos required, the default grade criteria; the battery is checked when there is one."""
    return Checklist(version=None, battery_check=has_battery)


@dataclass(frozen=True, slots=True)
class Answers:
    """What an inspection's checklist answers mean."""

    accessories_missing: tuple[str, ...]
    unknown_accessories: tuple[str, ...]
    unknown_findings: tuple[str, ...]

    @property
    def accessories_complete(self) -> bool:
        """Every accessory the checklist names was found (the server's judgement)."""
        return not self.accessories_missing


def judge(
    checklist: Checklist, accessories_present: Sequence[str], cosmetic_findings: Sequence[str]
) -> Answers:
    """Compare the answers with the checklist; names match exactly as the checklist spells them."""
    present = set(accessories_present)
    listed_points = set(checklist.cosmetic_points)
    return Answers(
        accessories_missing=tuple(a for a in checklist.accessories if a not in present),
        unknown_accessories=tuple(a for a in accessories_present if a not in checklist.accessories),
        unknown_findings=tuple(f for f in cosmetic_findings if f not in listed_points),
    )


def photos_missing(checklist: Checklist, photos_uploaded: int) -> int:
    """How many more photos the inspection needs before it may be recorded."""
    return max(0, checklist.photos_required - photos_uploaded)
