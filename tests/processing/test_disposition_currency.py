"""The engine weighs money in one currency: a yen sale and a dollar labour rate are converted."""

from __future__ import annotations

from tests.processing.conftest import (
    FLASH_OK,
    GOOD,
    INSPECT_OK,
    RIG,
    SANITIZE_OK,
    World,
    received,
    sold,
)


def _graded(world: World, serial: str) -> None:
    received(world, serial)
    for step, body in (
        ("inspect", INSPECT_OK),
        ("sanitize", SANITIZE_OK),
        ("flash", FLASH_OK),
        ("test", {"plan": 1, "rig": RIG, "measurements": GOOD}),
        ("grade", {"cosmetic": "B", "functional": "pass"}),
    ):
        assert world.step("tech_a", serial, step, body).status_code == 200


def test_a_yen_sale_is_priced_in_the_base_currency(world: World) -> None:
    row = sold("SPK800001", region="JP", currency="JPY", price="19800")
    assert world.call("admin", "POST", "/api/v1/units/import", json=[row]).json()["added"] == 1
    _graded(world, "SPK800001")
    decided = world.step("tech_a", "SPK800001", "disposition", {}).json()["decision"]
    assert decided["currency"] == "USD"
    assert decided["route"] == "restock"  # 19,800 JPY is about 132 USD, not 19,800 USD or 132 JPY
    restock = next(a for a in decided["alternatives"] if a["route"] == "restock")
    assert 50 < float(restock["expected_net_value"]) < 132


def test_a_currency_without_a_rate_is_refused_with_what_is_missing(world: World) -> None:
    row = sold("SPK800002", currency="XAF", price="80000")
    assert world.call("admin", "POST", "/api/v1/units/import", json=[row]).json()["added"] == 1
    _graded(world, "SPK800002")
    refused = world.step("tech_a", "SPK800002", "disposition", {})
    assert refused.status_code == 409
    assert refused.json()["missing"] == "exchange_rate"
    assert "XAF" in refused.json()["detail"]
