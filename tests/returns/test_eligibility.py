"""Eligibility as a pure function: every case the issue names, in every region's policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backhaul.returns import policy as policies
from backhaul.returns import reasons
from backhaul.returns.eligibility import Claim, UnitFacts, decide, delivery_date

TODAY = date(2026, 11, 22)
POLICIES = {
    region: policies.parse(text, source)
    for region, (source, text) in policies.packaged_sources().items()
}
TAXONOMY = reasons.taxonomy()
CURRENCY = {"US": "USD", "EU": "EUR", "UK": "GBP", "JP": "JPY"}


def unit(region: str = "US", days_ago: int = 3, **changes: object) -> UnitFacts:
    sold = datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), UTC)
    facts = UnitFacts(
        serial="SPK000001",
        sku="SPK-100",
        regulated="none",
        state="in_field",
        order_ref="O-1",
        customer_email="Ada@Example.com",
        sold_at=sold,
        region=region,
        price=Decimal("129.00"),
        currency=CURRENCY[region],
        warranty_end=(sold + timedelta(days=365)).date(),
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


def ask(reason: str = "remorse.changed_mind", **changes: object) -> Claim:
    return replace(Claim(email="ada@example.com", reason=reason, serial="SPK000001"), **changes)  # type: ignore[arg-type]


def run(facts: UnitFacts | None, claim: Claim, region: str = "US", open_case: str | None = None):  # type: ignore[no-untyped-def]
    return decide(facts, claim, POLICIES[region], TAXONOMY.get(claim.reason), TODAY, open_case)


def test_the_four_default_policies_load_with_their_usual_rules() -> None:
    assert set(POLICIES) == {"US", "EU", "UK", "JP"}
    eu, uk, jp, us = POLICIES["EU"], POLICIES["UK"], POLICIES["JP"], POLICIES["US"]
    assert (eu.return_window_days, eu.legal_warranty_months, eu.restocking_fee_percent) == (
        14,
        24,
        0,
    )
    assert (uk.return_window_days, uk.legal_warranty_months) == (14, 72)
    assert jp.return_window_days == 8 and jp.currency == "JPY" and "ja" in jp.languages
    assert us.return_window_days == 30 and us.restocking_fee_percent == 15
    assert {p.policy_version for p in POLICIES.values()} == {
        "US/2026.1",
        "EU/2026.1",
        "UK/2026.1",
        "JP/2026.1",
    }


@pytest.mark.parametrize("region", ["US", "EU", "UK", "JP"])
def test_inside_the_window_any_reason_is_accepted(region: str) -> None:
    decision = run(unit(region, days_ago=2), ask(), region)
    assert decision.eligible and decision.rule == "window.return"
    assert decision.policy_version == f"{region}/2026.1"
    assert decision.resolutions_offered[:2] == ("refund", "exchange")
    window = POLICIES[region].return_window_days + POLICIES[region].delivery_days
    assert decision.window_ends == TODAY - timedelta(days=2) + timedelta(days=window)


@pytest.mark.parametrize("region", ["US", "EU", "UK", "JP"])
def test_the_window_ends_on_its_last_day_counted_from_delivery(region: str) -> None:
    rules = POLICIES[region]
    last_day = rules.return_window_days + rules.delivery_days
    assert run(unit(region, days_ago=last_day), ask(), region).rule == "window.return"
    outside = run(unit(region, days_ago=last_day + 1), ask(), region)
    assert not outside.eligible and outside.rule == "window.closed"
    assert outside.policy_version == f"{region}/2026.1"


@pytest.mark.parametrize("region", ["US", "EU", "UK", "JP"])
def test_outside_the_window_a_defect_in_warranty_is_accepted(region: str) -> None:
    decision = run(unit(region, days_ago=200), ask("defect.hardware"), region)
    assert decision.eligible and decision.rule.startswith("warranty.")
    assert "repair" in decision.resolutions_offered and "refund" not in decision.resolutions_offered
    assert ("advance_replacement" in decision.resolutions_offered) == POLICIES[
        region
    ].advance_replacement


def test_the_eu_legal_guarantee_outlasts_a_one_year_manufacturer_warranty() -> None:
    old = unit("EU", days_ago=500)  # 12-month manufacturer warranty is over
    decision = run(old, ask("defect.hardware"), "EU")
    assert decision.eligible and decision.rule == "warranty.legal"
    assert decision.warranty_basis == "legal"
    us = run(unit("US", days_ago=500), ask("defect.hardware"), "US")
    assert not us.eligible and us.rule == "warranty.expired"


def test_uk_claims_under_the_consumer_rights_act_run_six_years() -> None:
    decision = run(unit("UK", days_ago=5 * 365), ask("defect.firmware"), "UK")
    assert decision.eligible and decision.rule == "warranty.legal"
    assert not run(unit("UK", days_ago=6 * 365 + 10), ask("defect.firmware"), "UK").eligible


@pytest.mark.parametrize("region", ["US", "JP"])
def test_out_of_warranty_is_refused_naming_the_end(region: str) -> None:
    decision = run(unit(region, days_ago=800), ask("defect.battery"), region)
    assert not decision.eligible and decision.rule == "warranty.expired"
    assert decision.warranty_ends is not None and decision.warranty_ends < TODAY


def test_a_serial_never_sold_is_refused() -> None:
    decision = run(None, ask())
    assert not decision.eligible and decision.rule == "ownership.serial_not_sold"
    assert decision.policy_version == "US/2026.1"


def test_a_serial_already_in_an_open_return_is_refused_with_its_rma() -> None:
    decision = run(unit(), ask(), open_case="RMA-ABCDEFGH")
    assert decision.rule == "case.open" and "RMA-ABCDEFGH" in decision.explanation


def test_an_order_whose_serial_does_not_match_is_refused() -> None:
    decision = run(unit(), ask(serial="SPK999999"))
    assert decision.rule == "ownership.order_mismatch"
    by_order = run(unit(), ask(serial=None, order_ref="O-2"))
    assert by_order.rule == "ownership.order_mismatch"
    assert run(unit(), ask(serial=None, order_ref="o-1")).eligible  # order refs ignore case


def test_another_email_is_refused_and_case_is_ignored() -> None:
    assert run(unit(), ask(email="eve@example.com")).rule == "ownership.email_mismatch"
    assert run(unit(), ask(email="  ADA@example.COM ")).eligible


def test_a_unit_not_with_the_customer_cannot_be_returned() -> None:
    decision = run(unit(state="received"), ask())
    assert decision.rule == "unit.not_in_field"


def test_an_unknown_reason_is_refused() -> None:
    assert run(unit(), ask("boredom.total")).rule == "reason.unknown"


@pytest.mark.parametrize("regulated", ["biometric", "health"])
def test_an_opened_regulated_product_is_not_taken_back_for_a_change_of_mind(
    regulated: str,
) -> None:
    ring = unit("EU", sku="RNG-200", regulated=regulated)
    refused = run(ring, ask(), "EU")
    assert not refused.eligible and refused.rule == "regulated.hygiene_seal"
    assert run(ring, ask(sealed=True), "EU").eligible  # still sealed: the withdrawal right stands
    assert run(ring, ask("defect.hardware"), "EU").eligible  # a fault is always a fault


def test_a_childrens_product_keeps_the_ordinary_window() -> None:
    tablet = unit("US", sku="TAB-K8", regulated="children")
    assert run(tablet, ask()).eligible


def test_the_us_restocking_fee_applies_to_opened_change_of_mind_refunds() -> None:
    decision = run(unit(), ask("remorse.better_price"))
    assert decision.restocking_fee == Decimal("19.35") and decision.currency == "USD"
    assert run(unit(), ask("remorse.better_price", sealed=True)).restocking_fee is None
    assert run(unit(), ask("defect.hardware")).restocking_fee is None
    assert run(unit("EU"), ask(), "EU").restocking_fee is None  # the EU forbids it


def test_transit_damage_must_be_reported_soon_after_delivery() -> None:
    late = run(unit(days_ago=60), ask("damage.transit"))
    assert late.rule == "damage.report_window"
    assert run(unit(days_ago=10), ask("damage.transit")).eligible


def test_a_product_section_can_extend_the_manufacturer_warranty() -> None:
    text = POLICIES["US"].model_dump()
    text["products"]["CAM-AI1"] = {"manufacturer_warranty_months": 36}
    extended = policies.Policy.model_validate(text)
    camera = unit(sku="CAM-AI1", days_ago=800)
    decision = decide(
        camera, ask("defect.hardware"), extended, TAXONOMY.get("defect.hardware"), TODAY
    )
    assert decision.eligible and decision.rule == "warranty.manufacturer"


def test_delivery_reported_by_the_carrier_moves_the_window() -> None:
    late_delivery = unit(days_ago=40, delivered_on=TODAY - timedelta(days=5))
    assert delivery_date(late_delivery, POLICIES["US"]) == TODAY - timedelta(days=5)
    assert run(late_delivery, ask()).eligible


@given(
    days_ago=st.integers(0, 4000),
    reason=st.sampled_from([*TAXONOMY.reasons, "nonsense.reason"]),
    region=st.sampled_from(sorted(POLICIES)),
    sealed=st.one_of(st.none(), st.booleans()),
    regulated=st.sampled_from(["none", "health", "biometric", "children"]),
    state=st.sampled_from(["in_field", "in_field", "received", "return_authorized"]),
)
def test_every_decision_names_a_known_rule_and_the_policy_version(
    days_ago: int, reason: str, region: str, sealed: bool | None, regulated: str, state: str
) -> None:
    from backhaul.returns.eligibility import RULES

    facts = unit(region, days_ago=days_ago, regulated=regulated, state=state)
    decision = run(facts, ask(reason, sealed=sealed), region)
    assert decision.rule in RULES
    assert decision.policy_version == f"{region}/2026.1"
    assert decision.eligible == bool(decision.resolutions_offered)
    if decision.eligible:
        assert set(decision.resolutions_offered) <= set(policies.RESOLUTIONS)
        assert decision.rule in ("window.return", "warranty.legal", "warranty.manufacturer")


@given(days_ago=st.integers(0, 3000), region=st.sampled_from(sorted(POLICIES)))
def test_a_defect_is_never_refused_when_a_change_of_mind_would_be_accepted(
    days_ago: int, region: str
) -> None:
    facts = unit(region, days_ago=days_ago)
    if run(facts, ask("remorse.changed_mind"), region).eligible:
        assert run(facts, ask("defect.hardware"), region).eligible
