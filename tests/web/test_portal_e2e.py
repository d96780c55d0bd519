"""End to end in Debian's Chromium against the real server: a customer returns a unit in
English and another in Japanese, downloads the label, and follows the status page while the
carrier's webhook and the hub move the unit. Screenshots go to BACKHAUL_SCREENSHOTS when set
(`docs/images` refreshes the README's), else to the test's temporary folder."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest
import zxingcpp
from playwright.sync_api import Browser, Page, expect

from backhaul.integrations.carriers import EasyPost
from backhaul.settings import get_settings
from tests.integrations.test_easypost import tracker
from tests.live_server import LiveServer
from tests.returns.conftest import ReturnsWorld, returns_world  # noqa: F401 - the fixture

SECRET = "e2e-webhook-secret"
# No skip when Chromium is missing: `make test` installs it, and a silent skip would hide this.
pytestmark = [pytest.mark.slow]


@pytest.fixture
def server(
    returns_world: ReturnsWorld,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "server.log")
    monkeypatch.setenv("BACKHAUL_PUBLIC_URL", live.url)
    monkeypatch.setenv("BACKHAUL_EASYPOST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("BACKHAUL_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("BACKHAUL_UPLOADS_DIR", str(tmp_path / "uploads"))
    get_settings.cache_clear()
    live.start()
    try:
        yield live
    finally:
        live.stop()


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("BACKHAUL_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def return_unit(
    page: Page, base: str, order: str, reason: str, resolution: str, folder: Path, suffix: str
) -> str:
    """Walk the portal; returns the status page's URL."""
    page.goto(f"{base}/returns")
    page.fill("input[name=email]", "ada@example.com")
    page.fill("input[name=order_ref]", order)
    page.screenshot(path=folder / f"portal-start-{suffix}.png", full_page=True)
    page.locator("form button[type=submit]").click()
    page.wait_for_url("**/returns/reason")
    page.select_option("select[name=reason]", reason)
    page.fill("textarea[name=note]", "It stopped working after a week.")
    page.screenshot(path=folder / f"portal-reason-{suffix}.png", full_page=True)
    page.locator("form button[type=submit]").click()
    page.wait_for_url("**/returns/decision")
    page.check(f"input[name=resolution][value={resolution}]")
    page.fill("input[name=name]", "Ada Lovelace" if suffix == "en" else "山田 花子")
    page.fill(
        "textarea[name=address]",
        "12 Analytical Way\nReno, NV" if suffix == "en" else "大阪市北区梅田1-1-1",
    )
    page.screenshot(path=folder / f"portal-decision-{suffix}.png", full_page=True)
    page.locator("form[action='/returns/confirm'] button[type=submit]").click()
    page.wait_for_url("**/returns/status/**")
    return page.url


def download_label(page: Page) -> bytes:
    with page.expect_download() as download:
        page.click("#label")
    path = download.value.path()
    assert path is not None
    return Path(path).read_bytes()


def rma_in(pdf: bytes) -> set[str]:
    document = pdfium.PdfDocument(pdf)
    image = document[0].render(scale=300 / 72).to_pil()
    found = {result.text for result in zxingcpp.read_barcodes(image)}
    document.close()
    return found


def carrier(base: str, code: str, status: str, event: str) -> None:
    from datetime import UTC, datetime

    at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    body = tracker(code, status, [(status, at)], event)
    response = httpx.post(
        f"{base}/api/v1/carriers/easypost/webhook",
        content=body,
        headers={
            "X-Hmac-Signature": EasyPost(SECRET).signature(body),
            "content-type": "application/json",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text


def case_of(world: ReturnsWorld, base: str, serial: str) -> dict[str, Any]:
    token = world.tokens["agent"]
    listed = httpx.get(
        f"{base}/api/v1/returns?q={serial}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    detail = httpx.get(
        f"{base}/api/v1/returns/{listed[0]['rma']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return detail.json()  # type: ignore[no-any-return]


def receive(world: ReturnsWorld, base: str, serial: str, site: str) -> None:
    response = httpx.post(
        f"{base}/api/v1/units/{serial}/steps/receive",
        json={"site": site, "packaging_seen": "opened"},
        headers={"Authorization": f"Bearer {world.tokens['admin']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_customers_return_in_english_and_japanese_and_follow_the_status(
    returns_world: ReturnsWorld,  # noqa: F811
    server: LiveServer,
    browser: Browser,
    tmp_path: Path,
) -> None:
    folder = shots(tmp_path)
    base = server.url
    english_serial = returns_world.sell(order="LU-100231", region="US")
    japanese_serial = returns_world.sell("CAM-AI1", region="JP", order="LU-100232")

    english = browser.new_page(
        locale="en-US", viewport={"width": 1000, "height": 800}, accept_downloads=True
    )
    status_en = return_unit(english, base, "LU-100231", "defect.hardware", "repair", folder, "en")
    expect(english.locator("#status")).to_have_text("Label ready: send the parcel")
    case_en = case_of(returns_world, base, english_serial)
    assert rma_in(download_label(english)) == {case_en["rma"]}
    english.screenshot(path=folder / "portal-status-en.png", full_page=True)

    japanese = browser.new_page(
        locale="ja-JP", viewport={"width": 1000, "height": 800}, accept_downloads=True
    )
    japanese.set_extra_http_headers({"Accept-Language": "ja-JP,ja;q=0.9"})
    status_ja = return_unit(japanese, base, "LU-100232", "defect.hardware", "repair", folder, "ja")
    expect(japanese.locator("html")).to_have_attribute("lang", "ja")
    expect(japanese.locator("#status")).to_have_text("ラベル発行済み：荷物を発送してください")
    case_ja = case_of(returns_world, base, japanese_serial)
    assert rma_in(download_label(japanese)) == {case_ja["rma"]}

    # The carrier picks both parcels up.
    carrier(base, case_en["tracking_number"], "in_transit", "evt_en_1")
    carrier(base, case_ja["tracking_number"], "in_transit", "evt_ja_1")
    english.goto(status_en)
    expect(english.locator("#status")).to_have_text("On its way to us")
    expect(english.locator("#timeline")).to_contain_text("In transit")
    japanese.goto(status_ja)
    expect(japanese.locator("#status")).to_have_text("当社へ輸送中")
    assert returns_world.unit(english_serial)["state"] == "in_transit"

    # Delivered, then received at the hubs.
    carrier(base, case_en["tracking_number"], "delivered", "evt_en_2")
    english.goto(status_en)
    expect(english.locator("#status")).to_have_text("Delivered to our returns hub")
    receive(returns_world, base, english_serial, "HUB-US")
    receive(returns_world, base, japanese_serial, "HUB-JP")
    english.goto(status_en)
    expect(english.locator("#status")).to_have_text("Received: we are checking it")
    expect(english.locator("#timeline")).to_contain_text("Received at HUB-US hub")
    english.screenshot(path=folder / "portal-timeline-en.png", full_page=True)
    japanese.goto(status_ja)
    expect(japanese.locator("#status")).to_have_text("受領済み：点検中")
    japanese.screenshot(path=folder / "portal-status-ja.png", full_page=True)
    assert returns_world.unit(japanese_serial)["state"] == "received"

    # The dispatcher running inside `backhaul serve` wrote the customers' emails.
    mail = tmp_path / "mail"
    deadline = 60
    while deadline and len(list(mail.glob("*.eml"))) < 4:
        time.sleep(0.5)
        deadline -= 1
    subjects = sorted(path.read_text(errors="replace") for path in mail.glob("*.eml"))
    assert len(subjects) >= 4, subjects
