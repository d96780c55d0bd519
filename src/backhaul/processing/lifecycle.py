"""The unit lifecycle as one declarative table: which step may run from which position, and
where it leads on pass, on fail and on a hazard. Pure data and pure functions; no I/O.

A *position* is a state, except that a dispositioned unit's position carries its route
(`dispositioned:restock`), because what may follow a disposition depends on the route.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from backhaul.processing.states import State


class Step(enum.StrEnum):
    """The named steps; a unit's state changes only through one of these."""

    sell = "sell"
    authorize = "authorize"
    ship = "ship"
    receive = "receive"
    inspect = "inspect"
    sanitize = "sanitize"
    flash = "flash"
    test = "test"
    grade = "grade"
    disposition = "disposition"
    repackage = "repackage"
    send_to_repair = "send_to_repair"
    return_from_repair = "return_from_repair"
    harvest = "harvest"
    recycle = "recycle"
    write_off = "write_off"
    ship_to_customer = "ship_to_customer"


class Route(enum.StrEnum):
    """Where a disposition sends a unit."""

    restock = "restock"
    repair = "repair"
    return_to_customer = "return_to_customer"
    harvest = "harvest"
    recycle = "recycle"
    write_off = "write_off"
    quarantine = "quarantine"


class Outcome(enum.StrEnum):
    """How a step ended, decided by the server from the evidence."""

    passed = "pass"
    failed = "fail"
    hazard = "hazard"


class Guard(enum.StrEnum):
    """Conditions on the unit's history that some sources add to a bare state."""

    inspection_passed = "after a passed inspection"
    inspection_failed = "after a failed inspection"


NEW = "—"  # the position of a serial that is not registered yet


@dataclass(frozen=True, slots=True)
class Source:
    """A position a step may start from, with an optional condition on the history."""

    position: str
    guard: Guard | None = None

    def __str__(self) -> str:
        return f"{self.position} ({self.guard.value})" if self.guard else self.position


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the lifecycle table."""

    step: Step
    sources: tuple[Source, ...]
    on_pass: State | None  # None: the route decides (disposition)
    on_fail: State | None = None
    on_hazard: State | None = None
    records: str = ""


def _src(*positions: str | State, guard: Guard | None = None) -> tuple[Source, ...]:
    return tuple(Source(str(p), guard) for p in positions)


def dispositioned(route: Route) -> str:
    """The position of a unit dispositioned to `route`."""
    return f"{State.dispositioned}:{route}"


S = State
TABLE: tuple[Transition, ...] = (
    Transition(
        Step.sell,
        _src(NEW),
        S.in_field,
        records="order ref, sold at, region, channel, price, warranty end",
    ),
    Transition(
        Step.authorize,
        _src(S.in_field),
        S.return_authorized,
        records="RMA, reason code, resolution wanted, eligibility decision and its rule",
    ),
    Transition(
        Step.ship,
        _src(S.return_authorized, S.in_transit),
        S.in_transit,
        records="carrier, tracking number, events",
    ),
    Transition(
        Step.receive,
        _src(S.return_authorized, S.in_transit, S.in_repair, S.in_field),
        S.received,
        records="site, dock time, packaging seen, unmatched flag (in_field: exception queue)",
    ),
    Transition(
        Step.inspect,
        _src(S.received),
        S.inspected,
        S.inspection_failed,
        S.quarantined,
        records="checklist version and answers, photos, packaging, accessories present (and "
        "whether complete, derived), battery, fault codes",
    ),
    Transition(
        Step.sanitize,
        _src(S.inspected, S.inspection_failed, S.quarantined),
        S.sanitized,
        S.quarantined,
        records="account deactivation, NIST SP 800-88 method, tool, verification, "
        "verifier; issues the certificate",
    ),
    Transition(
        Step.flash,
        _src(S.sanitized, guard=Guard.inspection_passed) + _src(S.firmware_failed),
        S.firmware_validated,
        S.firmware_failed,
        records="target release, image sha256, read-back version and hash, attempts",
    ),
    Transition(
        Step.test,
        _src(S.firmware_validated, S.test_failed),
        S.tested,
        S.test_failed,
        records="test plan and version, measurements with limits, station, rig and its "
        "calibration (certificate, due date), fault codes",
    ),
    Transition(
        Step.grade,
        _src(S.tested),
        S.graded,
        records="cosmetic grade, functional grade, may-sell-as-new and why",
    ),
    Transition(
        Step.disposition,
        _src(S.graded, S.test_failed, S.firmware_failed, S.quarantined)
        + _src(S.sanitized, guard=Guard.inspection_failed),
        None,
        records="route, the rule or person that chose it, expected value and cost",
    ),
    Transition(
        Step.repackage,
        _src(dispositioned(Route.restock)),
        S.available,
        records="condition SKU, label printed, box condition",
    ),
    Transition(
        Step.send_to_repair,
        _src(dispositioned(Route.repair)),
        S.in_repair,
        records="partner, turnaround due",
    ),
    Transition(
        Step.return_from_repair,
        _src(S.in_repair),
        S.received,
        records="parts used, cost; the unit goes through the steps again",
    ),
    Transition(
        Step.harvest,
        _src(dispositioned(Route.harvest)),
        S.harvested,
        records="parts taken into the parts pool, with the donor serial",
    ),
    Transition(
        Step.recycle, _src(dispositioned(Route.recycle)), S.recycled, records="recycler and weight"
    ),
    Transition(
        Step.write_off, _src(dispositioned(Route.write_off)), S.written_off, records="reason"
    ),
    Transition(
        Step.ship_to_customer,
        _src(dispositioned(Route.return_to_customer)),
        S.returned_to_customer,
        records="tracking",
    ),
)

BY_STEP: dict[Step, Transition] = {t.step: t for t in TABLE}
assert len(BY_STEP) == len(TABLE) == len(Step), "one row per step"

# Routes whose state after disposition is not `dispositioned:<route>`.
ROUTE_STATE: dict[Route, State] = {Route.quarantine: State.quarantined}
# Routes that hand the unit (or its storage) to somebody else: invariant 2 applies.
HANDOFF_ROUTES = frozenset(
    {Route.restock, Route.repair, Route.recycle, Route.harvest, Route.return_to_customer}
)
TERMINAL = frozenset({S.harvested, S.recycled, S.written_off, S.returned_to_customer})


def position(state: State | None, route: Route | None = None) -> str:
    """Where a unit stands for the table: its state, with the route when dispositioned."""
    if state is None:
        return NEW
    if state is State.dispositioned and route is not None:
        return dispositioned(route)
    return state.value


def all_positions() -> list[str]:
    """Every position a unit can be in (for exhaustive tests and the docs)."""
    positions = [NEW] + [s.value for s in State if s is not State.dispositioned]
    return positions + [dispositioned(r) for r in Route if r not in ROUTE_STATE]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a step may run now and, if not, what is missing."""

    allowed: bool
    reason: str = ""


