"""The pure rules behind the console: which step a unit waits for, how its wait compares with
its site's target, how `--wait-target` assignments read, and which failed steps a supervisor
may override (never one that guards an invariant)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backhaul.catalog.schemas import SitePatch
from backhaul.processing import lifecycle, wait_targets
from backhaul.processing.lifecycle import Outcome, Step
from backhaul.processing.wait_targets import WaitTargets

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "inspection_passed", "step"),
    [
        ("received", None, Step.inspect),
        ("inspection_failed", False, Step.sanitize),
        ("sanitized", True, Step.flash),
        ("sanitized", False, Step.disposition),  # a failed inspection goes to a route
        ("firmware_failed", True, Step.flash),  # a retry first
        ("test_failed", True, Step.disposition),  # routed before anyone retests
        ("graded", True, Step.disposition),
        ("dispositioned:restock", True, Step.repackage),
        ("dispositioned:write_off", True, Step.write_off),
        ("available", True, None),
    ],
)
def test_a_unit_waits_for_the_step_the_station_offers_first(
    at: str, inspection_passed: bool | None, step: Step | None
) -> None:
    assert lifecycle.waits_for(at, inspection_passed) == step


def test_every_position_in_the_house_waits_for_some_step() -> None:
    for at in wait_targets.in_house_positions():
        assert lifecycle.next_steps(at, True) or lifecycle.next_steps(at, False), at
    assert Step.sell not in wait_targets.WAITING_STEPS
    assert Step.receive not in wait_targets.WAITING_STEPS  # a unit at the dock is not in yet


def test_a_step_target_beats_the_default_and_the_overage_is_measured_from_the_target() -> None:
    targets = WaitTargets(24, {"inspect": 4})
    inspect = wait_targets.assess(targets, "received", None, NOW - timedelta(hours=5), NOW)
    assert (inspect.step, inspect.target_hours, inspect.is_over) == (Step.inspect, 4, True)
    assert inspect.over == timedelta(hours=1)
    grade = wait_targets.assess(targets, "tested", True, NOW - timedelta(hours=5), NOW)
    assert (grade.step, grade.target_hours, grade.is_over) == (Step.grade, 24, False)
    assert targets.shortest_hours == 4


@given(
    default=st.floats(min_value=0.25, max_value=500),
    step_hours=st.dictionaries(
        st.sampled_from(sorted(s.value for s in wait_targets.WAITING_STEPS)),
        st.floats(min_value=0.25, max_value=500),
        max_size=5,
    ),
    waited=st.floats(min_value=0, max_value=1000),
    at=st.sampled_from(wait_targets.in_house_positions()),
)
def test_no_unit_is_over_target_before_its_sites_tightest_target(
    default: float, step_hours: dict[str, float], waited: float, at: str
) -> None:
    """The database pre-filter (waited longer than the tightest target) never hides a unit."""
    targets = WaitTargets(default, step_hours)
    wait = wait_targets.assess(targets, at, True, NOW - timedelta(hours=waited), NOW)
    if wait.is_over:
        assert waited > targets.shortest_hours


def test_wait_target_assignments_read_like_an_operator_writes_them() -> None:
    default, steps = wait_targets.apply_assignments(
        24, {"test": 8, "grade": 2}, ["12", "inspect=4h", "grade=default"]
    )
    assert default == 12 and steps == {"test": 8, "inspect": 4}
    with pytest.raises(ValueError, match="STEP=HOURS"):
        wait_targets.apply_assignments(24, {}, ["inspect=soon"])


def test_a_site_patch_names_a_bad_step_or_a_bad_number() -> None:
    with pytest.raises(ValueError, match="'sell' is not a step a unit waits for"):
        SitePatch.model_validate({"step_wait_targets": {"sell": 4}})
    with pytest.raises(ValueError, match="greater than 0"):
        SitePatch.model_validate({"wait_target_hours": 0})
    with pytest.raises(ValueError, match="greater than 0"):
        SitePatch.model_validate({"step_wait_targets": {"inspect": -1}})


# --- which failed steps may be overridden ---------------------------------------------------


def test_a_failed_inspect_or_test_may_be_overridden_while_it_is_the_latest_step() -> None:
    assert lifecycle.check_override(Step.test, "test_failed", ("test", "fail")).allowed
    assert lifecycle.check_override(Step.inspect, "inspection_failed", ("inspect", "fail")).allowed
    assert lifecycle.target(Step.test, Outcome.passed).value == "tested"


@pytest.mark.parametrize(
    ("step", "at", "latest", "why"),
    [
        (Step.sanitize, "quarantined", ("sanitize", "fail"), "invariant 2"),
        (Step.flash, "firmware_failed", ("flash", "fail"), "invariant 1"),
        (Step.inspect, "quarantined", ("inspect", "hazard"), "invariant 9"),
        (Step.test, "dispositioned:repair", ("disposition", "pass"), "latest step"),
        (Step.inspect, "sanitized", ("sanitize", "pass"), "latest step"),
        (Step.grade, "graded", ("grade", "pass"), "only 'inspect' or 'test'"),
    ],
)
def test_overrides_that_would_break_an_invariant_or_come_late_are_refused_with_why(
    step: Step, at: str, latest: tuple[str, str], why: str
) -> None:
    verdict = lifecycle.check_override(step, at, latest)
    assert not verdict.allowed
    assert why in verdict.reason


def test_only_positions_in_the_table_are_ever_allowed() -> None:
    """Exhaustively: an override is allowed only from the step's own failure position."""
    for step in Step:
        for at in lifecycle.all_positions():
            for outcome in Outcome:
                verdict = lifecycle.check_override(step, at, (step.value, outcome.value))
                if verdict.allowed:
                    assert step in lifecycle.OVERRIDABLE_FAILURES
                    assert outcome is Outcome.failed
                    assert at == lifecycle.BY_STEP[step].on_fail
