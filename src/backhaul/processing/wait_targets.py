"""Wait targets: how long a unit may wait at a site for its next step before a supervisor is
told. A site sets a default and, optionally, a target per step. Pure; no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from backhaul.processing import lifecycle
from backhaul.processing.lifecycle import Route, Step
from backhaul.processing.states import State

DEFAULT_HOURS = 24.0
MAX_HOURS = 8760.0  # a year: anything longer is not a target

# States of a unit inside one of our sites (not in the field, in transit or at a partner).
IN_HOUSE = (
    State.received,
    State.inspected,
    State.inspection_failed,
    State.quarantined,
    State.sanitized,
    State.firmware_validated,
    State.firmware_failed,
    State.tested,
    State.test_failed,
    State.graded,
    State.dispositioned,
)


def in_house_positions() -> list[str]:
    """Every position a unit can hold inside a site (a dispositioned unit with its route)."""
    positions = [s.value for s in IN_HOUSE if s is not State.dispositioned]
    return positions + [lifecycle.dispositioned(r) for r in Route if r not in lifecycle.ROUTE_STATE]


def _waiting_steps() -> frozenset[Step]:
    steps: set[Step] = set()
    for at in in_house_positions():
        for inspection_passed in (True, False, None):
            step = lifecycle.waits_for(at, inspection_passed)
            if step is not None:
                steps.add(step)
    return frozenset(steps)


# The steps a unit can wait for inside a site: a site may set a target for each of these.
WAITING_STEPS = _waiting_steps()


def check_step_targets(targets: Mapping[str, float]) -> Mapping[str, float]:
    """Refuse a per-step target for a step no unit waits for at a site (e.g. `sell`)."""
    for name in targets:
        if name not in {s.value for s in WAITING_STEPS}:
            known = ", ".join(sorted(s.value for s in WAITING_STEPS))
            raise ValueError(
                f"'{name}' is not a step a unit waits for at a site; use one of {known}"
            )
    return targets


@dataclass(frozen=True, slots=True)
class WaitTargets:
    """A site's targets in hours: a default, and per step where the site sets one."""

    default_hours: float = DEFAULT_HOURS
    step_hours: Mapping[str, float] | None = None

    def hours_for(self, step: Step | None) -> float:
        """The target for a unit waiting for `step` (the default when the step has none)."""
        if step is None or not self.step_hours:
            return self.default_hours
        return float(self.step_hours.get(step.value, self.default_hours))

    @property
    def shortest_hours(self) -> float:
        """The tightest target: no unit at the site is over target before waiting this long."""
        return min([self.default_hours, *(float(h) for h in (self.step_hours or {}).values())])


@dataclass(frozen=True, slots=True)
class Wait:
    """How a unit's wait compares with its site's target for the step it waits for."""

    step: Step | None
    target_hours: float
    waited: timedelta
    over: timedelta

    @property
    def is_over(self) -> bool:
        """Whether the unit has waited longer than its target."""
        return self.over > timedelta(0)


def assess(
    targets: WaitTargets,
    at: str,
    inspection_passed: bool | None,
    since: datetime,
    now: datetime,
) -> Wait:
    """Judge one unit's wait at position `at` since `since` (its latest step) at time `now`."""
    step = lifecycle.waits_for(at, inspection_passed)
    hours = targets.hours_for(step)
    waited = now - since
    return Wait(step, hours, waited, waited - timedelta(hours=hours))


def hours(value: timedelta) -> float:
    """A duration in hours, to the hundredth."""
    return round(value.total_seconds() / 3600, 2)


def apply_assignments(
    default_hours: float, step_hours: Mapping[str, float], assignments: list[str]
) -> tuple[float, dict[str, float]]:
    """Apply `--wait-target` assignments to a site's targets: `HOURS` sets the default,
    `STEP=HOURS` a step's target, `STEP=default` drops a step's own target. The values are
    checked later, with the site's other fields; a malformed assignment is a ValueError."""
    steps = dict(step_hours)
    for item in assignments:
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep:
            default_hours = _number(name, item)
        elif not name:
            raise ValueError(f"'{item}': name the step before '='")
        elif value.lower() == "default":
            steps.pop(name, None)
        else:
            steps[name] = _number(value, item)
    return default_hours, steps


def _number(text: str, item: str) -> float:
    try:
        return float(text.lower().removesuffix("h"))
    except ValueError:
        raise ValueError(
            f"'{item}' is not HOURS, STEP=HOURS or STEP=default (e.g. 24, inspect=4)"
        ) from None
