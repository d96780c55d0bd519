"""The inspect step against the product's inspection checklist: the server decides whether the
accessories are complete, refuses answers that name nothing on the checklist, needs the photos
the checklist asks for, and records the checklist version and the photos in the history."""

from __future__ import annotations

from typing import Any

from tests.conftest import photo_bytes
from tests.processing.conftest import (
    FLASH_OK,
    INSPECT_OK,
    SANITIZE_OK,
    TEST_OK,
    World,
    received,
)

CHECKLIST = {
    "accessories": ["power adapter", "quick start guide"],
    "cosmetic_points": ["fabric cover", "base"],
    "photos_required": 2,
    "cosmetic_criteria": {"B": "light marks on the fabric, none on the touch panel"},
}


def _checklist(world: World, sku: str = "SPK-100", **changes: Any) -> None:
    response = world.call(
        "admin", "PUT", f"/api/v1/products/{sku}/inspection-checklist", json=CHECKLIST | changes
    )
    assert response.status_code == 200, response.text


def _upload(world: World, serial: str, *colours: str, role: str = "tech_a") -> Any:
    files = [("files", (f"{c}.jpg", photo_bytes(colour=c), "image/jpeg")) for c in colours]
    return world.call(role, "POST", f"/api/v1/units/{serial}/photos", files=files)


def _inspected(world: World, serial: str) -> dict[str, Any]:
    return world.unit(serial)["history"][-1]  # type: ignore[no-any-return]


def test_without_a_checklist_the_default_applies(world: World) -> None:
    received(world, "SPK000001")
    response = world.step("tech_a", "SPK000001", "inspect", INSPECT_OK)
    assert response.status_code == 200, response.text
    evidence = _inspected(world, "SPK000001")["evidence"]
    assert evidence["checklist"]["version"] is None
    assert evidence["accessories_complete"] is True  # nothing named, nothing missing
    assert evidence["photos"] == []


def test_the_server_derives_accessories_complete_and_records_the_checklist(world: World) -> None:
    _checklist(world)
    received(world, "SPK000001")
    assert _upload(world, "SPK000001", "red", "blue").status_code == 201
    body = INSPECT_OK | {
        "accessories_present": ["power adapter"],
        "cosmetic_findings": ["base"],
    }
    response = world.step("tech_a", "SPK000001", "inspect", body)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "inspected"
    evidence = _inspected(world, "SPK000001")["evidence"]
    assert evidence["accessories_complete"] is False
    assert evidence["accessories_missing"] == ["quick start guide"]
    assert evidence["cosmetic_findings"] == ["base"]
    assert evidence["checklist"]["version"] == 1
    assert len(evidence["photos"]) == 2
    # The photos are now the inspection's: listed with the history entry they belong to.
    photos = world.call("tech_a", "GET", "/api/v1/units/SPK000001/photos").json()
    inspect_seq = len(world.unit("SPK000001")["history"]) - 1
    assert {p["step_seq"] for p in photos} == {inspect_seq}


