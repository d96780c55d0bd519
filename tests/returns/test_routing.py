"""Routing as a pure function: capabilities, hazards, region, backlog; and it says why."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backhaul.returns.routing import Hub, Shipment, required_capabilities, route

FULL = frozenset(
    {"inspect", "flash", "wipe:clear", "wipe:purge", "second_verifier", "battery_quarantine"}
)
HUBS = [
    Hub("HUB-US", "US", FULL, backlog=40),
    Hub("HUB-EU", "EU", FULL - {"battery_quarantine"}, backlog=10),
    Hub("HUB-JP", "JP", frozenset({"inspect", "flash", "wipe:clear"}), backlog=5),
]


def ship(region: str = "JP", **changes: object) -> Shipment:
    values: dict[str, object] = {
        "region": region,
        "regulated": "none",
        "battery": "li_ion",
        "battery_damaged": False,
        "ground_regions": {"US": ("US",), "EU": ("EU", "UK"), "UK": ("UK", "EU"), "JP": ("JP",)}[
            region
        ],
        "customs_union": (region,),
    }
    return Shipment(**(values | changes))  # type: ignore[arg-type]


def test_a_plain_product_stays_in_its_region() -> None:
    chosen = route(ship("JP"), HUBS)
    assert chosen.site == "HUB-JP" and not chosen.cross_border and not chosen.ground_only
    assert any(line.startswith("R3 HUB-JP") for line in chosen.why)


def test_a_regulated_product_goes_where_purge_and_a_second_verifier_are() -> None:
    chosen = route(ship("JP", regulated="biometric"), HUBS)
    assert chosen.site == "HUB-EU"  # both HUB-US and HUB-EU can; HUB-EU has the lower backlog
    assert chosen.cross_border and "second_verifier" in required_capabilities(
        ship(regulated="health")
    )
    assert any("HUB-JP lacks wipe:purge, second_verifier" in line for line in chosen.why)
    assert any(line.startswith("R4") for line in chosen.why)


def test_a_damaged_battery_travels_by_ground_only() -> None:
    chosen = route(ship("UK", battery_damaged=True), HUBS)
    assert chosen.ground_only and chosen.site == "HUB-EU"
    assert any("ground transport only" in line for line in chosen.why)
    stranded = route(ship("JP", regulated="health", battery_damaged=True), HUBS)
    assert stranded.site == "HUB-JP" and stranded.missing == ("wipe:purge", "second_verifier")


def test_a_hub_that_can_quarantine_batteries_is_preferred_for_a_damaged_one() -> None:
    hubs = [*HUBS, Hub("HUB-US2", "US", FULL - {"battery_quarantine"}, backlog=0)]
    assert route(ship("US", battery_damaged=True), hubs).site == "HUB-US"
    assert route(ship("US"), hubs).site == "HUB-US2"  # otherwise the emptier hub


def test_no_hub_within_ground_reach_means_no_destination() -> None:
    chosen = route(ship("US", battery_damaged=True), [HUBS[2]])
    assert chosen.site is None and chosen.ground_only


def test_a_product_may_need_more_capabilities() -> None:
    chosen = route(ship("JP", product_capabilities=("battery_quarantine",)), HUBS)
    assert chosen.site == "HUB-US"


@given(
    region=st.sampled_from(["US", "EU", "UK", "JP"]),
    regulated=st.sampled_from(["none", "health", "biometric", "children"]),
    damaged=st.booleans(),
    backlogs=st.lists(st.integers(0, 1000), min_size=3, max_size=3),
)
def test_routing_always_explains_itself_and_never_flies_a_damaged_battery(
    region: str, regulated: str, damaged: bool, backlogs: list[int]
) -> None:
    hubs = [Hub(h.code, h.region, h.capabilities, b) for h, b in zip(HUBS, backlogs, strict=True)]
    shipment = ship(region, regulated=regulated, battery_damaged=damaged)
    chosen = route(shipment, hubs)
    assert chosen.why and chosen.why[0].startswith("R1")
    if chosen.site is not None and damaged:
        region_of = {h.code: h.region for h in hubs}[chosen.site]
        assert region_of in {region, *shipment.ground_regions}
