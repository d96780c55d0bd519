"""The console's over-target and pending-override sections, the failed-step override form, and
the station's "ask for an override" form, over HTTP with a signed-in browser session."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from backhaul.db import session_scope, utcnow
from backhaul.units.models import Unit
from tests.processing.conftest import (
    FLASH_OK,
    GOOD,
    INSPECT_OK,
    SANITIZE_OK,
    World,
    received,
    world,  # noqa: F401 - the fixture
)
from tests.web.test_station import BROWSER, _browser, _csrf

RIG_ERROR = "fixture contact was loose; re-seated, fine on the bench"


def _failed_test(world: World, serial: str) -> None:  # noqa: F811
    received(world, serial)
    for step, body in (("inspect", INSPECT_OK), ("sanitize", SANITIZE_OK), ("flash", FLASH_OK)):
        assert world.step("tech_a", serial, step, body).status_code == 200
    bad = {"plan": 1, "rig": "RIG-1", "measurements": GOOD | {"speaker_db": 71}}
    assert world.step("tech_a", serial, "test", bad).json()["state"] == "test_failed"


def _row(html: str, element_id: str) -> str:
    match = re.search(rf'<tr id="{element_id}">(.*?)</tr>', html, re.S)
    assert match, f"no row #{element_id}"
    return match.group(1)


def test_a_technician_asks_for_an_override_at_the_station(
    world: World,  # noqa: F811
    app: Any,
    make_user: Any,
) -> None:
    tech = _browser(app, make_user, "tina", "technician", ["HUB-A"])
    _failed_test(world, "SPK000001")
    page = tech.get("/station/units/SPK000001", headers=BROWSER)
    assert 'id="override-request-form"' in page.text
    assert 'value="failed_step:test"' in page.text and 'value="route:harvest"' in page.text
    form = {"csrf": _csrf(page.text), "override": "failed_step:test", "reason": "rig"}
    short = tech.post("/station/units/SPK000001/override-requests", data=form, headers=BROWSER)
    assert short.status_code == 422
    assert 'id="error-reason"' in short.text and "at least 10 characters" in short.text
    asked = tech.post(
        "/station/units/SPK000001/override-requests",
        data=form | {"reason": RIG_ERROR},
        headers=BROWSER,
    )
    assert asked.status_code == 200 and "sent to a supervisor" in asked.text
    assert re.search(
        r"Request #\d+ \(failed test → pass\) by tina: <strong>pending</strong>", asked.text
    )
    assert 'id="override-request-form"' not in asked.text  # one pending request at a time
    again = tech.post(
        "/station/units/SPK000001/override-requests",
        data=form | {"reason": RIG_ERROR},
        headers=BROWSER,
    )
    assert again.status_code == 422 and "already has a pending override request" in again.text
    forged = tech.post(
        "/station/units/SPK000001/override-requests",
        data=form | {"csrf": "nope", "reason": RIG_ERROR},
        headers=BROWSER,
    )
    assert forged.status_code == 403
    # A unit with a failed sanitize offers no override at all (invariant 2).
    received(world, "SPK000002")
    world.step("tech_a", "SPK000002", "inspect", INSPECT_OK)
    world.step("tech_a", "SPK000002", "sanitize", SANITIZE_OK | {"verification_result": "failed"})
    wiped_badly = tech.get("/station/units/SPK000002", headers=BROWSER)
    assert "failed_step:sanitize" not in wiped_badly.text
    posted = tech.post(
        "/station/units/SPK000002/override-requests",
        data={
            "csrf": _csrf(wiped_badly.text),
            "override": "failed_step:sanitize",
            "reason": RIG_ERROR,
        },
        headers=BROWSER,
    )
    assert posted.status_code == 422 and "invariant 2" in posted.text


def test_a_supervisor_works_the_console(
    world: World,  # noqa: F811
    app: Any,
    make_user: Any,
) -> None:
    supervisor = _browser(app, make_user, "sam", "supervisor", [])
    world.call("admin", "PATCH", "/api/v1/sites/HUB-A", json={"step_wait_targets": {"inspect": 2}})
    received(world, "SPK000003")
    with session_scope() as session:
        session.execute(
            update(Unit)
            .where(Unit.serial == "SPK000003")
            .values(updated_at=utcnow() - timedelta(hours=5))
        )
    _failed_test(world, "SPK000004")
    _failed_test(world, "SPK000005")
    asks = []
    for serial in ("SPK000004", "SPK000005"):
        response = world.call(
            "tech_a",
            "POST",
            f"/api/v1/units/{serial}/override-requests",
            json={"kind": "failed_step", "step": "test", "reason": RIG_ERROR},
        )
        asks.append(response.json()["id"])

    console = supervisor.get("/console", headers=BROWSER)
    assert console.status_code == 200
    late = re.search(r'<table id="over-target">.*?</table>', console.text, re.S)
    assert late and "SPK000003" in late.group(0) and "2 h" in late.group(0)
    assert re.search(r"<span class=\"tag warn\">3\.0 h</span>", late.group(0))  # 5 h waited
    assert "SPK000004" in _row(console.text, f"override-request-{asks[0]}")
    csrf = _csrf(console.text)

    no_note = supervisor.post(
        f"/console/override-requests/{asks[1]}",
        data={"csrf": csrf, "decision": "reject", "note": ""},
        headers=BROWSER,
    )
    assert no_note.status_code == 422
    assert f'id="error-request-{asks[1]}"' in no_note.text and "say why" in no_note.text
    rejected = supervisor.post(
        f"/console/override-requests/{asks[1]}",
        data={"csrf": csrf, "decision": "reject", "note": "fails on the bench too"},
        headers=BROWSER,
    )
    assert (
        rejected.status_code == 200
        and f"Request #{asks[1]} for SPK000005 rejected" in rejected.text
    )
    approved = supervisor.post(
        f"/console/override-requests/{asks[0]}",
        data={"csrf": csrf, "decision": "approve", "note": ""},
        headers=BROWSER,
    )
    assert approved.status_code == 200 and "approved" in approved.text
    assert f'id="override-request-{asks[0]}"' not in approved.text  # no longer pending
    assert world.unit("SPK000004")["state"] == "tested"
    assert world.unit("SPK000005")["state"] == "test_failed"

    # The direct failed-step override: refused for a sanitize, done for an inspection.
    received(world, "SPK000006")
    world.step("tech_a", "SPK000006", "inspect", INSPECT_OK | {"outcome": "fail"})
    form = {"csrf": csrf, "serial": "SPK000006", "step": "sanitize", "reason": RIG_ERROR}
    refused = supervisor.post("/console/override-step", data=form, headers=BROWSER)
    assert refused.status_code == 422 and "invariant 2" in refused.text
    done = supervisor.post(
        "/console/override-step",
        data=form | {"step": "inspect", "reason": "the mark is on the protective film"},
        headers=BROWSER,
    )
    assert done.status_code == 200 and "overridden to passed — now inspected" in done.text
    last = world.unit("SPK000006")["history"][-1]
    assert (last["step"], last["outcome"], last["actor"]) == ("inspect", "pass", "sam")


def test_the_sites_page_shows_wait_targets(world: World, app: Any, make_user: Any) -> None:  # noqa: F811
    world.call(
        "admin",
        "PATCH",
        "/api/v1/sites/HUB-B",
        json={"wait_target_hours": 12, "step_wait_targets": {"test": 4.5}},
    )
    viewer: TestClient = _browser(app, make_user, "ann", "supervisor", [])
    page = viewer.get("/catalog/sites", headers=BROWSER)
    assert page.status_code == 200
    assert re.search(r"<code>HUB-B</code>.*?12 h<br>test 4.5 h", page.text, re.S)