def check(step: Step, at: str, inspection_passed: bool | None = None) -> Verdict:
    """May `step` run from position `at`? `inspection_passed` is the latest inspection outcome."""
    transition = BY_STEP[step]
    for source in transition.sources:
        if source.position != at:
            continue
        if source.guard is Guard.inspection_passed and inspection_passed is not True:
            continue
        if source.guard is Guard.inspection_failed and inspection_passed is not False:
            continue
        return Verdict(True)
    expected = ", ".join(str(s) for s in transition.sources)
    return Verdict(False, f"'{step}' needs the unit to be {expected}; it is {at}")


# When more than one step may follow a position, the one the unit waits for first: a failed
# test is routed by the disposition engine before anyone retests it.
PREFERRED_NEXT: dict[str, Step] = {S.test_failed.value: Step.disposition}


def next_steps(at: str, inspection_passed: bool | None = None) -> list[Step]:
    """The steps allowed from `at`, in the table's order, the one the unit waits for first."""
    allowed = [t.step for t in TABLE if check(t.step, at, inspection_passed).allowed]
    preferred = PREFERRED_NEXT.get(at)
    if preferred in allowed:
        allowed.remove(preferred)
        allowed.insert(0, preferred)
    return allowed


def waits_for(at: str, inspection_passed: bool | None = None) -> Step | None:
    """The step a unit at `at` waits for (None when nothing follows, e.g. a terminal state)."""
    steps = next_steps(at, inspection_passed)
    return steps[0] if steps else None


# Failed steps a supervisor may override to passed: a rig or fixture error at `test`, an
# inspector's mistake at `inspect`. The others guard an invariant; the reason says which.
OVERRIDABLE_FAILURES = frozenset({Step.inspect, Step.test})
OVERRIDE_REFUSED: dict[Step, str] = {
    Step.sanitize: "a failed sanitize cannot be overridden: nothing leaves custody un-wiped "
    "(invariant 2); sanitize the unit again",
    Step.flash: "a failed flash cannot be overridden: a sellable unit needs the current "
    "release with a matching read-back hash (invariant 1); flash the unit again",
}


