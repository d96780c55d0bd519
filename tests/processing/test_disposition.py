"""The disposition engine, tested directly: legal routes with reasons, invariant 2 inside the
rules, the economics' monotonicity, and policies resolved per product and region."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backhaul.processing import disposition, faults
from backhaul.processing.disposition import DispositionFacts, Policy
from backhaul.processing.lifecycle import HANDOFF_ROUTES, Route
from backhaul.returns.config import ConfigError

TAXONOMY = faults.taxonomy()
BOOK = disposition.policy_book()
LEAVES = [fault.code for fault in TAXONOMY.leaves()]
money = st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False, allow_infinity=False)
share = st.decimals(min_value=0, max_value=2, places=2, allow_nan=False, allow_infinity=False)

facts = st.builds(
    DispositionFacts,
    state=st.sampled_from(
        ["graded", "test_failed", "firmware_failed", "quarantined", "sanitized", "inspected"]
    ),
    inspection_passed=st.sampled_from([None, True, False]),
    wiped=st.booleans(),
    cosmetic=st.sampled_from([None, "A", "B", "C", "D"]),
    functional=st.sampled_from([None, "pass", "fail"]),
    in_warranty=st.booleans(),
    fault_codes=st.lists(st.sampled_from(LEAVES), max_size=3, unique=True).map(tuple),
    price=money,
    channel=st.sampled_from(["webstore", "retail", "marketplace", "flea market"]),
    labour_rate=st.decimals(min_value=0, max_value=300, places=2),
)
policies = st.builds(
    lambda sku, region: BOOK.resolve(sku, region),
    st.sampled_from(["SPK-100", "RNG-200", "OTHER"]),
    st.sampled_from(["US", "EU", "JP"]),
)


def _likely(decision: disposition.Decision, route: Route) -> bool:
    return decision.route is route


@given(facts, policies)
def test_every_decision_is_a_legal_route_with_a_reason_citing_its_rule(
    f: DispositionFacts, policy: Policy
) -> None:
    decision = disposition.decide(f, policy)
    assert decision.route in set(Route)
    assert decision.rule.startswith(f"disposition-{policy.version}/")
    assert decision.reason
    assert decision.route in {a.route for a in decision.alternatives}
    best = max(a.expected_net_value for a in decision.alternatives)
    assert (
        next(a for a in decision.alternatives if a.route is decision.route).expected_net_value
        == best
    )
    if not f.wiped:  # invariant 2: nothing un-wiped is handed to anyone
        assert decision.route is Route.quarantine
    if decision.route in HANDOFF_ROUTES:
        assert f.wiped
    if decision.route is Route.restock:  # only a passed, graded unit goes back on the shelf
        assert f.state == "graded" and f.functional != "fail"
        assert f.inspection_passed is not False


@given(facts, policies, share, money)
def test_raising_the_recovery_value_never_makes_restocking_less_likely(
    f: DispositionFacts, policy: Policy, more_share: Decimal, more_price: Decimal
) -> None:
    before = disposition.decide(f, policy)
    richer = replace(
        policy,
        recovery={grade: value + more_share for grade, value in policy.recovery.items()},
    )
    after = disposition.decide(replace(f, price=f.price + more_price), richer)
    if before.route is Route.restock:
        assert after.route is Route.restock


@given(facts, policies, money, st.integers(0, 600), st.decimals(0, 200, places=2))
def test_raising_the_repair_estimate_never_makes_repair_more_likely(
    f: DispositionFacts, policy: Policy, parts: Decimal, minutes: int, rate: Decimal
) -> None:
    before = disposition.decide(f, policy)
    dearer = replace(
        policy,
        repair_parts=policy.repair_parts + parts,
        repair_minutes=policy.repair_minutes + minutes,
    )
    after = disposition.decide(replace(f, labour_rate=f.labour_rate + rate), dearer)
    if after.route is Route.repair:
        assert before.route is Route.repair


def _graded(**changes: object) -> DispositionFacts:
    base = DispositionFacts(
        "graded", True, True, "B", "pass", True, (), Decimal("129.00"), "webstore", Decimal("48")
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_good_unit_is_restocked_and_every_alternative_is_priced() -> None:
    decision = disposition.decide(_graded(), BOOK.resolve("SPK-100", "US"))
    assert decision.route is Route.restock
    assert decision.rule == "disposition-2026.1/E1"
    values = {a.route: a.expected_net_value for a in decision.alternatives}
    # 129 x 0.68 (grade B) x 1.00 (webstore) - 6 handling
    assert values[Route.restock] == Decimal("81.72")
    # 22 parts value - 15 minutes at 48/h
    assert values[Route.harvest] == Decimal("10.00")
    assert values[Route.recycle] == Decimal("1.00")
    assert "restock has the highest expected net value (81.72)" in decision.as_dict()["reason"]
    assert decision.as_dict()["policy"] == "defaults < SPK-100"


def test_a_failed_unit_in_warranty_is_repaired_and_an_expensive_repair_is_not() -> None:
    policy = BOOK.resolve("SPK-100", "US")
    failed = _graded(
        state="test_failed", cosmetic=None, functional=None, fault_codes=("AUD.SPK.DISTORT",)
    )
    decision = disposition.decide(failed, policy)
    assert decision.route is Route.repair
    assert decision.repair_estimate == Decimal("44.00")  # 16 parts + 35 min at 48/h
    assert "owes a replacement" in decision.reason
    costly = disposition.decide(replace(failed, labour_rate=Decimal("400")), policy)
    assert costly.route is not Route.repair
    assert "repair: estimate" in costly.reason


def test_unrepairable_and_hazard_faults() -> None:
    policy = BOOK.resolve("SPK-100", "US")
    corroded = _graded(state="test_failed", in_warranty=False, fault_codes=("LIQ.CORROSION",))
    decision = disposition.decide(corroded, policy)
    assert decision.route is Route.harvest
    assert "LIQ.CORROSION cannot be repaired" in decision.reason
    swollen = disposition.decide(_graded(fault_codes=("PWR.BATT.SWELL",)), policy)
    assert (swollen.route, swollen.rule) == (Route.recycle, "disposition-2026.1/Q2")


def test_thresholds_are_per_product_and_region() -> None:
    ring = BOOK.resolve("RNG-200", "EU")
    assert ring.restock_min_grade == "B" and ring.recycling_cost == Decimal("0.2")
    assert ring.scope == "defaults < EU < RNG-200"
    worn_ring = disposition.decide(_graded(cosmetic="C"), ring)
    assert worn_ring.route is not Route.restock
    assert "grade C is below the minimum B" in worn_ring.reason
    assert disposition.decide(_graded(cosmetic="C"), BOOK.resolve("SPK-100", "EU")).route is (
        Route.restock
    )


def test_a_bad_policy_file_names_its_line() -> None:
    text = 'version = "x"\n[defaults]\nrestock_min_grade = "E"\n'
    with pytest.raises(ConfigError) as raised:
        disposition.parse_policy(text, "bad.toml")
    assert raised.value.line == 3 and "bad.toml:3" in str(raised.value)


def test_the_taxonomy_knows_no_fault_found_and_refuses_unknown_codes() -> None:
    assert TAXONOMY.codes["NFF"].name == "No fault found"
    assert TAXONOMY.codes["CONN.WIFI.NOPAIR"].parent == "CONN.WIFI"
    assert TAXONOMY.check(["FW.BOOTLOOP"]) == ["FW.BOOTLOOP"]
    with pytest.raises(Exception, match="not a fault code"):
        TAXONOMY.check(["FW.NOPE"])
    with pytest.raises(Exception, match="cannot be combined"):
        TAXONOMY.check(["NFF", "FW.BOOTLOOP"])
