"""Each invariant of DESIGN.md, attacked through the API (the crash and race tests are in
test_crash_and_race.py)."""

from __future__ import annotations

import base64

from sqlalchemy import select

from backhaul.db import session_scope
from backhaul.kit import audit, signing
from backhaul.kit.audit import AuditRecord
from backhaul.kit.outbox import OutboxEvent
from tests.processing.conftest import (
    FLASH_OK,
    GOOD,
    INSPECT_OK,
    RIG,
    SANITIZE_OK,
    World,
    received,
    to_tested,
)


def _to_graded(world: World, serial: str, cosmetic: str = "B") -> None:
    to_tested(world, serial)
    assert (
        world.step(
            "tech_a", serial, "grade", {"cosmetic": cosmetic, "functional": "pass"}
        ).status_code
        == 200
    )


def test_1_a_new_current_release_blocks_sale_until_reflashed(world: World) -> None:
    _to_graded(world, "SPK000001")
    world.step("tech_a", "SPK000001", "disposition", {})
    response = world.call(
        "admin",
        "POST",
        "/api/v1/products/SPK-100/firmware",
        json={"version": "1.2.0", "sha256": "d" * 64, "size": 2048, "status": "current"},
    )
    assert response.status_code == 201
    packed = world.step("tech_a", "SPK000001", "repackage", {})
    assert packed.status_code == 409
    assert "current release (1.2.0)" in packed.json()["missing"]


def test_1_a_new_test_plan_blocks_sale_until_retested(world: World) -> None:
    _to_graded(world, "SPK000002")
    world.step("tech_a", "SPK000002", "disposition", {})
    world.call(
        "admin",
        "POST",
        "/api/v1/products/SPK-100/test-plans",
        json={"version": 2, "tests": [{"id": "speaker_db", "unit": "dB", "min": 85}]},
    )
    packed = world.step("tech_a", "SPK000002", "repackage", {})
    assert packed.status_code == 409
    assert "current plan (version 2)" in packed.json()["missing"]


def test_1_stock_on_a_release_no_longer_supported_is_listed_for_reflash(world: World) -> None:
    _to_graded(world, "SPK000003")
    world.step("tech_a", "SPK000003", "disposition", {})
    assert world.step("tech_a", "SPK000003", "repackage", {}).status_code == 200
    world.call(
        "admin",
        "POST",
        "/api/v1/products/SPK-100/firmware",
        json={"version": "1.2.0", "sha256": "d" * 64, "size": 2048, "status": "current"},
    )
    world.call(
        "admin", "PATCH", "/api/v1/products/SPK-100/firmware/1.1.0", json={"status": "deprecated"}
    )
    line = world.call("admin", "GET", "/api/v1/inventory").json()[0]
    assert (line["quantity"], line["needs_reflash"]) == (1, 1)


def test_2_no_route_hands_over_an_unwiped_unit(world: World) -> None:
    received(world, "SPK000004")
    world.step("tech_a", "SPK000004", "inspect", INSPECT_OK | {"battery": "leaking"})
    for route in ("repair", "recycle", "harvest", "return_to_customer", "restock"):
        override = world.step(
            "supervisor",
            "SPK000004",
            "disposition",
            {"route": route, "override_reason": "trying to skip the wipe"},
        )
        assert override.status_code == 409, route
        assert override.json()["missing"] == "sanitize"
    decided = world.step("tech_a", "SPK000004", "disposition", {})
    assert decided.json()["decision"]["route"] == "quarantine"
    assert decided.json()["state"] == "quarantined"
    failed_wipe = world.step(
        "tech_a", "SPK000004", "sanitize", SANITIZE_OK | {"verification_result": "failed"}
    )
    assert failed_wipe.json()["state"] == "quarantined"
    assert (
        world.step(
            "supervisor",
            "SPK000004",
            "disposition",
            {"route": "recycle", "override_reason": "wipe failed but try anyway"},
        ).status_code
        == 409
    )
    world.step("tech_a", "SPK000004", "sanitize", SANITIZE_OK | {"method": "destroy"})
    recycled = world.step("tech_a", "SPK000004", "disposition", {})
    assert recycled.json()["decision"]["route"] == "recycle"


