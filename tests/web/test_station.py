"""Station, console and stock pages over HTTP: a technician takes a unit to stock through the
step service, a failing test asks for fault codes and is routed by the engine, a supervisor
overrides a route with a reason, and a technician only sees units at their own site."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import photo_bytes
from tests.processing.conftest import (  # noqa: F401
    GOOD,
    RIG,
    SHA_CURRENT,
    World,
    calibration,
    received,
    world,
)

BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def _version(html: str) -> str:
    match = re.search(r'name="version" value="(\d+)"', html)
    assert match
    return match.group(1)


def _browser(app: Any, make_user: Any, username: str, role: str, sites: list[str]) -> TestClient:
    make_user(username, role, sites=sites)
    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/login", headers=BROWSER)
    form = {
        "username": username,
        "password": "correct-horse",
        "csrf": _csrf(page.text),
        "next": "/",
    }
    assert (
        client.post("/login", data=form, headers=BROWSER, follow_redirects=False).status_code == 303
    )
    return client


def _next_step(html: str) -> str:
    match = re.search(r'id="next-step">Next: (\w+)<', html)
    assert match, html
    return match.group(1)


def _record(client: TestClient, serial: str, fields: dict[str, str]) -> Any:
    page = client.get(f"/station/units/{serial}", headers=BROWSER)
    step = _next_step(page.text)
    form = {"csrf": _csrf(page.text), "version": _version(page.text)} | fields
    return step, client.post(f"/station/units/{serial}/steps/{step}", data=form, headers=BROWSER)


@pytest.fixture
def tech(world: World, app: Any, make_user: Any) -> TestClient:  # noqa: F811
    return _browser(app, make_user, "tech.web", "technician", ["HUB-A"])


def test_a_technician_takes_a_scanned_unit_to_stock(world: World, tech: TestClient) -> None:  # noqa: F811
    received(world, "SPK000001")
    opened = tech.get("/station?serial=spk000001", headers=BROWSER)
    assert opened.url.path == "/station/units/SPK000001"
    assert _next_step(opened.text) == "inspect"
    assert "What counts as a pass" in opened.text
    measurements = {f"m.{k}": str(v).lower() for k, v in GOOD.items()}
    for expected, fields in (
        (
            "inspect",
            {
                "outcome": "pass",
                "packaging": "opened",
                "battery": "ok",
            },
        ),
        (
            "sanitize",
            {
                "method": "purge",
                "tool": "WipeKit 4.2",
                "verification": "full",
                "verification_result": "passed",
                "account": "deactivated",
                "account_reference": "DC-WEB-1",
            },
        ),
        (
            "flash",
            {
                "release": "1.1.0",
                "image_sha256": SHA_CURRENT,
                "readback_version": "1.1.0",
                "readback_sha256": SHA_CURRENT,
            },
        ),
        ("test", {"plan": "1", "rig": RIG, **measurements}),
        ("grade", {"cosmetic": "B", "functional": "pass"}),
        ("disposition", {}),
        ("repackage", {"box": "refurbished", "label_printed": "on"}),
    ):
        step, response = _record(tech, "SPK000001", fields)
        assert step == expected
        assert response.status_code == 200, response.text
        assert 'role="alert"' not in response.text, response.text
    unit = world.unit("SPK000001")
    assert (unit["state"], unit["condition"]) == ("available", "RF-B")
    assert [h["actor"] for h in unit["history"][-7:]] == ["tech.web"] * 7
    assert tech.get("/station/units/SPK000001/label.pdf").content.startswith(b"%PDF")
    stock = tech.get("/stock?condition=RF-B", headers=BROWSER)
    assert "SPK-100-RF-B" in stock.text


def test_a_failing_test_asks_for_fault_codes_and_the_engine_routes_it(
    world: World,  # noqa: F811
    tech: TestClient,
) -> None:
    received(world, "SPK000002")
    for fields in (
        {"outcome": "pass", "packaging": "opened", "battery": "ok"},
        {
            "method": "purge",
            "tool": "WipeKit 4.2",
            "verification": "full",
            "verification_result": "passed",
            "account": "deactivated",
            "account_reference": "DC-WEB-2",
        },
        {
            "release": "1.1.0",
            "image_sha256": SHA_CURRENT,
            "readback_version": "1.1.0",
            "readback_sha256": SHA_CURRENT,
        },
    ):
        assert _record(tech, "SPK000002", fields)[1].status_code == 200
    failing = {
        "plan": "1",
        "rig": RIG,
        "m.speaker_db": "71",
        "m.wifi_rssi": "-50",
        "m.mic_ok": "true",
    }
    step, asked = _record(tech, "SPK000002", failing)
    assert (step, asked.status_code) == ("test", 422)
    assert "the test fails (speaker_db): record the fault codes" in asked.text
    assert world.unit("SPK000002")["state"] == "firmware_validated"  # nothing recorded yet
    _, unknown = _record(tech, "SPK000002", failing | {"fault_codes": "AUD.SPK.BOOM"})
    assert unknown.status_code == 422 and "not a fault code" in unknown.text
    _, failed = _record(tech, "SPK000002", failing | {"fault_codes": "aud.spk.distort"})
    assert failed.status_code == 200
    assert world.unit("SPK000002")["state"] == "test_failed"
    step, routed = _record(tech, "SPK000002", {})
    assert step == "disposition"
    assert "repair has the highest expected net value" in routed.text
    assert world.unit("SPK000002")["route"] == "repair"


def test_a_technician_sees_only_their_site_and_forms_need_csrf(
    world: World,  # noqa: F811
    tech: TestClient,
) -> None:
    received(world, "SPK000003", site="HUB-B", role="tech_b")
    elsewhere = tech.get("/station/units/SPK000003", headers=BROWSER)
    assert elsewhere.status_code == 404
    received(world, "SPK000004")
    forged = tech.post(
        "/station/units/SPK000004/steps/inspect",
        data={"outcome": "pass", "packaging": "opened", "battery": "ok", "csrf": "nope"},
        headers=BROWSER,
    )
    assert forged.status_code == 403
    assert tech.get("/console", headers=BROWSER).status_code == 403


def test_a_supervisor_overrides_a_route_with_a_written_reason(
    world: World,  # noqa: F811
    app: Any,
    make_user: Any,
) -> None:
    supervisor = _browser(app, make_user, "sup.web", "supervisor", [])
    received(world, "SPK000005")
    world.step(
        "tech_a",
        "SPK000005",
        "inspect",
        {
            "outcome": "pass",
            "packaging": "opened",
            "battery": "swollen",
        },
    )
    console = supervisor.get("/console", headers=BROWSER)
    assert console.status_code == 200
    assert "SPK000005" in console.text and "battery_swollen" in console.text
    form = {
        "csrf": _csrf(console.text),
        "serial": "SPK000005",
        "route": "recycle",
        "reason": "short",
    }
    short = supervisor.post("/console/override", data=form, headers=BROWSER)
    assert short.status_code == 422
    unwiped = supervisor.post(
        "/console/override", data=form | {"reason": "recycle it, it is swollen"}, headers=BROWSER
    )
    assert unwiped.status_code == 422 and "sanitize pass" in unwiped.text  # invariant 2
    held = supervisor.post(
        "/console/override",
        data=form | {"route": "write_off", "reason": "swollen, write it off now"},
        headers=BROWSER,
    )
    assert held.status_code == 200 and "overridden to write_off" in held.text
    last = world.unit("SPK000005")["history"][-1]
    assert (last["actor"], last["override_reason"]) == ("sup.web", "swollen, write it off now")


def _to_flash(tech: TestClient, serial: str) -> None:
    for fields in (
        {"outcome": "pass", "packaging": "opened", "battery": "ok"},
        {
            "method": "purge",
            "tool": "WipeKit 4.2",
            "verification": "full",
            "verification_result": "passed",
            "account": "deactivated",
            "account_reference": "PORTAL-1",
        },
    ):
        assert _record(tech, serial, fields)[1].status_code == 200


def test_the_flash_step_offers_the_current_image_for_download(
    world: World,  # noqa: F811
    tech: TestClient,
) -> None:
    received(world, "SPK000005")
    _to_flash(tech, "SPK000005")
    page = tech.get("/station/units/SPK000005", headers=BROWSER)
    assert _next_step(page.text) == "flash"
    assert "Current release <strong>1.1.0</strong>" in page.text
    assert "only its hash is registered" in page.text and "image-download" not in page.text

    image = b"station image 2.0.0" * 1000
    uploaded = world.call(
        "admin",
        "POST",
        "/api/v1/products/SPK-100/firmware/2.0.0/image",
        params={"status": "current"},
        content=image,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.text
    page = tech.get("/station/units/SPK000005", headers=BROWSER)
    link = re.search(r'id="image-download" href="([^"]+)"', page.text)
    assert link, page.text
    assert "Current release <strong>2.0.0</strong>" in page.text
    download = tech.get(link.group(1))
    assert download.status_code == 200
    assert download.content == image


def test_the_test_step_is_taken_on_a_chosen_calibrated_rig(
    world: World,  # noqa: F811
    tech: TestClient,
) -> None:
    late = calibration(days_ago=400, days_left=-10, ref="CAL-LATE")
    rig = {"code": "RIG-OLD", "name": "Old bench", "kind": "audio bench"}
    assert world.call("admin", "POST", "/api/v1/sites/HUB-A/rigs", json=rig).status_code == 201
    path = "/api/v1/sites/HUB-A/rigs/RIG-OLD/calibrations"
    assert world.call("admin", "POST", path, json=late).status_code == 201
    received(world, "SPK000006")
    _to_flash(tech, "SPK000006")
    flash = {
        "release": "1.1.0",
        "image_sha256": SHA_CURRENT,
        "readback_version": "1.1.0",
        "readback_sha256": SHA_CURRENT,
    }
    assert _record(tech, "SPK000006", flash)[1].status_code == 200
    page = tech.get("/station/units/SPK000006", headers=BROWSER)
    assert _next_step(page.text) == "test"
    select = re.search(r'<select id="f-rig" name="rig">(.*?)</select>', page.text, re.S)
    assert select, page.text
    assert re.search(r'<option value="RIG-1" selected>RIG-1 Audio bench \(calibrated', select[1])
    assert "RIG-OLD Old bench (CALIBRATION DUE" in select[1]
    assert "tested on a rig whose calibration is not due" in page.text

    measurements = {f"m.{k}": str(v).lower() for k, v in GOOD.items()}
    step, refused = _record(tech, "SPK000006", {"plan": "1", "rig": "RIG-OLD", **measurements})
    assert (step, refused.status_code) == ("test", 422)
    assert re.search(
        r'id="error-rig">calibration of RIG-OLD was due on [0-9-]+ \(certificate CAL-LATE\)',
        refused.text,
    )
    assert world.unit("SPK000006")["state"] == "firmware_validated"
    _, passed = _record(tech, "SPK000006", {"plan": "1", "rig": RIG, **measurements})
    assert passed.status_code == 200
    unit = world.unit("SPK000006")
    assert unit["state"] == "tested"
    assert unit["history"][-1]["evidence"]["rig_calibration"]["certificate_ref"] == "CAL-HUB-A"


def test_sanitize_on_the_page_needs_the_clouds_reference_and_a_bound_account_says_why(
    world: World,  # noqa: F811
    tech: TestClient,
) -> None:
    received(world, "SPK000006")
    inspect = {"outcome": "pass", "packaging": "opened"}
    assert _record(tech, "SPK000006", inspect | {"battery": "ok"})[1].status_code == 200
    wipe = {
        "method": "purge",
        "tool": "WipeKit 4.2",
        "verification": "full",
        "verification_result": "passed",
        "account": "deactivated",
    }
    step, unconfirmed = _record(tech, "SPK000006", wipe)
    assert (step, unconfirmed.status_code) == ("sanitize", 422)
    message = 'id="error-account_reference">account &#39;deactivated&#39; needs its confirmation'
    assert message in unconfirmed.text
    assert world.unit("SPK000006")["state"] == "inspected"

    _, bound = _record(tech, "SPK000006", wipe | {"account": "still_bound"})
    assert bound.status_code == 200
    page = tech.get("/station/units/SPK000006", headers=BROWSER).text
    assert 'id="quarantine-reason">Quarantined: the device-cloud account is still bound' in page

    _, confirmed = _record(tech, "SPK000006", wipe | {"account_reference": "PORTAL-4471"})
    assert confirmed.status_code == 200
    unit = world.unit("SPK000006")
    assert (unit["state"], unit["quarantine_reason"]) == ("sanitized", None)
    confirmation = unit["history"][-1]["evidence"]["account_confirmation"]
    assert (confirmation["source"], confirmation["reference"]) == ("manual", "PORTAL-4471")


def test_a_photo_that_is_not_an_image_is_named_on_the_inspect_form(
    world: World,  # noqa: F811
    tech: TestClient,
) -> None:
    checklist = {"accessories": ["power adapter"], "photos_required": 1}
    response = world.call(
        "admin", "PUT", "/api/v1/products/SPK-100/inspection-checklist", json=checklist
    )
    assert response.status_code == 200, response.text
    received(world, "SPK000003")
    page = tech.get("/station/units/SPK000003", headers=BROWSER)
    assert 'value="power adapter"' in page.text and 'type="file"' in page.text
    form = {"csrf": _csrf(page.text), "version": _version(page.text), "outcome": "pass"}
    form |= {"packaging": "opened", "accessories_present": "power adapter"}
    fake = b"\xff\xd8\xff\xe0" + b"garbage" * 20
    refused = tech.post(
        "/station/units/SPK000003/steps/inspect",
        data=form,
        files=[("photos", ("front.jpg", fake, "image/jpeg"))],
        headers=BROWSER,
    )
    assert refused.status_code == 422
    assert 'id="error-photos"' in refused.text and "not a readable JPEG or PNG" in refused.text
    assert world.unit("SPK000003")["state"] == "received"
    assert world.call("tech_a", "GET", "/api/v1/units/SPK000003/photos").json() == []
    accepted = tech.post(
        "/station/units/SPK000003/steps/inspect",
        data=form,
        files=[("photos", ("front.jpg", photo_bytes(), "image/jpeg"))],
        headers=BROWSER,
    )
    assert accepted.status_code == 200, accepted.text
    evidence = world.unit("SPK000003")["history"][-1]["evidence"]
    assert evidence["accessories_complete"] is True and len(evidence["photos"]) == 1
