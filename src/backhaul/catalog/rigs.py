"""Pure rule: may a test rig be used today, given its newest calibration?"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date


class RigStatus(enum.StrEnum):
    """Where a rig stands for testing; only `calibrated` rigs may be tested on."""

    calibrated = "calibrated"
    due = "due"
    uncalibrated = "uncalibrated"
    inactive = "inactive"


@dataclass(frozen=True)
class Calibration:
    """The facts of a calibration record the rule needs."""

    calibrated_on: date
    due_on: date
    certificate_ref: str


@dataclass(frozen=True)
class RigVerdict:
    """The rig's status and, when it may not be used, why (in words a technician acts on)."""

    status: RigStatus
    refusal: str | None = None

    @property
    def usable(self) -> bool:
        """Whether a test may be run on the rig."""
        return self.refusal is None


def verdict(code: str, active: bool, latest: Calibration | None, today: date) -> RigVerdict:
    """Judge a rig on `today` (the site's local date): a calibration is due on its due date."""
    if not active:
        return RigVerdict(
            RigStatus.inactive, f"rig {code} is not in service; use another rig or reactivate it"
        )
    if latest is None:
        return RigVerdict(
            RigStatus.uncalibrated,
            f"rig {code} has no calibration record; calibrate it before testing",
        )
    if latest.due_on <= today:
        tense = "is" if latest.due_on == today else "was"
        return RigVerdict(
            RigStatus.due,
            f"calibration of {code} {tense} due on {latest.due_on.isoformat()} "
            f"(certificate {latest.certificate_ref}); recalibrate it before testing",
        )
    return RigVerdict(RigStatus.calibrated)
