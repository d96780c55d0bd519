"""No sanitize pass without the account's confirmation: the station's word is not enough; the
confirmation must come from the cloud the unit's brand deactivates through, and an account still
bound quarantines the unit with the reason."""

from __future__ import annotations

from typing import Any

import pytest

from tests.processing.conftest import INSPECT_OK, SANITIZE_OK, World, received

CLOUD = "https://cloud.lumen.example/v1"
WIPE = {k: v for k, v in SANITIZE_OK.items() if k != "account_confirmation"}


def inspected(world: World, serial: str) -> None:
    received(world, serial)
    assert world.step("tech_a", serial, "inspect", INSPECT_OK).status_code == 200


def brand_cloud(world: World, url: str | None) -> None:
    response = world.call(
        "admin", "PATCH", "/api/v1/brands/default", json={"device_cloud_url": url}
    )
    assert response.status_code == 200, response.text


def cloud_confirmation(url: str = CLOUD, serial: str = "SPK000001") -> dict[str, Any]:
    return {
        "source": "device_cloud",
        "reference": "LUM-1",
        "response": {
            "url": f"{url}/devices/{serial}/deactivation",
            "status_code": 200,
            "body": '{"status": "deactivated", "reference": "LUM-1"}',
            "attempts": [{"attempt": 1, "status_code": 200, "elapsed_ms": 41.5}],
        },
    }


def refused(world: World, serial: str, body: dict[str, Any], field: str) -> None:
    """The step is refused naming `field`, and nothing about the unit changed."""
    before = world.unit(serial)
    response = world.step("tech_a", serial, "sanitize", body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field], response.json()
    after = world.unit(serial)
    assert (after["state"], after["version"], len(after["history"])) == (
        before["state"],
        before["version"],
        len(before["history"]),
    )
    assert world.call("admin", "GET", f"/api/v1/units/{serial}/certificate").status_code == 404


@pytest.mark.parametrize("account", ["deactivated", "none_found"])
def test_a_pass_without_a_confirmation_is_refused_naming_the_field(
    world: World, account: str
) -> None:
    inspected(world, "SPK000001")
    refused(world, "SPK000001", WIPE | {"account": account}, "account_confirmation")


def test_a_confirmation_without_the_clouds_reference_is_refused(world: World) -> None:
    inspected(world, "SPK000001")
    body = WIPE | {"account_confirmation": {"source": "manual"}}
    refused(world, "SPK000001", body, "account_confirmation.reference")


def test_a_confirmation_of_an_unknown_kind_is_invalid_input(world: World) -> None:
    inspected(world, "SPK000001")
    body = WIPE | {"account_confirmation": {"source": "telepathy", "reference": "R"}}
    refused(world, "SPK000001", body, "body.account_confirmation.source")


def test_a_brand_with_a_cloud_needs_its_clouds_confirmation(world: World) -> None:
    brand_cloud(world, CLOUD)
    inspected(world, "SPK000001")
    adapter_said = WIPE | {"account_confirmation": {"source": "device_adapter", "reference": "X"}}
    refused(world, "SPK000001", adapter_said, "account_confirmation.source")
    elsewhere = WIPE | {"account_confirmation": cloud_confirmation("https://evil.example/v1")}
    refused(world, "SPK000001", elsewhere, "account_confirmation.response.url")
    no_exchange = WIPE | {"account_confirmation": {"source": "device_cloud", "reference": "X"}}
    refused(world, "SPK000001", no_exchange, "account_confirmation.response.url")

    passed = world.step(
        "tech_a", "SPK000001", "sanitize", WIPE | {"account_confirmation": cloud_confirmation()}
    )
    assert passed.status_code == 200, passed.text
    assert (passed.json()["state"], passed.json()["outcome"]) == ("sanitized", "pass")


def test_a_cloud_confirmation_for_a_brand_without_a_cloud_is_refused(world: World) -> None:
    inspected(world, "SPK000001")
    body = WIPE | {"account_confirmation": cloud_confirmation()}
    refused(world, "SPK000001", body, "account_confirmation.source")


def test_a_reference_typed_in_from_the_clouds_portal_is_accepted(world: World) -> None:
    brand_cloud(world, CLOUD)
    inspected(world, "SPK000001")
    body = WIPE | {"account_confirmation": {"source": "manual", "reference": "PORTAL-991"}}
    response = world.step("tech_a", "SPK000001", "sanitize", body)
    assert response.status_code == 200 and response.json()["state"] == "sanitized"
    certificate = world.call("admin", "GET", "/api/v1/units/SPK000001/certificate").json()
    assert certificate["certificate"]["account_deactivation"] == {
        "status": "deactivated",
        "confirmed_by": "manual",
        "reference": "PORTAL-991",
        "endpoint": None,
        "http_status": None,
        "attempts": None,
    }


def test_still_bound_quarantines_the_unit_with_the_clouds_reason(world: World) -> None:
    brand_cloud(world, CLOUD)
    inspected(world, "SPK000001")
    confirmation = cloud_confirmation() | {
        "reference": None,
        "reason": "the device cloud keeps the account bound (HTTP 423): owner lock",
    }
    body = WIPE | {"account": "still_bound", "account_confirmation": confirmation}
    response = world.step("tech_a", "SPK000001", "sanitize", body)
    assert response.status_code == 200, response.text
    result = response.json()
    reason = (
        "the device-cloud account is still bound: "
        "the device cloud keeps the account bound (HTTP 423): owner lock"
    )
    assert (result["outcome"], result["state"]) == ("fail", "quarantined")
    assert result["failures"] == [{"test": "account", "reason": reason}]
    assert result["certificate_id"] is None
    unit = world.unit("SPK000001")
    assert unit["quarantine_reason"] == reason
    assert unit["history"][-1]["evidence"]["account_confirmation"]["reason"].endswith("owner lock")
    # Quarantined units stay visible to the supervisor's API, and the reason stays with the unit
    # until a later step moves it on.
    assert world.unit("SPK000001", role="supervisor")["quarantine_reason"] == reason


def test_still_bound_without_a_confirmation_still_quarantines(world: World) -> None:
    inspected(world, "SPK000001")
    response = world.step("tech_a", "SPK000001", "sanitize", WIPE | {"account": "still_bound"})
    assert response.json()["state"] == "quarantined"
    assert world.unit("SPK000001")["quarantine_reason"] == "the device-cloud account is still bound"


def test_a_unit_not_quarantined_has_no_quarantine_reason(world: World) -> None:
    inspected(world, "SPK000001")
    assert world.unit("SPK000001")["quarantine_reason"] is None
