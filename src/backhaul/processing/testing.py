"""Pure rule: does a set of measurements pass a functional test plan?"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TestFailure:
    """One test that did not pass, and why."""

    __test__ = False
    test: str
    reason: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"test": self.test, "reason": self.reason, "value": self.value}


@dataclass(frozen=True)
class PlanResult:
    """The verdict on a plan: passed only when every required test is present and in limits."""

    passed: bool
    failures: list[TestFailure] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def check_test(test: dict[str, Any], value: Any) -> str | None:
    """Why one measurement fails its test's limits, or None when it passes."""
    if test.get("equals") is not None:
        expected = test["equals"]
        same_kind = isinstance(value, bool) == isinstance(expected, bool)
        if not same_kind or value != expected:
            return f"expected {expected!r}"
        return None
    number = _number(value)
    if number is None:
        return "not a finite number"
    unit = f" {test['unit']}" if test.get("unit") else ""
    if test.get("min") is not None and number < test["min"]:
        return f"below the minimum of {test['min']}{unit}"
    if test.get("max") is not None and number > test["max"]:
        return f"above the maximum of {test['max']}{unit}"
    return None


def evaluate(tests: list[dict[str, Any]], measurements: dict[str, Any]) -> PlanResult:
    """Judge measurements against a plan's tests (id, unit, min, max, equals, required)."""
    failures: list[TestFailure] = []
    known = {test["id"] for test in tests}
    for test in tests:
        if test["id"] not in measurements:
            if test.get("required", True):
                failures.append(TestFailure(test["id"], "required measurement missing"))
            continue
        value = measurements[test["id"]]
        reason = check_test(test, value)
        if reason is not None:
            failures.append(TestFailure(test["id"], reason, value))
    unknown = sorted(set(measurements) - known)
    return PlanResult(passed=not failures and not unknown, failures=failures, unknown=unknown)
