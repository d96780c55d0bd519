"""Re-verification on the pages: the station page tells a technician a drawn unit is held and
lets another person record the result; the wipe's verifier is turned away; the console lists
the queue and the failures."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backhaul.settings import get_settings
from tests.processing.conftest import SANITIZE_OK, World, received, world  # noqa: F401
from tests.web.test_station import BROWSER, _browser, _csrf

INSPECT_OK = {
    "outcome": "pass",
    "packaging": "opened",
    "battery": "ok",
    "fault_codes": [],
}


@pytest.fixture(autouse=True)
def every_wipe_drawn(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKHAUL_REVERIFY_SHARE", "1")
    get_settings.cache_clear()


def _wiped(world: World, serial: str, **extra: Any) -> None:  # noqa: F811
    received(world, serial)
    assert world.step("tech_a", serial, "inspect", INSPECT_OK).status_code == 200
    wiped = world.step("tech_a", serial, "sanitize", SANITIZE_OK | extra)
    assert wiped.json()["reverification"] == "pending", wiped.text


def test_another_technician_sees_the_hold_and_records_a_failure(
    world: World,  # noqa: F811
    app: Any,
    make_user: Any,
) -> None:
    _wiped(world, "SPK000001")
    tech = _browser(app, make_user, "tech.web", "technician", ["HUB-A"])
    page = tech.get("/station/units/SPK000001", headers=BROWSER)
    assert 'id="reverify-heading">Re-verification pending' in page.text
    assert 'id="reverify-form"' in page.text

    form = {"csrf": _csrf(page.text), "result": "failed", "method": "forensic", "tool": "X 1"}
    missing_notes = tech.post("/station/units/SPK000001/reverification", data=form, headers=BROWSER)
    assert missing_notes.status_code == 422
    assert re.search(r'id="error-reverify-notes">[^<]*needs notes', missing_notes.text)

    form |= {"notes": "user photos still readable"}
    done = tech.post("/station/units/SPK000001/reverification", data=form, headers=BROWSER)
    assert done.status_code == 200 and done.url.path == "/station/units/SPK000001"
    assert "escalated to the supervisors" in done.text
    assert 'id="reverify-heading">Re-verification failed' in done.text
    assert re.search(r'id="state">quarantined<', done.text)

    supervisor = _browser(app, make_user, "sup.web", "supervisor", [])
    console = supervisor.get("/console", headers=BROWSER)
    table = console.text[console.text.index('id="reverifications"') :]
    assert "SPK000001" in table and "failed: user photos still readable" in table
    exceptions = console.text[console.text.index('id="exceptions"') :]
    assert "failed re-verification" in exceptions


def test_the_console_lists_pending_re_verifications(
    world: World,  # noqa: F811
    app: Any,
    make_user: Any,
) -> None:
    _wiped(world, "SPK000002")
    supervisor = _browser(app, make_user, "sup.web", "supervisor", [])
    console = supervisor.get("/console", headers=BROWSER)
    row = re.search(r'id="reverifications".*?</table>', console.text, re.S)
    assert row and "SPK000002" in row.group(0) and "pending" in row.group(0)


def test_the_wipes_verifier_is_turned_away(
    world: World,  # noqa: F811
    app: Any,
) -> None:
    _wiped(world, "RNG000001", verified_by="verifier.a")
    verifier = TestClient(app, raise_server_exceptions=False)
    login = verifier.get("/login", headers=BROWSER)
    signed_in = verifier.post(
        "/login",
        data={
            "username": "verifier.a",
            "password": "correct-horse",
            "csrf": _csrf(login.text),
            "next": "/",
        },
        headers=BROWSER,
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    page = verifier.get("/station/units/RNG000001", headers=BROWSER)
    assert 'id="reverify-conflict"' in page.text
    assert "verifier.a verified this wipe" in page.text
    assert 'id="reverify-form"' not in page.text
    posted = verifier.post(
        "/station/units/RNG000001/reverification",
        data={"csrf": _csrf(page.text), "result": "passed", "method": "full", "tool": "X 1"},
        headers=BROWSER,
    )
    assert posted.status_code == 422
    assert "verified this wipe" in posted.text
    assert world.unit("RNG000001")["state"] == "sanitized"


def test_a_supervisor_withdraws_a_written_off_units_draw_on_the_console(
    world: World,  # noqa: F811
    app: Any,
    make_user: Any,
) -> None:
    _wiped(world, "SPK000003")  # still in custody: no Withdraw form
    received(world, "SPK000004")
    failed = INSPECT_OK | {"outcome": "fail", "fault_codes": ["PWR.NOBOOT"]}
    assert world.step("tech_a", "SPK000004", "inspect", failed).status_code == 200
    assert world.step("tech_a", "SPK000004", "sanitize", SANITIZE_OK).status_code == 200
    lost = "lost on the dock, police report 2231"
    routed = world.step(
        "supervisor", "SPK000004", "disposition", {"route": "write_off", "override_reason": lost}
    )
    assert routed.status_code == 200, routed.text
    done = world.step("supervisor", "SPK000004", "write_off", {"reason": "lost"})
    assert done.json()["state"] == "written_off", done.text
    queue = world.call("supervisor", "GET", "/api/v1/reverifications").json()
    ids = {r["serial"]: r["id"] for r in queue}

    supervisor = _browser(app, make_user, "sup.web", "supervisor", [])
    console = supervisor.get("/console", headers=BROWSER)
    written_off = _row(console.text, f"reverification-{ids['SPK000004']}")
    assert "written off" in written_off and f'id="withdraw-form-{ids["SPK000004"]}"' in written_off
    in_custody = _row(console.text, f"reverification-{ids['SPK000003']}")
    assert "written off" not in in_custody and "withdraw-form" not in in_custody

    form = {"csrf": _csrf(console.text), "serial": "SPK000004", "reason": "x"}
    short = supervisor.post("/console/reverification/withdraw", data=form, headers=BROWSER)
    assert short.status_code == 422
    assert re.search(r'id="error-withdraw-SPK000004">[^<]*3 characters', short.text)

    tech = _browser(app, make_user, "tech.web", "technician", ["HUB-A"])
    page = tech.get("/station/units/SPK000003", headers=BROWSER)
    refused = tech.post(
        "/console/reverification/withdraw",
        data={"csrf": _csrf(page.text), "serial": "SPK000004", "reason": lost},
        headers=BROWSER,
    )
    assert refused.status_code == 403

    withdrawn = supervisor.post(
        "/console/reverification/withdraw", data=form | {"reason": lost}, headers=BROWSER
    )
    assert withdrawn.status_code == 200 and withdrawn.url.path == "/console"
    row = _row(withdrawn.text, f"reverification-{ids['SPK000004']}")
    assert f"withdrawn by sup.web: {lost}" in row and "withdraw-form" not in row
    station = supervisor.get("/station/units/SPK000004", headers=BROWSER)
    assert "was withdrawn by sup.web (the unit was written off)" in station.text


def _row(html: str, element_id: str) -> str:
    match = re.search(rf'<tr id="{element_id}">(.*?)</tr>', html, re.S)
    assert match, f"no row #{element_id}"
    return match.group(1)
