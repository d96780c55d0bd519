"""Take the screenshots in docs/images/ from a running demo (`make run`), in Debian's Chromium.

Usage: .venv/bin/python scripts/screenshots.py [BASE_URL]
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).resolve().parents[1] / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def sign_in(page: Page, username: str) -> None:
    page.goto(f"{BASE}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "backhaul-demo")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{BASE}/")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{BASE}/login")
        page.screenshot(path=OUT / "login.png")
        sign_in(page, "tech.us")
        page.screenshot(path=OUT / "home-technician.png", full_page=True)
        page.context.clear_cookies()
        sign_in(page, "admin")
        page.goto(f"{BASE}/catalog/products")
        page.screenshot(path=OUT / "products-admin.png", full_page=True)
        # Planning: the cost model and the forecast, as an analyst sees them.
        page.context.clear_cookies()
        sign_in(page, "analyst")
        page.goto(f"{BASE}/planning/costmodel?sku=TAB-K8")
        page.wait_for_selector(".chart .main-svg")
        page.screenshot(path=OUT / "planning-costmodel.png", full_page=True)
        page.goto(f"{BASE}/planning/forecast")
        page.wait_for_selector(".chart .main-svg")
        page.screenshot(path=OUT / "planning-forecast.png", full_page=True)
        browser.close()
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
