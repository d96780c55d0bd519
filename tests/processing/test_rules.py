"""The pure rules, tested directly: test plans, the chain to sale, grading, disposition."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from backhaul.processing import chain, grading, testing
from backhaul.processing.chain import StepFact
from backhaul.processing.grading import Cosmetic, Functional

PLAN = [
    {"id": "v", "unit": "V", "min": 4.75, "max": 5.25, "required": True},
    {"id": "ok", "equals": True, "required": True},
    {"id": "led", "min": 10, "required": False},
]

numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**6), 10**6)
values = numbers | st.booleans() | st.text(max_size=5) | st.none()


@given(st.dictionaries(st.sampled_from(["v", "ok", "led"]), values))
def test_a_plan_passes_exactly_when_every_required_test_is_present_and_in_limits(
    measurements: dict[str, object],
) -> None:
    result = testing.evaluate(PLAN, measurements)
    v, ok, led = (measurements.get(k, "missing") for k in ("v", "ok", "led"))
    v_ok = (
        isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        and 4.75 <= v <= 5.25
    )
    led_ok = led == "missing" or (
        isinstance(led, int | float)
        and not isinstance(led, bool)
        and math.isfinite(led)
        and led >= 10
    )
    assert result.passed == (v_ok and ok is True and led_ok)
    assert {f.test for f in result.failures} == (
        ({"v"} if not v_ok else set())
        | ({"ok"} if ok is not True else set())
        | ({"led"} if not led_ok else set())
    )


def test_unknown_measurements_do_not_pass() -> None:
    result = testing.evaluate(PLAN, {"v": 5, "ok": True, "bogus": 1})
    assert not result.passed
    assert result.unknown == ["bogus"]


def test_equals_does_not_confuse_true_with_one() -> None:
    assert testing.check_test({"id": "ok", "equals": True}, 1) == "expected True"
    assert testing.check_test({"id": "n", "equals": 1}, True) == "expected 1"


def _chain(**changes: StepFact) -> list[StepFact]:
    steps = {
        "receive": StepFact("receive", "pass", {}),
        "inspect": StepFact("inspect", "pass", {}),
        "sanitize": StepFact("sanitize", "pass", {"certificate_id": "c1"}),
        "flash": StepFact("flash", "pass", {"release": "2.0", "readback_sha256": "h2"}),
        "test": StepFact("test", "pass", {"plan": 3}),
        "grade": StepFact("grade", "pass", {}),
        "disposition": StepFact("disposition", "pass", {"route": "restock"}),
    } | changes
    return list(steps.values())


def test_the_full_chain_may_be_sold() -> None:
    assert chain.missing_for_sale(_chain(), "2.0", "h2", 3) is None


def test_each_missing_or_unqualified_link_is_named() -> None:
    assert "current release (2.1)" in (chain.missing_for_sale(_chain(), "2.1", "h3", 3) or "")
    assert "plan (version 4)" in (chain.missing_for_sale(_chain(), "2.0", "h2", 4) or "")
    no_cert = _chain(sanitize=StepFact("sanitize", "pass", {}))
    assert "certificate" in (chain.missing_for_sale(no_cert, "2.0", "h2", 3) or "")
    failed = _chain(test=StepFact("test", "fail", {"plan": 3}))
    assert "passed test" in (chain.missing_for_sale(failed, "2.0", "h2", 3) or "")


def test_only_steps_after_the_latest_receipt_count() -> None:
    again = [*_chain(), StepFact("receive", "pass", {})]
    assert "passed inspection" in (chain.missing_for_sale(again, "2.0", "h2", 3) or "")
    assert chain.facts(again).wiped is False


def test_steps_out_of_order_do_not_make_a_chain() -> None:
    steps = _chain()
    reordered = [steps[0], steps[1], steps[3], steps[2], *steps[4:]]  # flash before sanitize
    assert "out of order" in (chain.missing_for_sale(reordered, "2.0", "h2", 3) or "")


@given(
    st.sampled_from(list(Cosmetic)),
    st.sampled_from(list(Functional)),
    st.sampled_from([None, "sealed", "opened", "damaged"]),
    st.booleans(),
    st.lists(st.sampled_from(["power adapter", "remote", "quick start guide"]), unique=True),
)
def test_refurbished_is_never_graded_as_new(
    cosmetic: Cosmetic,
    functional: Functional,
    packaging: str | None,
    activated: bool,
    missing: list[str],
) -> None:
    result = grading.grade("SPK-100", cosmetic, functional, packaging, activated, tuple(missing))
    as_new = (
        packaging == "sealed"
        and not missing
        and not activated
        and functional is Functional.passed
        and cosmetic is Cosmetic.A
    )
    assert result.may_sell_as_new is as_new
    assert (result.condition_sku == "SPK-100") is as_new
    if not as_new:
        assert result.condition_sku == f"SPK-100-RF-{cosmetic.value}"
    for accessory in missing:
        assert accessory in result.why


# The disposition engine is tested in tests/processing/test_disposition.py.
