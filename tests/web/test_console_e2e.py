"""End to end in Debian's Chromium against the real server: a technician whose unit failed its
test on a faulty rig asks for an override at the station; a supervisor sees it on the console,
beside a unit waiting longer than its site's target, and approves it; the unit moves on.
Screenshots go to BACKHAUL_SCREENSHOTS when set (`docs/images` refreshes the README's)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import update

from backhaul.db import session_scope, utcnow
from backhaul.settings import get_settings
from backhaul.units.models import Unit
from tests.live_server import LiveServer
from tests.processing.conftest import (
    FLASH_OK,
    GOOD,
    INSPECT_OK,
    SANITIZE_OK,
    World,
    received,
    world,  # noqa: F401 - the fixture
)
from tests.web.test_station_e2e import shots, sign_in

pytestmark = [pytest.mark.slow]


@pytest.fixture
def server(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:  # noqa: F811
    live = LiveServer(tmp_path / "server.log")
    monkeypatch.setenv("BACKHAUL_PUBLIC_URL", live.url)
    get_settings.cache_clear()
    live.start()
    try:
        yield live
    finally:
        live.stop()


def _waited(serial: str, hours: float) -> None:
    with session_scope() as session:
        session.execute(
            update(Unit)
            .where(Unit.serial == serial)
            .values(updated_at=utcnow() - timedelta(hours=hours))
        )


def test_a_supervisor_approves_a_pending_override_on_the_console(
    world: World,  # noqa: F811
    server: LiveServer,
    browser: Browser,
    make_user: Any,
    tmp_path: Path,
) -> None:
    folder = shots(tmp_path)
    make_user("tina", "technician", sites=["HUB-A"])
    make_user("sam", "supervisor")
    world.call("admin", "PATCH", "/api/v1/sites/HUB-A", json={"step_wait_targets": {"inspect": 4}})
    for serial, hours in (("SPK000013", 30.5), ("SPK000014", 6.2)):
        received(world, serial)
        _waited(serial, hours)
    received(world, "SPK000015", site="HUB-B", role="tech_b")
    _waited("SPK000015", 27)
    received(world, "SPK000016")
    for step, body in (("inspect", INSPECT_OK), ("sanitize", SANITIZE_OK), ("flash", FLASH_OK)):
        assert world.step("tech_a", "SPK000016", step, body).status_code == 200
    bad = {"plan": 1, "rig": "RIG-1", "measurements": GOOD | {"speaker_db": 71}}
    assert world.step("tech_a", "SPK000016", "test", bad).json()["state"] == "test_failed"

    tech = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(tech, server.url, "tina")
    tech.goto(f"{server.url}/station/units/SPK000016")
    tech.select_option("#or-override", "failed_step:test")
    tech.fill("#or-reason", "speaker fixture was unplugged; re-seated, 92 dB on the bench")
    with tech.expect_navigation():
        tech.click("#ask-override")
    expect(tech.locator("#override-request")).to_contain_text("pending")
    tech.screenshot(path=folder / "station-override-request.png", full_page=True)

    supervisor = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(supervisor, server.url, "sam")
    supervisor.goto(f"{server.url}/console")
    late = supervisor.locator("#over-target")
    expect(late.locator("tbody tr").first).to_contain_text("SPK000013")  # the oldest first
    expect(late).to_contain_text("SPK000015")
    expect(late).to_contain_text("2.2 h")  # SPK000014: 6.2 h against inspect's 4 h
    pending = supervisor.locator("#pending-overrides")
    expect(pending).to_contain_text("SPK000016")
    expect(pending).to_contain_text("speaker fixture was unplugged")
    supervisor.screenshot(path=folder / "console.png", full_page=True)

    row = pending.locator("tbody tr").first
    row.locator("input[name=note]").fill("rig log shows the fixture fault")
    with supervisor.expect_navigation():
        row.locator("button[value=approve]").click()
    expect(supervisor.locator(".flash")).to_contain_text("for SPK000016 approved")
    expect(pending).to_contain_text("None pending.")
    unit = world.unit("SPK000016")
    assert unit["state"] == "tested"
    assert unit["history"][-1]["override_reason"].startswith("speaker fixture was unplugged")

    tech.reload()
    expect(tech.locator("#state")).to_have_text("tested")
    expect(tech.locator("#next-step")).to_have_text("Next: grade")
    expect(tech.locator("#override-request")).to_contain_text("approved by sam")


def test_a_supervisor_withdraws_a_lost_units_re_verification_in_the_browser(
    world: World,  # noqa: F811
    tmp_path: Path,
    browser: Browser,
    make_user: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "BACKHAUL_REVERIFY_SHARE", "1"
    )  # every wipe is drawn, here and in the server
    get_settings.cache_clear()
    received(world, "SPK000004")
    failed = INSPECT_OK | {"outcome": "fail", "fault_codes": ["PWR.NOBOOT"]}
    assert world.step("tech_a", "SPK000004", "inspect", failed).status_code == 200
    wiped = world.step("tech_a", "SPK000004", "sanitize", SANITIZE_OK)
    assert wiped.json()["reverification"] == "pending", wiped.text
    lost = "fell off the dock into the harbour; police report 2231"
    routed = {"route": "write_off", "override_reason": lost}
    assert world.step("supervisor", "SPK000004", "disposition", routed).status_code == 200
    assert world.step("supervisor", "SPK000004", "write_off", {"reason": "lost"}).status_code == 200
    make_user("sam", "supervisor")
    live = LiveServer(tmp_path / "server.log")
    live.start()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        sign_in(page, live.url, "sam")
        page.goto(f"{live.url}/console")
        row = page.locator("#reverifications tbody tr", has_text="SPK000004")
        expect(row).to_contain_text("written off")
        row.scroll_into_view_if_needed()
        page.screenshot(path=shots(tmp_path) / "console-withdraw.png")
        reason = row.locator("input[name=reason]")
        reason.fill("x")
        row.locator("button", has_text="Withdraw").click()  # the browser refuses 1 character
        assert reason.evaluate("input => input.validity.tooShort") is True
        assert page.url.endswith("/console")
        reason.fill(lost)
        with page.expect_navigation():
            row.locator("button", has_text="Withdraw").click()
        expect(page.locator(".flash")).to_contain_text("SPK000004: re-verification withdrawn")
        expect(row).to_contain_text(f"withdrawn by sam: {lost}")
        expect(row.locator("form")).to_have_count(0)
    finally:
        live.stop()
    assert world.call("supervisor", "GET", "/api/v1/reverifications").json() == []