def test_a_client_cannot_declare_accessories_complete(world: World) -> None:
    received(world, "SPK000001")
    response = world.step(
        "tech_a", "SPK000001", "inspect", INSPECT_OK | {"accessories_complete": True}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.accessories_complete"
    assert world.unit("SPK000001")["state"] == "received"


def test_answers_not_on_the_checklist_are_refused_naming_the_field(world: World) -> None:
    _checklist(world, photos_required=0)
    received(world, "SPK000001")
    stylus = world.step(
        "tech_a", "SPK000001", "inspect", INSPECT_OK | {"accessories_present": ["stylus"]}
    )
    assert stylus.status_code == 422
    problem = stylus.json()
    assert problem["errors"][0]["field"] == "accessories_present"
    assert "'stylus'" in problem["detail"] and "'power adapter'" in problem["detail"]
    hinge = world.step(
        "tech_a", "SPK000001", "inspect", INSPECT_OK | {"cosmetic_findings": ["hinge"]}
    )
    assert hinge.status_code == 422
    assert hinge.json()["errors"][0]["field"] == "cosmetic_findings"
    twice = world.step(
        "tech_a",
        "SPK000001",
        "inspect",
        INSPECT_OK | {"accessories_present": ["power adapter", "power adapter"]},
    )
    assert twice.status_code == 422
    assert twice.json()["errors"][0]["field"] == "body.accessories_present"
    assert world.unit("SPK000001")["state"] == "received"


def test_the_inspection_waits_for_the_photos_the_checklist_asks_for(world: World) -> None:
    _checklist(world)
    received(world, "SPK000001")
    assert _upload(world, "SPK000001", "red").status_code == 201
    # The same photo again is still one photo.
    assert _upload(world, "SPK000001", "red").status_code == 201
    refused = world.step("tech_a", "SPK000001", "inspect", INSPECT_OK)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["missing"] == "photos"
    assert (problem["photos_required"], problem["photos_uploaded"]) == (2, 1)
    assert "upload 1 more" in problem["detail"]
    assert "/api/v1/units/SPK000001/photos" in problem["detail"]
    assert world.unit("SPK000001")["state"] == "received"
    assert _upload(world, "SPK000001", "green").status_code == 201
    assert world.step("tech_a", "SPK000001", "inspect", INSPECT_OK).status_code == 200


def test_a_photo_taken_after_the_inspection_is_not_part_of_it(world: World) -> None:
    _checklist(world, photos_required=1)
    received(world, "SPK000001")
    assert _upload(world, "SPK000001", "red").status_code == 201
    assert world.step("tech_a", "SPK000001", "inspect", INSPECT_OK).status_code == 200
    assert _upload(world, "SPK000001", "blue").status_code == 201
    photos = world.call("tech_a", "GET", "/api/v1/units/SPK000001/photos").json()
    inspect_seq = len(world.unit("SPK000001")["history"]) - 1
    assert [p["step_seq"] for p in photos] == [inspect_seq, None]
    evidence = _inspected(world, "SPK000001")["evidence"]
    assert evidence["photos"] == [photos[0]["sha256"]]


def test_packaging_and_battery_are_asked_only_where_the_checklist_checks_them(
    world: World,
) -> None:
    received(world, "RNG000001")
    no_battery = {k: v for k, v in INSPECT_OK.items() if k != "battery"}
    refused = world.step("tech_a", "RNG000001", "inspect", no_battery)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "battery"  # the ring has a battery
    _checklist(world, photos_required=0)  # the speaker: no battery, so no battery check
    received(world, "SPK000001")
    assert world.step("tech_a", "SPK000001", "inspect", no_battery).status_code == 200
    _checklist(world, "RNG-200", photos_required=0, packaging_check=False, accessories=[])
    no_packaging = {k: v for k, v in INSPECT_OK.items() if k != "packaging"}
    assert world.step("tech_a", "RNG000001", "inspect", no_packaging).status_code == 200


def test_a_swollen_battery_still_quarantines_whatever_the_checklist(world: World) -> None:
    _checklist(world, "RNG-200", photos_required=0)
    received(world, "RNG000001")
    response = world.step("tech_a", "RNG000001", "inspect", INSPECT_OK | {"battery": "swollen"})
    assert response.status_code == 200
    assert response.json()["state"] == "quarantined"


def test_the_grade_cites_the_products_own_cosmetic_criteria(world: World) -> None:
    from tests.processing.conftest import to_tested

    _checklist(world, photos_required=0)
    to_tested(world, "SPK000001")
    response = world.step("tech_a", "SPK000001", "grade", {"cosmetic": "B", "functional": "pass"})
    assert response.status_code == 200, response.text
    evidence = _inspected(world, "SPK000001")["evidence"]
    assert evidence["cosmetic_criterion"] == CHECKLIST["cosmetic_criteria"]["B"]
    assert evidence["checklist_version"] == 1


def test_a_unit_missing_an_accessory_is_never_sold_as_new(world: World) -> None:
    """Sealed, never activated, grade A and every test passed, but the checklist's quick start
    guide was not in the box: refurbished, and the grade says why."""
    _checklist(world, photos_required=0)
    received(world, "SPK000014")
    inspect = INSPECT_OK | {"packaging": "sealed", "accessories_present": ["power adapter"]}
    for step, body in (
        ("inspect", inspect),
        ("sanitize", SANITIZE_OK | {"account": "none_found"}),
        ("flash", FLASH_OK),
        ("test", TEST_OK),
    ):
        response = world.step("tech_a", "SPK000014", step, body)
        assert response.status_code == 200, response.text
    graded = world.step("tech_a", "SPK000014", "grade", {"cosmetic": "A", "functional": "pass"})
    assert graded.status_code == 200, graded.text
    assert graded.json()["may_sell_as_new"] is False
    assert graded.json()["condition_sku"] == "SPK-100-RF-A"
    why = graded.json()["history"][-1]["evidence"]["why"]
    assert "accessories missing: quick start guide" in why
