"""The planning pages in real Chromium against the real server: an analyst edits the cost
model's inputs and sees the result change; the forecast page draws its charts; a technician
is refused; a bad input is named on the form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, sync_playwright

from backhaul.app import create_app
from backhaul.db import dispose_engines, session_scope
from backhaul.demo.world import DEMO_PASSWORD, load_demo
from backhaul.kit.auth import cli_actor
from backhaul.settings import get_settings
from tests.conftest import fresh_database
from tests.live_server import LiveServer, live_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
BROWSER = {"accept": "text/html"}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def server(
    migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One demo world and one real server for the module (starting them is the slow part)."""
    tmp = tmp_path_factory.mktemp("planning-pages")
    with pytest.MonkeyPatch.context() as mp:
        fresh_database(migrated_template, tmp, mp)
        with session_scope() as session:
            load_demo(session, cli_actor("pytest"), seed=7, units=800)
        try:
            with live_server(tmp / "server.log") as running:
                yield running
        finally:
            dispose_engines()
            get_settings.cache_clear()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")


def _cost(page: Page) -> float:
    text = page.inner_text(".results .tile strong")
    match = re.match(r"([\d,.]+)", text)
    assert match, text
    return float(match.group(1).replace(",", ""))


def test_an_analyst_edits_the_inputs_and_sees_the_cost_change(
    server: LiveServer, browser: Browser
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _sign_in(page, server.url, "analyst")
    page.click("nav >> text=Planning")
    page.wait_for_selector(".chart .main-svg")  # plotly.js, served by us, drew the charts
    assert page.locator(".chart .main-svg").count() >= 4
    before = _cost(page)
    page.select_option("select[name=sku]", "RNG-200")
    page.wait_for_url(re.compile(r".*sku=RNG-200"))
    ring = _cost(page)
    assert ring != before  # a different price, a different cost
    page.fill("input[name='returns.rate.low']", "0.20")
    page.fill("input[name='returns.rate.mode']", "0.25")
    page.fill("input[name='returns.rate.high']", "0.30")
    page.click("text=Run the model")
    page.wait_for_selector(".chart .main-svg")
    assert _cost(page) > ring * 2  # from about 8% returns to about 25%
    assert page.input_value("input[name='returns.rate.mode']") == "0.25"  # the form keeps edits
    page.fill("input[name='refurbishment.yield.low']", "0.9")  # low above likely
    page.click("text=Run the model")
    alert = page.inner_text("[role=alert]")
    assert "refurbishment.yield" in alert and "low <= mode <= high" in alert
    assert page.locator("tr.bad input[name='refurbishment.yield.low']").count() == 1
    assert errors == []


def test_the_forecast_page_draws_the_forecast_backtest_and_staffing(
    server: LiveServer, browser: Browser
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, server.url, "analyst")
    page.goto(f"{server.url}/planning/forecast?horizon=6&by=hub")
    page.wait_for_selector(".chart .main-svg")
    assert page.locator(".chart .main-svg").count() >= 3
    assert "all series (sum)" in page.inner_text("main")
    assert "HUB-EU" in page.inner_text("main")
    assert "UK → HUB-EU" in page.inner_text(".sources")


def test_a_technician_is_refused_the_planning_pages(server: LiveServer) -> None:
    client = TestClient(create_app())
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    client.post(
        "/login",
        data={"username": "tech.us", "password": DEMO_PASSWORD, "csrf": csrf.group(1)},
        headers=BROWSER,
    )
    home = client.get("/", headers=BROWSER)
    assert home.status_code == 200 and "/planning/costmodel" not in home.text  # no nav link
    assert client.get("/planning/forecast", headers=BROWSER).status_code == 403
