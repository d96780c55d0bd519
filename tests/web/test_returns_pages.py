"""Return cases in the console: supervisors list, filter, open, resolve and cancel them."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.returns.conftest import ReturnsWorld, returns_world  # noqa: F401 - the fixture

HTML = {"accept": "text/html"}


def _signed_in(client: TestClient, make_user: Any, role: str) -> str:
    make_user("sam", role, sites=["HUB-US"] if role == "technician" else None)
    page = client.get("/login", headers=HTML)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    client.post(
        "/login",
        data={"username": "sam", "password": "correct-horse", "csrf": token.group(1), "next": "/"},
        headers=HTML,
    )
    fresh = re.search(r'name="csrf" value="([^"]+)"', client.get("/", headers=HTML).text)
    assert fresh  # signing in starts a new session with a new token
    return fresh.group(1)


def test_a_supervisor_lists_opens_and_resolves_a_case(
    returns_world: ReturnsWorld,  # noqa: F811
    make_user: Any,
) -> None:
    kept = returns_world.open(
        serial=returns_world.sell(),
        reason="defect.hardware",
        resolution="repair",
        note="<b>loud</b>",
    )
    dropped = returns_world.open(serial=returns_world.sell(region="EU"))
    browser = TestClient(returns_world.client.app, raise_server_exceptions=False)
    csrf = _signed_in(browser, make_user, "supervisor")
    listing = browser.get("/cases", headers=HTML)
    assert (
        listing.status_code == 200
        and kept["rma"] in listing.text
        and 'href="/cases"' in listing.text
    )
    assert dropped["rma"] not in browser.get("/cases?region=US", headers=HTML).text
    page = browser.get(f"/cases/{kept['rma']}", headers=HTML)
    assert "window.return" in page.text and "R1 the procedure needs" in page.text
    returns_world.call(
        "admin", "POST", f"/api/v1/units/{kept['serial']}/steps/receive", json={"site": "HUB-US"}
    )
    browser.post(
        f"/cases/{kept['rma']}/resolve", data={"csrf": csrf, "outcome": "repaired"}, headers=HTML
    )
    assert (
        returns_world.call("agent", "GET", f"/api/v1/returns/{kept['rma']}").json()["status"]
        == "resolved"
    )
    browser.post(
        f"/cases/{dropped['rma']}/cancel", data={"csrf": csrf, "reason": "duplicate"}, headers=HTML
    )
    assert (
        returns_world.call("agent", "GET", f"/api/v1/returns/{dropped['rma']}").json()["status"]
        == "cancelled"
    )


def test_a_technician_may_not_see_cases(
    returns_world: ReturnsWorld,  # noqa: F811
    make_user: Any,
) -> None:
    browser = TestClient(returns_world.client.app, raise_server_exceptions=False)
    _signed_in(browser, make_user, "technician")
    assert 'href="/cases"' not in browser.get("/", headers=HTML).text
    assert browser.get("/cases", headers=HTML).status_code == 403