def test_2_a_failed_inspection_is_wiped_before_it_is_recycled(world: World) -> None:
    received(world, "SPK000005")
    world.step("tech_a", "SPK000005", "inspect", INSPECT_OK | {"outcome": "fail"})
    assert world.step("tech_a", "SPK000005", "disposition", {}).status_code == 409
    world.step("tech_a", "SPK000005", "sanitize", SANITIZE_OK)
    decided = world.step("tech_a", "SPK000005", "disposition", {})
    decision = decided.json()["decision"]
    assert (decision["route"], decision["rule"], decision["reason"]) == (
        "recycle",
        "disposition-2026.1/I1",
        "failed inspection: recycle",
    )
    assert (
        world.step("tech_a", "SPK000005", "recycle", {"recycler": "RCY-1", "weight_g": 810}).json()[
            "state"
        ]
        == "recycled"
    )


def test_3_new_and_refurbished_stock_never_share_a_line(world: World) -> None:
    for serial, packaging, account, cosmetic in (
        ("SPK000006", "sealed", "none_found", "A"),
        ("SPK000007", "opened", "deactivated", "A"),
    ):
        received(world, serial)
        world.step("tech_a", serial, "inspect", INSPECT_OK | {"packaging": packaging})
        world.step("tech_a", serial, "sanitize", SANITIZE_OK | {"account": account})
        world.step("tech_a", serial, "flash", FLASH_OK)
        world.step("tech_a", serial, "test", {"plan": 1, "rig": RIG, "measurements": GOOD})
        world.step("tech_a", serial, "grade", {"cosmetic": cosmetic, "functional": "pass"})
        world.step("tech_a", serial, "disposition", {})
        assert world.step("tech_a", serial, "repackage", {}).status_code == 200
    stock = {
        (line["condition"], line["condition_sku"], line["quantity"])
        for line in world.call("admin", "GET", "/api/v1/inventory").json()
    }
    assert stock == {("new", "SPK-100", 1), ("RF-A", "SPK-100-RF-A", 1)}


def test_3_may_sell_as_new_cannot_be_sent_by_the_client(world: World) -> None:
    to_tested(world, "SPK000008")
    forged = world.step(
        "tech_a",
        "SPK000008",
        "grade",
        {"cosmetic": "A", "functional": "pass", "may_sell_as_new": True},
    )
    assert forged.status_code == 422
    assert forged.json()["errors"][0]["field"] == "body.may_sell_as_new"


def test_4_every_step_is_audited_and_a_refused_step_leaves_nothing(world: World) -> None:
    to_tested(world, "SPK000009")
    refused = world.step("tech_a", "SPK000009", "repackage", {})
    assert refused.status_code == 409
    with session_scope(write=False) as session:
        actions = list(
            session.scalars(
                select(AuditRecord.action)
                .where(AuditRecord.stream == "unit:SPK000009")
                .order_by(AuditRecord.seq)
            )
        )
        events = list(
            session.scalars(
                select(OutboxEvent.type)
                .where(OutboxEvent.subject == "unit:SPK000009")
                .order_by(OutboxEvent.id)
            )
        )
        report = audit.verify(session)
    expected = [
        "unit.authorize",
        "unit.ship",
        "unit.receive",
        "unit.inspect",
        "unit.sanitize",
        "unit.flash",
        "unit.test",
    ]
    assert actions == expected
    assert events == expected  # invariant 5: one event per change, none for the refusal
    assert report.intact


def test_5_outbox_events_carry_a_stable_id_and_the_change(world: World) -> None:
    received(world, "SPK000010")
    events = world.call("admin", "GET", "/api/v1/outbox", params={"limit": 500}).json()
    receive = next(
        e for e in events if e["type"] == "unit.receive" and e["subject"] == "unit:SPK000010"
    )
    assert len(receive["event_id"]) == 32
    assert receive["payload"]["after"]["state"] == "received"
    assert receive["payload"]["after"]["site"] == "HUB-A"
    again = world.call("admin", "GET", "/api/v1/outbox", params={"limit": 500}).json()
    assert receive in again  # the same id every time it is read


def test_7_a_sales_file_imported_twice_adds_nothing(world: World) -> None:
    rows = [
        {
            "serial": f"SPK9{n:05d}",
            "sku": "SPK-100",
            "order_ref": f"W-{n}",
            "customer_email": "w@example.com",
            "sold_at": "2026-03-01",
            "region": "EU",
            "channel": "retail",
            "price": "119.00",
            "currency": "EUR",
        }
        for n in range(50)
    ]
    first = world.call("admin", "POST", "/api/v1/units/import", json=rows).json()
    second = world.call("admin", "POST", "/api/v1/units/import", json=rows).json()
    assert (first["added"], first["duplicates"]) == (50, 0)
    assert (second["added"], second["duplicates"], second["rejected"]) == (0, 50, 0)


