"""The station on a bench tablet (800×1280 portrait), in Debian's Chromium against the real
server: the inspect form shows the product's checklist, the technician ticks what is in the
box, attaches a photo taken with the tablet, and records the inspection in one go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import photo_bytes
from tests.live_server import LiveServer
from tests.processing.conftest import World, world  # noqa: F401 - the fixture
from tests.web.test_station_e2e import authorized, record, scan, server, shots, sign_in  # noqa: F401

pytestmark = [pytest.mark.slow]
TABLET = {"width": 800, "height": 1280}


def test_a_technician_inspects_a_unit_with_a_photo_on_a_tablet(
    world: World,  # noqa: F811
    server: LiveServer,  # noqa: F811
    browser: Browser,
    make_user: Any,
    tmp_path: Path,
) -> None:
    checklist = {
        "accessories": ["power adapter", "quick start guide"],
        "cosmetic_points": ["fabric cover", "base"],
        "photos_required": 1,
        "cosmetic_criteria": {"B": "light marks on the fabric, none on the touch panel"},
    }
    response = world.call(
        "admin", "PUT", "/api/v1/products/SPK-100/inspection-checklist", json=checklist
    )
    assert response.status_code == 200, response.text
    make_user("tina", "technician", sites=["HUB-A"])
    authorized(world, "SPK000013")
    photo = tmp_path / "front.jpg"
    photo.write_bytes(photo_bytes("JPEG", "teal", size=64))

    page = browser.new_page(viewport=TABLET, has_touch=True, is_mobile=True)
    sign_in(page, server.url, "tina")
    scan(page, "SPK000013")
    record(page)  # receive
    expect(page.locator("#next-step")).to_have_text("Next: inspect")
    expect(page.locator("#passes")).to_contain_text("1 photo of the unit")
    expect(page.locator("#f-photos")).to_be_visible()
    # One column on a portrait tablet: nothing wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= TABLET["width"], width

    # Without the photo the inspection is refused, and the page says what to do.
    page.get_by_label("power adapter").check()
    with page.expect_navigation():
        page.locator("#record").click()
    expect(page.locator("#error-photos")).to_contain_text("upload 1 more")
    expect(page.locator("#state")).to_have_text("received")

    scan(page, "SPK000013")  # a fresh form, as the next technician at the bench sees it
    expect(page.locator("#error-photos")).to_have_count(0)
    page.get_by_label("power adapter").check()
    page.get_by_label("base").check()
    page.locator("#f-photos").set_input_files(str(photo))
    page.screenshot(path=shots(tmp_path) / "station-tablet.png", full_page=True)
    with page.expect_navigation():
        page.locator("#record").click()
    expect(page.locator("#next-step")).to_have_text("Next: sanitize")

    inspection = world.unit("SPK000013")["history"][-1]
    assert inspection["step"] == "inspect" and inspection["outcome"] == "pass"
    evidence = inspection["evidence"]
    assert evidence["accessories_present"] == ["power adapter"]
    assert evidence["accessories_missing"] == ["quick start guide"]
    assert evidence["cosmetic_findings"] == ["base"]
    assert evidence["checklist"]["version"] == 1 and len(evidence["photos"]) == 1
    photos = world.call("tech_a", "GET", "/api/v1/units/SPK000013/photos").json()
    assert [p["content_type"] for p in photos] == ["image/jpeg"]
