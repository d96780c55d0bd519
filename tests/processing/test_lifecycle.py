"""The lifecycle table, checked for every position × every step against DESIGN.md's table."""

from __future__ import annotations

import itertools

import pytest

from backhaul.processing import lifecycle
from backhaul.processing.lifecycle import NEW, Outcome, Route, Step, check, target
from backhaul.processing.states import State

# Written out by hand from DESIGN.md, independently of the code's table.
ALLOWED: dict[str, set[str]] = {
    "sell": {NEW},
    "authorize": {"in_field"},
    "ship": {"return_authorized", "in_transit"},
    "receive": {"return_authorized", "in_transit", "in_repair", "in_field"},
    "inspect": {"received"},
    "sanitize": {"inspected", "inspection_failed", "quarantined"},
    "flash": {"sanitized+inspection_passed", "firmware_failed"},
    "test": {"firmware_validated", "test_failed"},
    "grade": {"tested"},
    "disposition": {
        "graded",
        "test_failed",
        "firmware_failed",
        "sanitized+inspection_failed",
        "quarantined",
    },
    "repackage": {"dispositioned:restock"},
    "send_to_repair": {"dispositioned:repair"},
    "return_from_repair": {"in_repair"},
    "harvest": {"dispositioned:harvest"},
    "recycle": {"dispositioned:recycle"},
    "write_off": {"dispositioned:write_off"},
    "ship_to_customer": {"dispositioned:return_to_customer"},
}
INSPECTIONS = {None: "", True: "+inspection_passed", False: "+inspection_failed"}


@pytest.mark.parametrize(
    ("step", "at", "inspection"),
    list(itertools.product(list(Step), lifecycle.all_positions(), list(INSPECTIONS))),
)
def test_every_step_from_every_position(step: Step, at: str, inspection: bool | None) -> None:
    expected = ALLOWED[step.value]
    allowed = at in expected or f"{at}{INSPECTIONS[inspection]}" in expected
    verdict = check(step, at, inspection)
    assert verdict.allowed is allowed
    if not allowed:
        assert step.value in verdict.reason and at in verdict.reason


def test_positions_cover_every_state_and_route() -> None:
    positions = set(lifecycle.all_positions())
    assert {s.value for s in State} - {"dispositioned"} <= positions
    assert {f"dispositioned:{r}" for r in Route if r is not Route.quarantine} <= positions


@pytest.mark.parametrize(
    ("step", "outcome", "expected"),
    [
        (Step.inspect, Outcome.passed, State.inspected),
        (Step.inspect, Outcome.failed, State.inspection_failed),
        (Step.inspect, Outcome.hazard, State.quarantined),
        (Step.sanitize, Outcome.failed, State.quarantined),
        (Step.flash, Outcome.failed, State.firmware_failed),
        (Step.test, Outcome.failed, State.test_failed),
        (Step.repackage, Outcome.passed, State.available),
        (Step.return_from_repair, Outcome.passed, State.received),
    ],
)
def test_targets(step: Step, outcome: Outcome, expected: State) -> None:
    assert target(step, outcome) is expected


def test_a_quarantine_route_leads_back_to_quarantined_and_others_to_dispositioned() -> None:
    assert target(Step.disposition, Outcome.passed, Route.quarantine) is State.quarantined
    assert target(Step.disposition, Outcome.passed, Route.restock) is State.dispositioned
    with pytest.raises(ValueError, match="route"):
        target(Step.disposition, Outcome.passed)


def test_steps_without_failure_have_no_fail_target() -> None:
    with pytest.raises(ValueError, match="no failure outcome"):
        target(Step.grade, Outcome.failed)


def test_the_docs_table_is_generated_from_the_code() -> None:
    from pathlib import Path

    doc = Path(__file__).parents[2] / "docs" / "lifecycle.md"
    assert lifecycle.render_markdown() in doc.read_text(), "run `make docs` to regenerate"
