"""End to end in Debian's Chromium against the real server, keyboard only: a technician signs
in, scans a unit and takes it from the dock to stock; another unit fails its test, is asked
for fault codes and is routed by the disposition engine; a supervisor looks at the console.
Screenshots go to BACKHAUL_SCREENSHOTS when set (`docs/images` refreshes the README's)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from backhaul.settings import get_settings
from tests.live_server import LiveServer
from tests.processing.conftest import SHA_CURRENT, World, world  # noqa: F401 - the fixture

# No skip when Chromium is missing: `make test` installs it, and a silent skip would hide this.
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


def _active(page: Page) -> str:
    return str(page.evaluate("document.activeElement ? document.activeElement.id : ''"))


def tab_to(page: Page, element_id: str) -> None:
    """Press Tab until the element has the focus (the keyboard is the only input)."""
    for _ in range(40):
        if _active(page) == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


def type_into(page: Page, element_id: str, text: str) -> None:
    tab_to(page, element_id)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def record(page: Page, fields: dict[str, str] | None = None) -> None:
    """Type each field in tab order, then Tab to the record button and press Enter."""
    for element_id, text in (fields or {}).items():
        type_into(page, element_id, text)
    tab_to(page, "record")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def sign_in(page: Page, base: str, username: str) -> None:
    page.bring_to_front()
    page.goto(f"{base}/login")
    expect(page.locator("input[name=username]")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type("correct-horse")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def scan(page: Page, serial: str) -> None:
    page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + "/station")
    expect(page.locator("#serial")).to_be_focused()
    page.keyboard.type(serial)  # a barcode scanner types the serial and presses Enter
    with page.expect_navigation():
        page.keyboard.press("Enter")


def authorized(world: World, serial: str) -> None:  # noqa: F811
    for step, body in (
        (
            "authorize",
            {"rma": f"RMA-{serial}", "reason": "defect.hardware", "resolution": "refund"},
        ),
        ("ship", {"carrier": "UPS", "tracking_number": f"1Z{serial}"}),
    ):
        assert world.step("admin", serial, step, body).status_code == 200


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("BACKHAUL_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def to_firmware(page: Page) -> None:
    expect(page.locator("#next-step")).to_have_text("Next: receive")
    record(page)  # the site and packaging are preselected
    expect(page.locator("#next-step")).to_have_text("Next: inspect")
    record(page)  # pass, opened, accessories complete, battery ok
    expect(page.locator("#next-step")).to_have_text("Next: sanitize")
    # purge, WipeKit, full verification passed, account deactivated: the cloud's reference
    record(page, {"f-account_reference": "DC-E2E-1"})
    expect(page.locator("#next-step")).to_have_text("Next: flash")
    record(page, {"f-readback_version": "1.1.0", "f-readback_sha256": SHA_CURRENT})
    expect(page.locator("#next-step")).to_have_text("Next: test")


def test_a_technician_takes_units_through_the_station_by_keyboard(
    world: World,  # noqa: F811
    server: LiveServer,
    browser: Browser,
    make_user: Any,
    tmp_path: Path,
) -> None:
    folder = shots(tmp_path)
    make_user("tina", "technician", sites=["HUB-A"])
    make_user("sam", "supervisor")
    authorized(world, "SPK000011")
    authorized(world, "SPK000012")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, server.url, "tina")
    scan(page, "spk000011")
    page.screenshot(path=folder / "station-receive.png", full_page=True)
    to_firmware(page)
    expect(page.locator("#passes")).to_contain_text("speaker_db ≥ 80")
    record(page, {"f-m.speaker_db": "92.5", "f-m.wifi_rssi": "-48"})  # mic_ok preselected true
    expect(page.locator("#next-step")).to_have_text("Next: grade")
    tab_to(page, "f-cosmetic")
    page.keyboard.type("B")
    record(page)
    expect(page.locator("#next-step")).to_have_text("Next: disposition")
    record(page)
    expect(page.locator("#decision")).to_contain_text("restock by disposition-2026.1/E1")
    page.screenshot(path=folder / "station-disposition.png", full_page=True)
    record(page)  # repackage
    expect(page.locator("#state")).to_have_text("available")
    expect(page.locator("#label-links")).to_be_visible()
    assert world.unit("SPK000011")["condition_sku"] == "SPK-100-RF-B"

    # The second unit fails its test: the station asks for fault codes, then the engine routes it.
    scan(page, "SPK000012")
    to_firmware(page)
    record(page, {"f-m.speaker_db": "71", "f-m.wifi_rssi": "-48"})
    expect(page.locator("#error-fault_codes")).to_contain_text("the test fails (speaker_db)")
    expect(page.locator("#f-fault_codes")).to_be_focused()
    page.screenshot(path=folder / "station-fault-codes.png", full_page=True)
    page.keyboard.type("AUD.SPK.DISTORT")
    record(page)
    expect(page.locator("#state")).to_have_text("test_failed")
    expect(page.locator("#next-step")).to_have_text("Next: disposition")
    record(page)
    expect(page.locator("#state")).to_have_text("dispositioned:repair")
    expect(page.locator("#decision")).to_contain_text("repair has the highest expected net value")
    page.screenshot(path=folder / "station-routed.png", full_page=True)
    assert world.unit("SPK000012")["route"] == "repair"

    supervisor = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(supervisor, server.url, "sam")
    supervisor.goto(f"{server.url}/console")
    expect(supervisor.locator("#queues")).to_contain_text("dispositioned:repair")
    # console.png comes from tests/web/test_console_e2e.py, with its pending overrides.
    supervisor.goto(f"{server.url}/stock")
    expect(supervisor.locator("#stock")).to_contain_text("SPK-100-RF-B")
    supervisor.screenshot(path=folder / "stock.png", full_page=True)
