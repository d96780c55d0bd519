"""Test rigs at sites and their calibration records: the rule, the API and the CLI."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backhaul.catalog.rigs import Calibration, RigStatus, verdict
from backhaul.cli import app as cli
from tests.conftest import TokenFactory, bearer, site_payload

TODAY = date(2026, 11, 1)


def test_a_calibration_is_due_on_its_due_date_not_the_day_after() -> None:
    calibration = Calibration(date(2025, 11, 1), date(2026, 11, 1), "CAL-123")
    due = verdict("RIG-1", True, calibration, TODAY)
    assert due.status is RigStatus.due and not due.usable
    assert due.refusal == (
        "calibration of RIG-1 is due on 2026-11-01 (certificate CAL-123); "
        "recalibrate it before testing"
    )
    overdue = verdict("RIG-1", True, calibration, TODAY + timedelta(days=3))
    assert overdue.refusal is not None and "was due on 2026-11-01" in overdue.refusal
    day_before = verdict("RIG-1", True, calibration, TODAY - timedelta(days=1))
    assert day_before.usable and day_before.status is RigStatus.calibrated


def test_an_uncalibrated_or_inactive_rig_is_not_usable() -> None:
    assert verdict("RIG-1", True, None, TODAY).status is RigStatus.uncalibrated
    current = Calibration(date(2026, 10, 1), date(2027, 10, 1), "CAL-9")
    inactive = verdict("RIG-1", False, current, TODAY)
    assert inactive.status is RigStatus.inactive
    assert inactive.refusal is not None and "not in service" in inactive.refusal


@pytest.fixture
def tokens(client: TestClient, admin_token: str, make_token: TokenFactory) -> dict[str, str]:
    admin = bearer(admin_token)
    for payload in (site_payload(code="HUB-A"), site_payload(code="HUB-B", name="Hub B")):
        assert client.post("/api/v1/sites", json=payload, headers=admin).status_code == 201
    return {
        "admin": admin_token,
        "supervisor_a": make_token("supervisor", sites=["HUB-A"]),
        "tech_a": make_token("technician", sites=["HUB-A"]),
    }


def call(client: TestClient, token: str, method: str, path: str, **kwargs: Any) -> Any:
    return client.request(method, f"/api/v1{path}", headers=bearer(token), **kwargs)


def calibration(calibrated: date, due: date, ref: str) -> dict[str, str]:
    return {
        "calibrated_on": calibrated.isoformat(),
        "due_on": due.isoformat(),
        "certificate_ref": ref,
    }


def test_a_rig_gets_calibrations_and_the_newest_one_is_current(
    client: TestClient, tokens: dict[str, str]
) -> None:
    sup = tokens["supervisor_a"]
    rig = {"code": "rig-1", "name": "Audio bench", "kind": "audio bench"}
    created = call(client, sup, "POST", "/sites/HUB-A/rigs", json=rig)
    assert created.status_code == 201, created.text
    assert created.json() | {"calibrations": None} == {
        "site": "HUB-A",
        "code": "RIG-1",
        "name": "Audio bench",
        "kind": "audio bench",
        "active": True,
        "status": "uncalibrated",
        "refusal": "rig RIG-1 has no calibration record; calibrate it before testing",
        "calibration": None,
        "calibrations": None,
    }
    today = date.today()
    old = calibration(today - timedelta(days=400), today - timedelta(days=35), "CAL-OLD")
    response = call(client, sup, "POST", "/sites/HUB-A/rigs/RIG-1/calibrations", json=old)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "due"
    assert "was due on" in response.json()["refusal"]
    new = calibration(today - timedelta(days=2), today + timedelta(days=363), "CAL-NEW")
    response = call(client, sup, "POST", "/sites/HUB-A/rigs/RIG-1/calibrations", json=new)
    assert response.json()["status"] == "calibrated"
    assert response.json()["refusal"] is None

    one = call(client, tokens["tech_a"], "GET", "/sites/HUB-A/rigs/rig-1").json()
    assert one["calibration"]["certificate_ref"] == "CAL-NEW"
    assert [c["certificate_ref"] for c in one["calibrations"]] == ["CAL-NEW", "CAL-OLD"]
    assert all(c["recorded_by"].startswith("key-") for c in one["calibrations"])  # who, audited
    listed = call(client, tokens["tech_a"], "GET", "/sites/HUB-A/rigs").json()
    assert [(r["code"], r["status"]) for r in listed] == [("RIG-1", "calibrated")]

    trail = call(
        client,
        tokens["admin"],
        "GET",
        "/audit",
        params={"object_type": "test_rig", "object_id": "HUB-A/RIG-1"},
    ).json()
    assert [r["action"] for r in trail] == [
        "test_rig.created",
        "test_rig.calibrated",
        "test_rig.calibrated",
    ]
    assert trail[2]["before"]["certificate_ref"] == "CAL-OLD"
    assert trail[2]["after"]["certificate_ref"] == "CAL-NEW"


def test_bad_calibrations_and_duplicate_rigs_are_named(
    client: TestClient, tokens: dict[str, str]
) -> None:
    admin = tokens["admin"]
    rig = {"code": "RIG-1", "name": "Audio bench", "kind": "audio bench"}
    assert call(client, admin, "POST", "/sites/HUB-A/rigs", json=rig).status_code == 201
    again = call(client, admin, "POST", "/sites/HUB-A/rigs", json=rig)
    assert (again.status_code, again.json()["errors"][0]["field"]) == (409, "code")
    # The same code at another site is another rig.
    assert call(client, admin, "POST", "/sites/HUB-B/rigs", json=rig).status_code == 201

    today = date.today()
    path = "/sites/HUB-A/rigs/RIG-1/calibrations"
    backwards = calibration(today, today - timedelta(days=1), "CAL-1")
    response = call(client, admin, "POST", path, json=backwards)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.due_on"
    future = calibration(today + timedelta(days=5), today + timedelta(days=400), "CAL-1")
    response = call(client, admin, "POST", path, json=future)
    assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "calibrated_on")
    no_ref = calibration(today, today + timedelta(days=300), "")
    assert call(client, admin, "POST", path, json=no_ref).status_code == 422
    unknown = call(client, admin, "POST", "/sites/HUB-A/rigs/RIG-9/calibrations", json=no_ref)
    assert unknown.status_code in (404, 422)
    assert call(client, admin, "GET", "/sites/HUB-A/rigs/RIG-1").json()["calibrations"] == []


def test_rigs_are_scoped_by_site_and_managed_by_supervisors(
    client: TestClient, tokens: dict[str, str]
) -> None:
    rig = {"code": "RIG-1", "name": "Audio bench", "kind": "audio bench"}
    assert call(client, tokens["admin"], "POST", "/sites/HUB-B/rigs", json=rig).status_code == 201
    # HUB-B is outside the HUB-A people's sites: as if it did not exist.
    for token in (tokens["supervisor_a"], tokens["tech_a"]):
        assert call(client, token, "GET", "/sites/HUB-B/rigs").status_code == 404
        assert call(client, token, "GET", "/sites/HUB-B/rigs/RIG-1").status_code == 404
    refused = call(client, tokens["tech_a"], "POST", "/sites/HUB-A/rigs", json=rig)
    assert refused.status_code == 403
    today = date.today()
    cal = calibration(today, today + timedelta(days=300), "CAL-1")
    tech_cal = call(
        client, tokens["tech_a"], "POST", "/sites/HUB-B/rigs/RIG-1/calibrations", json=cal
    )
    assert tech_cal.status_code == 404


def test_a_rig_taken_out_of_service_is_refused(client: TestClient, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    rig = {"code": "RIG-1", "name": "Audio bench", "kind": "audio bench"}
    assert call(client, admin, "POST", "/sites/HUB-A/rigs", json=rig).status_code == 201
    patched = call(client, admin, "PATCH", "/sites/HUB-A/rigs/RIG-1", json={"active": False})
    assert patched.status_code == 200
    assert (patched.json()["active"], patched.json()["status"]) == (False, "inactive")


def test_cli_adds_calibrates_and_lists_rigs(client: TestClient, tokens: dict[str, str]) -> None:
    runner = CliRunner()
    today = date.today()
    added = runner.invoke(
        cli, ["rigs", "add", "HUB-A", "rig-7", "--name", "RF box", "--kind", "RF enclosure"]
    )
    assert added.exit_code == 0, added.output
    calibrated = runner.invoke(
        cli,
        [
            "rigs",
            "calibrate",
            "HUB-A",
            "RIG-7",
            "--calibrated-on",
            (today - timedelta(days=10)).isoformat(),
            "--due-on",
            (today + timedelta(days=355)).isoformat(),
            "--certificate",
            "CAL-777",
        ],
    )
    assert calibrated.exit_code == 0, calibrated.output
    listed = runner.invoke(cli, ["rigs", "list", "HUB-A"])
    assert listed.exit_code == 0, listed.output
    assert "RIG-7" in listed.output and "calibrated" in listed.output
    assert "CAL-777" in listed.output
    bad = runner.invoke(
        cli,
        [
            "rigs",
            "calibrate",
            "HUB-A",
            "RIG-7",
            "--calibrated-on",
            "2026-02-30",
            "--due-on",
            "2027-01-01",
            "--certificate",
            "X",
        ],
    )
    assert bad.exit_code == 2 and "calibrated_on" in bad.output
    retired = runner.invoke(cli, ["rigs", "set-active", "HUB-A", "RIG-7", "--inactive"])
    assert retired.exit_code == 0, retired.output
    rig = call(client, tokens["admin"], "GET", "/sites/HUB-A/rigs/RIG-7").json()
    assert rig["status"] == "inactive"
