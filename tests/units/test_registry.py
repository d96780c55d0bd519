"""The serial registry's pure rules: normalising a row, deriving the warranty."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from backhaul.units.registry import ProductRule, Rejection, SoldUnit, add_months, check_row

NOW = datetime(2026, 11, 22, tzinfo=UTC)
PRODUCTS = {"SPK-100": ProductRule(1, 1, re.compile(r"SPK[0-9]{6}"), 12)}
ROW = {
    "serial": "spk000001",
    "sku": "spk-100",
    "order_ref": "O-1",
    "customer_email": "Ada@Example.com",
    "sold_at": "2024-01-31",
    "region": "us",
    "channel": "Web",
    "price": "129.5",
    "currency": "usd",
}


def test_a_good_row_is_normalised_and_its_warranty_derived() -> None:
    unit = check_row(1, ROW, PRODUCTS, NOW)
    assert isinstance(unit, SoldUnit)
    assert (unit.serial, unit.sku, unit.region, unit.currency) == (
        "SPK000001",
        "SPK-100",
        "US",
        "USD",
    )
    assert unit.customer_email == "ada@example.com"
    assert unit.price == Decimal("129.50")
    assert unit.warranty_end == date(2025, 1, 31)
    assert unit.sold_at == datetime(2024, 1, 31, tzinfo=UTC)


def test_add_months_clamps_to_the_end_of_the_month() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 11, 15), 24) == date(2026, 11, 15)


def test_each_bad_field_is_named() -> None:
    cases = {
        "serial": "SPK12",
        "sku": "NOPE",
        "sold_at": "31/01/2024",
        "price": "-1",
        "currency": "US",
        "customer_email": "nobody",
        "region": "Europe",
    }
    for field, value in cases.items():
        outcome = check_row(7, ROW | {field: value}, PRODUCTS, NOW)
        assert isinstance(outcome, Rejection), field
        assert (outcome.row, outcome.field) == (7, field)
    future = check_row(1, ROW | {"sold_at": "2027-01-01"}, PRODUCTS, NOW)
    assert isinstance(future, Rejection) and future.reason == "is in the future"
    for edge in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"):
        beyond = check_row(1, ROW | {"sold_at": edge}, PRODUCTS, NOW)
        assert isinstance(beyond, Rejection) and beyond.field == "sold_at", edge
    missing = check_row(1, {k: v for k, v in ROW.items() if k != "order_ref"}, PRODUCTS, NOW)
    assert isinstance(missing, Rejection) and missing.field == "order_ref"


@given(
    st.dictionaries(
        st.sampled_from([*ROW, "extra"]),
        st.none()
        | st.text(max_size=30)
        | st.integers()
        | st.floats()
        | st.lists(st.integers(), max_size=2),
    )
)
def test_no_row_makes_the_checker_raise(raw: dict[str, object]) -> None:
    outcome = check_row(1, ROW | raw, PRODUCTS, NOW)
    assert isinstance(outcome, SoldUnit | Rejection)


@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers())))
def test_a_row_that_is_not_an_object_is_rejected(raw: object) -> None:
    outcome = check_row(3, raw, PRODUCTS, NOW)
    assert isinstance(outcome, Rejection) and outcome.field == "row"
