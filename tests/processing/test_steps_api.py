"""A unit from import to stock by API calls alone, and every refusal on the way."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from backhaul.catalog.models import Regulated
from backhaul.processing.states import State
from tests.processing.conftest import (
    FLASH_OK,
    GOOD,
    INSPECT_OK,
    RIG,
    SANITIZE_OK,
    SHA_OLD,
    World,
    received,
    to_flashed,
    to_tested,
)


def test_a_unit_goes_from_import_to_available_and_into_stock(world: World) -> None:
    serial = "spk000001 "  # normalised: trimmed and upper-cased
    assert world.unit(serial)["state"] == "in_field"
    to_tested(world, serial)
    graded = world.step("tech_a", serial, "grade", {"cosmetic": "B", "functional": "pass"})
    assert graded.json()["condition"] == "RF-B"
    assert graded.json()["may_sell_as_new"] is False
    decided = world.step("tech_a", serial, "disposition", {})
    assert decided.status_code == 200, decided.text
    assert decided.json()["decision"]["route"] == "restock"
    assert decided.json()["decision"]["rule"] == "disposition-2026.1/E1"
    assert decided.json()["state"] == "dispositioned"
    packed = world.step("tech_a", serial, "repackage", {})
    assert packed.status_code == 200, packed.text
    unit = packed.json()
    assert unit["state"] == "available"
    assert unit["condition_sku"] == "SPK-100-RF-B"
    assert unit["firmware_version"] == "1.1.0"
    assert packed.headers["etag"] == f'"{unit["version"]}"'
    steps = [entry["step"] for entry in world.unit("SPK000001")["history"]]
    assert steps == [
        "sell",
        "authorize",
        "ship",
        "receive",
        "inspect",
        "sanitize",
        "flash",
        "test",
        "grade",
        "disposition",
        "repackage",
    ]
    stock = world.call("admin", "GET", "/api/v1/inventory").json()
    assert stock == [
        {
            "sku": "SPK-100",
            "condition": "RF-B",
            "condition_sku": "SPK-100-RF-B",
            "site": "HUB-A",
            "quantity": 1,
            "needs_reflash": 0,
        }
    ]


def test_history_names_actor_time_site_and_evidence(world: World) -> None:
    to_tested(world, "SPK000002")
    history = world.unit("SPK000002")["history"]
    sanitize = next(entry for entry in history if entry["step"] == "sanitize")
    assert sanitize["actor"].startswith("key-")
    assert sanitize["site"] == "HUB-A"
    assert sanitize["evidence"]["method"] == "purge"
    assert sanitize["evidence"]["certificate_id"]
    assert sanitize["from_position"] == "inspected"
    assert sanitize["to_position"] == "sanitized"


def test_restock_without_sanitize_is_refused(world: World) -> None:
    received(world, "SPK000003")
    hazard = world.step("tech_a", "SPK000003", "inspect", INSPECT_OK | {"battery": "swollen"})
    assert hazard.json()["state"] == "quarantined"
    assert hazard.json()["air_shipment_blocked"] is True
    override = world.step(
        "supervisor",
        "SPK000003",
        "disposition",
        {"route": "restock", "override_reason": "customer says the battery is fine"},
    )
    assert override.status_code == 409
    assert override.json()["missing"] == "sanitize"
    packed = world.step("tech_a", "SPK000003", "repackage", {})
    assert packed.status_code == 409
    assert world.unit("SPK000003")["state"] == "quarantined"


def test_flash_to_a_deprecated_release_is_refused(world: World) -> None:
    received(world, "SPK000004")
    world.step("tech_a", "SPK000004", "inspect", INSPECT_OK)
    world.step("tech_a", "SPK000004", "sanitize", SANITIZE_OK)
    old = world.step(
        "tech_a",
        "SPK000004",
        "flash",
        FLASH_OK
        | {
            "release": "1.0.0",
            "image_sha256": SHA_OLD,
            "readback_version": "1.0.0",
            "readback_sha256": SHA_OLD,
        },
    )
    assert old.status_code == 422
    assert old.json()["errors"][0]["field"] == "release"
    assert "1.1.0" in old.json()["detail"]
    assert world.unit("SPK000004")["state"] == "sanitized"


def test_a_bad_readback_fails_the_flash_and_counts_attempts(world: World) -> None:
    received(world, "SPK000005")
    world.step("tech_a", "SPK000005", "inspect", INSPECT_OK)
    world.step("tech_a", "SPK000005", "sanitize", SANITIZE_OK)
    bad = world.step("tech_a", "SPK000005", "flash", FLASH_OK | {"readback_sha256": "c" * 64})
    assert bad.json()["state"] == "firmware_failed"
    assert bad.json()["failures"][0]["test"] == "readback_sha256"
    retry = world.step("tech_a", "SPK000005", "flash", FLASH_OK)
    assert retry.json()["state"] == "firmware_validated"
    flashes = [e for e in retry.json()["history"] if e["step"] == "flash"]
    assert [e["evidence"]["attempt"] for e in flashes] == [1, 2]


def test_a_value_out_of_limits_fails_the_test_naming_the_test(world: World) -> None:
    received(world, "SPK000006")
    for step, body in (("inspect", INSPECT_OK), ("sanitize", SANITIZE_OK), ("flash", FLASH_OK)):
        world.step("tech_a", "SPK000006", step, body)
    failed = world.step(
        "tech_a",
        "SPK000006",
        "test",
        {"plan": 1, "rig": RIG, "measurements": GOOD | {"speaker_db": 71.0}},
    )
    assert failed.status_code == 200
    assert failed.json()["state"] == "test_failed"
    assert failed.json()["failures"] == [
        {"test": "speaker_db", "reason": "below the minimum of 80.0 dB", "value": 71.0}
    ]
    missing = world.step(
        "tech_a", "SPK000006", "test", {"plan": 1, "rig": RIG, "measurements": {"speaker_db": 90}}
    )
    assert {f["test"] for f in missing.json()["failures"]} == {"wifi_rssi", "mic_ok"}
    routed = world.step("tech_a", "SPK000006", "disposition", {})
    assert routed.json()["decision"]["route"] == "repair"  # sold 2026-06, 12-month warranty


def test_a_supervisor_only_override_is_refused_to_a_technician(world: World) -> None:
    to_tested(world, "SPK000007")
    world.step("tech_a", "SPK000007", "grade", {"cosmetic": "A", "functional": "pass"})
    override = world.step(
        "tech_a",
        "SPK000007",
        "disposition",
        {"route": "harvest", "override_reason": "we need the speaker drivers"},
    )
    assert override.status_code == 403
    by_supervisor = world.step(
        "supervisor",
        "SPK000007",
        "disposition",
        {"route": "harvest", "override_reason": "we need the speaker drivers"},
    )
    assert by_supervisor.status_code == 200
    assert by_supervisor.json()["decision"]["rule"].startswith("override by")
    last = by_supervisor.json()["history"][-1]
    assert last["override_reason"] == "we need the speaker drivers"


def test_a_step_on_another_sites_unit_is_refused(world: World) -> None:
    received(world, "SPK000008")  # at HUB-A
    response = world.step("tech_b", "SPK000008", "inspect", INSPECT_OK)
    assert response.status_code == 404
    assert world.call("tech_b", "GET", "/api/v1/units/SPK000008").status_code == 404
    assert world.step("tech_b", "SPK000009", "receive", {"site": "HUB-A"}).status_code == 404


def test_an_illegal_step_names_the_missing_prerequisite(world: World) -> None:
    received(world, "SPK000010")
    response = world.step("tech_a", "SPK000010", "flash", FLASH_OK)
    assert response.status_code == 409
    body = response.json()
    assert body["type"].endswith("/illegal-transition")
    assert "sanitized (after a passed inspection)" in body["missing"]
    assert body["state"] == "received"


def test_a_stale_if_match_gets_412_and_changes_nothing(world: World) -> None:
    received(world, "SPK000011")
    version = world.unit("SPK000011")["version"]
    ok = world.step(
        "tech_a", "SPK000011", "inspect", INSPECT_OK, headers={"If-Match": f'"{version}"'}
    )
    assert ok.status_code == 200
    stale = world.step(
        "tech_a", "SPK000011", "sanitize", SANITIZE_OK, headers={"If-Match": f'"{version}"'}
    )
    assert stale.status_code == 412
    assert world.unit("SPK000011")["state"] == "inspected"


def test_a_retried_post_with_an_idempotency_key_returns_the_first_answer(world: World) -> None:
    received(world, "SPK000012")
    key = {"Idempotency-Key": "inspect-SPK000012-1"}
    first = world.step("tech_a", "SPK000012", "inspect", INSPECT_OK, headers=key)
    again = world.step("tech_a", "SPK000012", "inspect", INSPECT_OK, headers=key)
    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    steps = [e["step"] for e in world.unit("SPK000012")["history"]]
    assert steps.count("inspect") == 1
    reused = world.step("tech_a", "SPK000012", "inspect", INSPECT_OK | {"notes": "x"}, headers=key)
    assert reused.status_code == 409


def test_an_unknown_serial_at_the_dock_goes_to_the_exception_queue(world: World) -> None:
    response = world.step("tech_a", "NOPE-123", "receive", {"site": "HUB-A"})
    assert response.status_code == 202
    assert response.json()["queued"] is True
    assert "NOPE-123" in response.json()["reason"]
    unannounced = world.step("tech_a", "SPK000013", "receive", {"site": "HUB-A"})
    assert unannounced.status_code == 200
    assert unannounced.json()["history"][-1]["evidence"]["unmatched"] is True


def test_regulated_products_need_purge_and_a_second_person(world: World) -> None:
    received(world, "RNG000001")
    world.step("tech_a", "RNG000001", "inspect", INSPECT_OK)
    clear = world.step(
        "tech_a",
        "RNG000001",
        "sanitize",
        SANITIZE_OK | {"method": "clear", "verified_by": "verifier.a"},
    )
    assert clear.status_code == 422
    assert clear.json()["errors"][0]["field"] == "method"
    alone = world.step("tech_a", "RNG000001", "sanitize", SANITIZE_OK)
    assert alone.status_code == 422
    assert alone.json()["errors"][0]["field"] == "verified_by"
    verified = world.step(
        "tech_a", "RNG000001", "sanitize", SANITIZE_OK | {"verified_by": "verifier.a"}
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["state"] == "sanitized"


def test_a_sealed_never_activated_unit_may_be_sold_as_new_and_others_never(world: World) -> None:
    received(world, "SPK000014")
    world.step("tech_a", "SPK000014", "inspect", INSPECT_OK | {"packaging": "sealed"})
    world.step("tech_a", "SPK000014", "sanitize", SANITIZE_OK | {"account": "none_found"})
    world.step("tech_a", "SPK000014", "flash", FLASH_OK)
    world.step("tech_a", "SPK000014", "test", {"plan": 1, "rig": RIG, "measurements": GOOD})
    graded = world.step("tech_a", "SPK000014", "grade", {"cosmetic": "A", "functional": "pass"})
    assert graded.json()["may_sell_as_new"] is True
    assert graded.json()["condition_sku"] == "SPK-100"
    # Same, but the account had been bound: refurbished, whatever the box looked like.
    received(world, "SPK000015")
    world.step("tech_a", "SPK000015", "inspect", INSPECT_OK | {"packaging": "sealed"})
    world.step("tech_a", "SPK000015", "sanitize", SANITIZE_OK)
    world.step("tech_a", "SPK000015", "flash", FLASH_OK)
    world.step("tech_a", "SPK000015", "test", {"plan": 1, "rig": RIG, "measurements": GOOD})
    graded = world.step("tech_a", "SPK000015", "grade", {"cosmetic": "A", "functional": "pass"})
    assert graded.json()["may_sell_as_new"] is False
    assert graded.json()["condition_sku"] == "SPK-100-RF-A"


def test_the_step_paths_reads_on_the_driver_give_what_sqlalchemy_gives(world: World) -> None:
    """The unit's read and its history run on the driver (kit/prepared.py): every value (UTC
    timestamps, dates, decimals, enums, booleans, JSON evidence, None) as SQLAlchemy's own
    execution of the same statement gives it."""
    from backhaul.db import session_scope
    from backhaul.processing import store

    to_tested(world, "SPK000001")
    with session_scope(write=False) as session:
        through_sqlalchemy = session.connection().execute
        by_serial = {"serial": "SPK000001"}
        (unit_row,) = store._SELECT_UNIT.rows(session, by_serial)
        assert [unit_row] == [
            tuple(r) for r in through_sqlalchemy(store._SELECT_UNIT.statement, by_serial)
        ]
        by_unit = {"unit_id": unit_row[0]}
        steps = store._SELECT_STEPS.rows(session, by_unit)
        assert steps == [
            tuple(r) for r in through_sqlalchemy(store._SELECT_STEPS.statement, by_unit)
        ]
    unit = store.UnitState(*unit_row)
    assert unit.state is State.tested and unit.regulated is Regulated.none
    assert unit.sold_at.tzinfo is not None and unit.sold_at.utcoffset() == timedelta(0)
    assert type(unit.warranty_end) is date and isinstance(unit.price, Decimal)
    assert unit.ever_activated is True and unit.site_labour_rate == Decimal("32.50")
    history = [store.StepRow(*row) for row in steps]
    assert [row.step for row in history][-3:] == ["sanitize", "flash", "test"]
    assert all(row.at.utcoffset() == timedelta(0) for row in history)
    assert history[-1].evidence["measurements"] == GOOD


def _refusal(response: Any, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field
    return str(response.json()["detail"])


def test_a_unit_is_received_only_at_a_hub_the_technician_works_at(world: World) -> None:
    serial = "SPK000007"
    for step, body in (
        ("authorize", {"rma": "RMA-7", "reason": "defect.hardware", "resolution": "refund"}),
        ("ship", {"carrier": "UPS", "tracking_number": f"1Z{serial}"}),
    ):
        assert world.step("admin", serial, step, body).status_code == 200
    other_hub = world.step("tech_a", serial, "receive", {"site": "HUB-B"})
    assert _refusal(other_hub, 404, "site") == "no site 'HUB-B' that you work at"
    unknown = world.step("tech_a", serial, "receive", {"site": "NOPE-1"})
    assert _refusal(unknown, 404, "site") == "no site 'NOPE-1' that you work at"
    partner = world.step("admin", serial, "receive", {"site": "fix-1"})
    assert _refusal(partner, 422, "site") == "site FIX-1 is a repair_partner"
    assert world.unit(serial)["state"] == "in_transit"
    received = world.step("tech_a", serial, "receive", {"site": " hub-a "})
    assert received.status_code == 200, received.text
    assert (received.json()["state"], received.json()["site"]) == ("received", "HUB-A")


def test_a_unit_goes_to_repair_only_at_a_repair_partner(world: World) -> None:
    serial = "SPK000008"
    to_tested(world, serial, role="tech_a")
    graded = world.step("tech_a", serial, "grade", {"cosmetic": "B", "functional": "fail"})
    assert graded.status_code == 200, graded.text
    decided = world.step("tech_a", serial, "disposition", {})
    assert decided.json()["decision"]["route"] == "repair", decided.text
    recycler = world.step("tech_a", serial, "send_to_repair", {"partner": "RCY-1"})
    assert _refusal(recycler, 422, "partner") == "no repair partner site 'RCY-1'"
    sent = world.step("tech_a", serial, "send_to_repair", {"partner": "fix-1"})
    assert sent.status_code == 200, sent.text
    assert (sent.json()["state"], sent.json()["site"]) == ("in_repair", "FIX-1")


def _post_json_text(world: World, role: str, path: str, text: str) -> Any:
    """POST a body as written: what a client may send that no JSON encoder would."""
    headers = {"content-type": "application/json"}
    return world.call(role, "POST", path, content=text.encode(), headers=headers)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_measurement_that_is_not_a_finite_number_is_refused_and_the_unit_stays_readable(
    world: World, literal: str
) -> None:
    """Python's JSON reader takes NaN and Infinity; the answer, which must be JSON, could not
    carry them. Once such a step was committed and then failed to answer, and the unit's page
    and record failed with it."""
    to_flashed(world, "SPK000009")
    before = world.unit("SPK000009")
    raw = (
        '{"plan": 1, "rig": "RIG-1", "measurements": '
        f'{{"speaker_db": {literal}, "wifi_rssi": -48, "mic_ok": true}}}}'
    )
    response = _post_json_text(world, "tech_a", "/api/v1/units/SPK000009/steps/test", raw)
    assert response.status_code == 422, response.text
    assert [(e["field"], e["message"]) for e in response.json()["errors"]] == [
        (
            "body.measurements.speaker_db",
            "Value error, must be a finite number (JSON has no NaN or Infinity)",
        )
    ]
    assert world.unit("SPK000009") == before


def test_a_test_plan_limit_that_is_not_a_finite_number_is_refused(world: World) -> None:
    raw = '{"version": 9, "tests": [{"id": "gain", "unit": "dB", "equals": NaN}]}'
    response = _post_json_text(world, "admin", "/api/v1/products/SPK-100/test-plans", raw)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body.tests.0.equals"


def test_a_step_whose_answer_cannot_be_sent_is_not_kept(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is rendered before the commit: when it cannot be rendered, the client gets a
    500 and the step is rolled back, rather than kept behind an error."""
    from backhaul.processing import service

    received(world, "SPK000010")
    before = world.unit("SPK000010")
    real_view = service.unit_view
    monkeypatch.setattr(
        service, "unit_view", lambda *args: real_view(*args) | {"broken": float("nan")}
    )
    response = world.step("tech_a", "SPK000010", "inspect", INSPECT_OK)
    assert response.status_code == 500
    monkeypatch.undo()
    assert world.unit("SPK000010") == before


def test_a_steps_records_carry_its_request_id(world: World) -> None:
    """The step runs in a thread of its own pool (`run_write`); what it records still names
    the request it came from."""
    received(world, "SPK000011")
    response = world.step(
        "tech_a", "SPK000011", "inspect", INSPECT_OK, headers={"X-Request-ID": "trace-step-7"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "trace-step-7"
    trail = world.call(
        "admin", "GET", "/api/v1/audit", params={"object_type": "unit", "object_id": "SPK000011"}
    )
    assert trail.status_code == 200, trail.text
    last = trail.json()[-1]
    assert (last["action"], last["request_id"]) == ("unit.inspect", "trace-step-7")
