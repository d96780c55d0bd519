"""Pure rules over a unit's step records since its latest receipt: what has been established,
and what is still missing before it may be sold (invariant 1) or leave custody (invariant 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PASS = "pass"


@dataclass(frozen=True, slots=True)
class StepFact:
    """The part of a step record the rules look at."""

    step: str
    outcome: str
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Facts:
    """What the steps since the latest receipt have established."""

    inspection_passed: bool | None = None
    packaging: str | None = None
    accessories_missing: tuple[str, ...] = ()
    wiped: bool = False
    flash_attempts: int = 0
    test_attempts: int = 0


def hold_reason(step: str, evidence: dict[str, Any], hazard: str | None) -> str:
    """Why a unit is held in quarantine, from the step that put it there: its battery hazard,
    or the failures that step recorded (a still-bound account says what the cloud answered)."""
    reasons = [f"battery hazard: {hazard.removeprefix('battery_')}"] if hazard else []
    reasons += [
        str(failure["reason"])
        for failure in evidence.get("failures") or ()
        if isinstance(failure, dict) and failure.get("reason")
    ]
    return "; ".join(reasons) or f"{step} did not pass"


def since_latest_receipt(steps: list[StepFact]) -> list[StepFact]:
    """The records after the latest `receive` (the whole list if there is none)."""
    for index in range(len(steps) - 1, -1, -1):
        if steps[index].step == "receive":
            return steps[index + 1 :]
    return steps


def _latest(steps: list[StepFact], name: str) -> tuple[int, StepFact] | None:
    for index in range(len(steps) - 1, -1, -1):
        if steps[index].step == name:
            return index, steps[index]
    return None


def is_wipe(fact: StepFact) -> bool:
    """A sanitize pass (clear or purge) or a destroy record."""
    return fact.step == "sanitize" and fact.outcome == PASS


def facts(steps: list[StepFact]) -> Facts:
    """Summarise the records since the latest receipt."""
    current = since_latest_receipt(steps)
    inspection = _latest(current, "inspect")
    sanitize = _latest(current, "sanitize")
    return Facts(
        inspection_passed=None if inspection is None else inspection[1].outcome == PASS,
        packaging=None if inspection is None else inspection[1].evidence.get("packaging"),
        accessories_missing=(
            ()
            if inspection is None
            else tuple(inspection[1].evidence.get("accessories_missing", ()))
        ),
        wiped=sanitize is not None and is_wipe(sanitize[1]),
        flash_attempts=sum(1 for f in current if f.step == "flash"),
        test_attempts=sum(1 for f in current if f.step == "test"),
    )


def missing_for_sale(
    steps: list[StepFact],
    current_release: str | None,
    current_sha256: str | None,
    current_plan: int | None,
) -> str | None:
    """Why the unit may not become `available`, or None when the full chain is there.

    After the latest receipt, in this order: a passed inspection, a sanitize pass with a
    certificate, a flash to the current release with a matching read-back hash, a passed test
    against the current plan, a grade, and a restock disposition.
    """
    current = since_latest_receipt(steps)
    requirements: list[tuple[str, str]] = [
        ("inspect", "a passed inspection"),
        ("sanitize", "a passed sanitization with a certificate"),
        ("flash", f"a flash to the current release ({current_release or 'none is current'})"),
        ("test", f"a passed test against the current plan (version {current_plan})"),
        ("grade", "a grade"),
        ("disposition", "a restock disposition"),
    ]
    previous_index = -1
    for name, description in requirements:
        found = _latest(current, name)
        if found is None:
            return f"missing {description}"
        index, fact = found
        ok = fact.outcome == PASS
        if name == "sanitize":
            ok = ok and bool(fact.evidence.get("certificate_id"))
        elif name == "flash":
            ok = (
                ok
                and current_release is not None
                and fact.evidence.get("release") == current_release
                and fact.evidence.get("readback_sha256") == current_sha256
            )
        elif name == "test":
            ok = ok and current_plan is not None and fact.evidence.get("plan") == current_plan
        elif name == "disposition":
            ok = fact.evidence.get("route") == "restock"
        if not ok:
            return f"missing {description}: the latest {name} does not qualify"
        if index <= previous_index:
            return f"{description} happened out of order"
        previous_index = index
    return None