def test_8_a_bad_import_row_is_kept_with_its_reason_and_the_good_ones_go_in(world: World) -> None:
    rows = [
        {
            "serial": "SPK700001",
            "sku": "SPK-100",
            "order_ref": "B-1",
            "customer_email": "b@example.com",
            "sold_at": "2026-03-01",
            "region": "EU",
            "channel": "retail",
            "price": "119.00",
            "currency": "EUR",
        },
        {
            "serial": "BAD",
            "sku": "SPK-100",
            "order_ref": "B-2",
            "customer_email": "b@example.com",
            "sold_at": "2026-03-01",
            "region": "EU",
            "channel": "retail",
            "price": "119.00",
            "currency": "EUR",
        },
        {
            "serial": "SPK700003",
            "sku": "SPK-100",
            "order_ref": "B-3",
            "customer_email": "b@example.com",
            "sold_at": "not a date",
            "region": "EU",
            "channel": "retail",
            "price": "119.00",
            "currency": "EUR",
        },
    ]
    result = world.call("admin", "POST", "/api/v1/units/import", json=rows).json()
    assert (result["added"], result["rejected"]) == (1, 2)
    assert [(r["row"], r["field"]) for r in result["rejections"]] == [(2, "serial"), (3, "sold_at")]
    queue = world.call(
        "supervisor", "GET", "/api/v1/exceptions", params={"kind": "import_row"}
    ).json()
    assert {item["reference"] for item in queue} == {"BAD", "SPK700003"}
    world.call("admin", "POST", "/api/v1/units/import", json=rows)
    assert (
        len(
            world.call(
                "supervisor", "GET", "/api/v1/exceptions", params={"kind": "import_row"}
            ).json()
        )
        == 2
    )


def test_8_an_unknown_serial_at_the_dock_is_visible_to_a_supervisor(world: World) -> None:
    world.step("tech_a", "MYSTERY-9", "receive", {"site": "HUB-A"})
    queue = world.call(
        "supervisor", "GET", "/api/v1/exceptions", params={"kind": "unknown_serial"}
    ).json()
    assert [item["reference"] for item in queue] == ["MYSTERY-9"]
    assert world.call("tech_a", "GET", "/api/v1/exceptions").status_code == 403
    resolved = world.call(
        "supervisor",
        "POST",
        f"/api/v1/exceptions/{queue[0]['id']}/resolve",
        json={"resolution": "belongs to another brand; forwarded"},
    )
    assert resolved.status_code == 200
    assert (
        world.call(
            "supervisor", "GET", "/api/v1/exceptions", params={"kind": "unknown_serial"}
        ).json()
        == []
    )


def test_9_a_battery_hazard_stops_the_line_and_blocks_air_shipment(world: World) -> None:
    received(world, "SPK000011")
    hazard = world.step("tech_a", "SPK000011", "inspect", INSPECT_OK | {"battery": "swollen"})
    assert hazard.json()["state"] == "quarantined"
    assert hazard.json()["hazard"] == "battery_swollen"
    assert hazard.json()["air_shipment_blocked"] is True
    assert world.step("tech_a", "SPK000011", "flash", FLASH_OK).status_code == 409
    world.step("tech_a", "SPK000011", "sanitize", SANITIZE_OK)
    world.step(
        "supervisor",
        "SPK000011",
        "disposition",
        {"route": "return_to_customer", "override_reason": "customer wants it back as is"},
    )
    shipped = world.step(
        "tech_a",
        "SPK000011",
        "ship_to_customer",
        {"carrier": "UPS Air", "tracking_number": "1Z999"},
    )
    assert shipped.status_code == 409
    assert shipped.json()["missing"] == "ground_shipping"


def test_10_a_regulated_certificate_names_the_second_person_and_verifies(world: World) -> None:
    received(world, "RNG000001")
    world.step("tech_a", "RNG000001", "inspect", INSPECT_OK)
    same = world.step(
        "tech_a",
        "RNG000001",
        "sanitize",
        SANITIZE_OK | {"verified_by": "verifier.a", "method": "clear"},
    )
    assert same.status_code == 422
    world.step("tech_a", "RNG000001", "sanitize", SANITIZE_OK | {"verified_by": "verifier.a"})
    body = world.call("admin", "GET", "/api/v1/units/RNG000001/certificate").json()
    certificate = body["certificate"]
    assert certificate["regulated"] == "biometric"
    assert certificate["method"] == "purge"
    assert certificate["verified_by"] == "verifier.a"
    assert certificate["second_person_verified"] is True
    assert signing.verify(certificate, body["signature"])
    tampered = certificate | {"method": "clear"}
    assert not signing.verify(tampered, body["signature"])
    assert base64.b64decode(body["signature"])
