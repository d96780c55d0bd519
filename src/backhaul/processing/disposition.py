"""Pure rule: which route a unit takes, from an ordered rule set where every decision cites
its rule. This is the plain rule set; the station issue adds the economics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backhaul.processing.lifecycle import Route

RULESET_VERSION = "plain-1"


@dataclass(frozen=True, slots=True)
class DispositionFacts:
    """What the rules look at."""

    state: str
    inspection_passed: bool | None
    wiped: bool
    cosmetic: str | None
    functional: str | None
    in_warranty: bool


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: when it applies, the route it picks and why, in words."""

    id: str
    applies: Callable[[DispositionFacts], bool]
    route: Route
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The route, the rule (and rule-set version) that chose it, and the reason."""

    route: Route
    rule: str
    reason: str


def _failed(f: DispositionFacts) -> bool:
    return (
        f.state in ("test_failed", "firmware_failed") or f.functional == "fail" or f.cosmetic == "D"
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "Q1",
        lambda f: not f.wiped,
        Route.quarantine,
        "not wiped since it was received: it stays in quarantine until sanitized or destroyed",
    ),
    Rule(
        "Q2",
        lambda f: f.state == "quarantined",
        Route.recycle,
        "quarantined (hazard or stuck account) and wiped: recycle",
    ),
    Rule("I1", lambda f: f.inspection_passed is False, Route.recycle, "failed inspection: recycle"),
    Rule(
        "R1",
        lambda f: f.state == "graded" and not _failed(f) and f.cosmetic in ("A", "B", "C"),
        Route.restock,
        "tested and graded C or better: restock",
    ),
    Rule(
        "W1",
        lambda f: _failed(f) and f.in_warranty,
        Route.repair,
        "failed and still under warranty: repair",
    ),
    Rule(
        "H1", lambda f: _failed(f), Route.harvest, "failed and out of warranty: harvest for parts"
    ),
)
FALLBACK = Rule(
    "F1", lambda f: True, Route.quarantine, "no rule matched: hold in quarantine for a supervisor"
)


def decide(facts: DispositionFacts) -> Decision:
    """The first rule that applies decides; each decision names `<ruleset>/<rule>`."""
    rule = next((r for r in RULES if r.applies(facts)), FALLBACK)
    return Decision(rule.route, f"{RULESET_VERSION}/{rule.id}", rule.reason)