def check_override(step: Step, at: str, latest: tuple[str, str] | None) -> Verdict:
    """May the failed `step` be overridden to passed now? `latest` is the unit's latest step
    record as (step, outcome): only a failure that is still where the unit stands qualifies."""
    if step in OVERRIDE_REFUSED:
        return Verdict(False, OVERRIDE_REFUSED[step])
    if step not in OVERRIDABLE_FAILURES:
        names = " or ".join(f"'{s}'" for s in sorted(OVERRIDABLE_FAILURES))
        return Verdict(False, f"'{step}' has no failure to override; only {names} can be")
    if latest == (step.value, Outcome.hazard.value):
        return Verdict(
            False,
            f"the unit's '{step}' found a hazard and quarantined it: hazards stop the line "
            "(invariant 9), so this is not overridden",
        )
    on_fail = BY_STEP[step].on_fail
    if latest != (step.value, Outcome.failed.value) or at != position(on_fail):
        return Verdict(
            False,
            f"a failed '{step}' can be overridden only while it is the unit's latest step "
            f"(the unit at {on_fail}); the unit is {at}",
        )
    return Verdict(True)


def target(step: Step, outcome: Outcome, route: Route | None = None) -> State:
    """The state a step leads to for its outcome (and route, for a disposition)."""
    transition = BY_STEP[step]
    if step is Step.disposition:
        if route is None:
            raise ValueError("a disposition needs a route")
        return ROUTE_STATE.get(route, State.dispositioned)
    if outcome is Outcome.hazard and transition.on_hazard is not None:
        return transition.on_hazard
    if outcome in (Outcome.failed, Outcome.hazard):
        if transition.on_fail is None:
            raise ValueError(f"'{step}' has no failure outcome")
        return transition.on_fail
    assert transition.on_pass is not None
    return transition.on_pass


def render_markdown() -> str:
    """The table as Markdown, for `backhaul lifecycle` and docs/lifecycle.md."""
    lines = [
        "| step | from | to (pass) | to (fail) | to (hazard) | records |",
        "|---|---|---|---|---|---|",
    ]
    for t in TABLE:
        to_pass = (
            t.on_pass.value
            if t.on_pass
            else "the route: "
            + ", ".join(
                f"`{dispositioned(r)}`" if r not in ROUTE_STATE else f"`{ROUTE_STATE[r]}`"
                for r in Route
            )
        )
        lines.append(
            f"| `{t.step}` | {', '.join(f'`{s}`' for s in t.sources)} | {to_pass} | "
            f"{t.on_fail.value if t.on_fail else '—'} | "
            f"{t.on_hazard.value if t.on_hazard else '—'} | {t.records} |"
        )
    return "\n".join(lines) + "\n"


def render_document() -> str:
    """docs/lifecycle.md: the table with how to read it."""
    return (
        "# The unit lifecycle\n\n"
        "<!-- Generated by `backhaul lifecycle --markdown`; do not edit by hand. -->\n\n"
        "A unit's state changes only through a named step, and each step is allowed only from "
        "the positions listed. A *position* is the state, except that a dispositioned unit "
        "carries its route (`dispositioned:restock`). Two sources carry a condition on the "
        "history since the latest receipt: a sanitized unit goes on to `flash` only after a "
        "passed inspection, and to `disposition` only after a failed one. The server decides "
        "the outcome of every step from its evidence.\n\n"
        + render_markdown()
        + "\nRoutes that hand a unit to someone else ("
        + ", ".join(f"`{r}`" for r in sorted(HANDOFF_ROUTES))
        + ") need a sanitize pass (clear or purge) "
        "or a destroy record after the latest receipt. Terminal states: "
        + ", ".join(f"`{s}`" for s in sorted(TERMINAL))
        + ".\n\n"
        "**Overrides.** A supervisor may override a route (a `disposition` with a route and a "
        "written reason, where the disposition step is allowed) or a failed "
        + " or ".join(f"`{s}`" for s in sorted(OVERRIDABLE_FAILURES))
        + " while that failure is the unit's latest step: a new record of the step with "
        "outcome pass and the override in its evidence, through the step's pass transition "
        "above. Never a failed "
        + " or ".join(f"`{s}`" for s in sorted(OVERRIDE_REFUSED))
        + " (invariants 1 and 2), nor a hazard (invariant 9). A unit waits at a site for the "
        "first step allowed from its position (a failed test for its disposition); the site's "
        "wait target for that step says when it waits too long.\n"
    )
