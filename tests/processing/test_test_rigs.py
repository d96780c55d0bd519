"""The test step is taken on a rig at the unit's site whose calibration is current."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.processing.conftest import (
    GOOD,
    RIG,
    TEST_OK,
    World,
    calibration,
    to_flashed,
)

HUB_A_TODAY = datetime.now(ZoneInfo("America/Chicago")).date()  # HUB-A's time zone


def add_rig(
    world: World, code: str, site: str = "HUB-A", cal: dict[str, Any] | None = None
) -> None:
    rig = {"code": code, "name": f"Bench {code}", "kind": "audio bench"}
    response = world.call("admin", "POST", f"/api/v1/sites/{site}/rigs", json=rig)
    assert response.status_code == 201, response.text
    if cal is not None:
        path = f"/api/v1/sites/{site}/rigs/{code}/calibrations"
        response = world.call("admin", "POST", path, json=cal)
        assert response.status_code == 201, response.text


def refused(world: World, serial: str, rig: str) -> str:
    """Test on `rig`: it must be refused naming `rig`, the unit left as it was."""
    before = world.unit(serial)
    response = world.step("tech_a", serial, "test", TEST_OK | {"rig": rig})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "rig"
    after = world.unit(serial)
    assert (after["state"], after["version"], len(after["history"])) == (
        before["state"],
        before["version"],
        len(before["history"]),
    )
    return str(response.json()["detail"])


def test_a_test_on_a_calibrated_rig_records_the_rig_and_its_calibration(world: World) -> None:
    to_flashed(world, "SPK000001")
    response = world.step("tech_a", "SPK000001", "test", TEST_OK)
    assert response.status_code == 200, response.text
    assert (response.json()["outcome"], response.json()["state"]) == ("pass", "tested")
    evidence = response.json()["history"][-1]["evidence"]
    assert evidence["rig"] == RIG
    rig = world.call("tech_a", "GET", f"/api/v1/sites/HUB-A/rigs/{RIG}").json()
    assert evidence["rig_calibration"] == {
        "id": rig["calibration"]["id"],
        "certificate_ref": "CAL-HUB-A",
        "calibrated_on": rig["calibration"]["calibrated_on"],
        "due_on": rig["calibration"]["due_on"],
    }


def test_a_rig_whose_calibration_is_due_today_at_the_site_is_refused(world: World) -> None:
    add_rig(
        world,
        "RIG-DUE",
        cal={
            "calibrated_on": (HUB_A_TODAY - timedelta(days=365)).isoformat(),
            "due_on": HUB_A_TODAY.isoformat(),
            "certificate_ref": "CAL-123",
        },
    )
    add_rig(
        world,
        "RIG-TOMORROW",
        cal={
            "calibrated_on": (HUB_A_TODAY - timedelta(days=364)).isoformat(),
            "due_on": (HUB_A_TODAY + timedelta(days=1)).isoformat(),
            "certificate_ref": "CAL-124",
        },
    )
    to_flashed(world, "SPK000002")
    detail = refused(world, "SPK000002", "RIG-DUE")
    assert detail == (
        f"calibration of RIG-DUE is due on {HUB_A_TODAY.isoformat()} (certificate CAL-123); "
        "recalibrate it before testing"
    )
    response = world.step("tech_a", "SPK000002", "test", TEST_OK | {"rig": "RIG-TOMORROW"})
    assert response.status_code == 200, response.text
    assert response.json()["history"][-1]["evidence"]["rig_calibration"]["certificate_ref"] == (
        "CAL-124"
    )


def test_an_overdue_rig_is_refused_until_it_is_recalibrated(world: World) -> None:
    add_rig(world, "RIG-OLD", cal=calibration(days_ago=400, days_left=-35, ref="CAL-OLD"))
    to_flashed(world, "SPK000003")
    detail = refused(world, "SPK000003", "RIG-OLD")
    assert "calibration of RIG-OLD was due on" in detail and "(certificate CAL-OLD)" in detail
    path = "/api/v1/sites/HUB-A/rigs/RIG-OLD/calibrations"
    response = world.call("supervisor", "POST", path, json=calibration(days_ago=1, ref="CAL-NEW"))
    assert response.status_code == 201, response.text
    passed = world.step("tech_a", "SPK000003", "test", TEST_OK | {"rig": "rig-old"})
    assert passed.status_code == 200, passed.text
    assert passed.json()["history"][-1]["evidence"]["rig_calibration"]["certificate_ref"] == (
        "CAL-NEW"
    )


def test_a_calibration_recorded_late_with_an_older_date_does_not_vouch_for_the_rig(
    world: World,
) -> None:
    """The current calibration is the newest by calibration date, not the last recorded."""
    add_rig(world, "RIG-LATE", cal=calibration(days_ago=2, ref="CAL-CURRENT"))
    path = "/api/v1/sites/HUB-A/rigs/RIG-LATE/calibrations"
    older = calibration(days_ago=400, days_left=-35, ref="CAL-PAPERWORK")
    assert world.call("supervisor", "POST", path, json=older).status_code == 201
    to_flashed(world, "SPK000004")
    passed = world.step("tech_a", "SPK000004", "test", TEST_OK | {"rig": "RIG-LATE"})
    assert passed.status_code == 200, passed.text
    vouching = passed.json()["history"][-1]["evidence"]["rig_calibration"]
    assert vouching["certificate_ref"] == "CAL-CURRENT"


@pytest.mark.parametrize(
    ("rig", "reason"),
    [
        ("RIG-NOPE", "site HUB-A has no test rig 'RIG-NOPE'"),
        ("RIG-B", "site HUB-A has no test rig 'RIG-B'"),  # HUB-B's rig, not this site's
        ("RIG-NEW", "rig RIG-NEW has no calibration record; calibrate it before testing"),
        ("RIG-OFF", "rig RIG-OFF is not in service; use another rig or reactivate it"),
    ],
)
def test_unknown_uncalibrated_and_retired_rigs_are_refused(
    world: World, rig: str, reason: str
) -> None:
    add_rig(world, "RIG-B", site="HUB-B", cal=calibration())
    add_rig(world, "RIG-NEW")
    add_rig(world, "RIG-OFF", cal=calibration())
    patch = world.call("admin", "PATCH", "/api/v1/sites/HUB-A/rigs/RIG-OFF", json={"active": False})
    assert patch.status_code == 200
    to_flashed(world, "SPK000004")
    assert refused(world, "SPK000004", rig) == reason


def test_the_rig_is_required(world: World) -> None:
    to_flashed(world, "SPK000005")
    response = world.step("tech_a", "SPK000005", "test", {"plan": 1, "measurements": GOOD})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.rig"
    assert world.unit("SPK000005")["state"] == "firmware_validated"
