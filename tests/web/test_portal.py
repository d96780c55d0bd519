"""The customer returns portal: ownership, reasons, safety questions, setup help, photos, the
decision, the label and the status page, in five languages with locale formats; CSRF on every
form; and no input to any form makes a 500 or gets HTML through unescaped."""

from __future__ import annotations

import base64
import html
import re
from typing import Any

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from backhaul.db import session_scope
from backhaul.returns.models import IntakeLog, ReturnCase
from backhaul.settings import get_settings
from tests.returns.conftest import ReturnsWorld, returns_world  # noqa: F401 - the fixture

HTML = {"accept": "text/html"}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def csrf(client: TestClient, path: str = "/returns") -> str:
    page = client.get(path, headers=HTML)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def start(client: TestClient, email: str = "ada@example.com", **fields: str) -> Any:
    token = csrf(client)
    return client.post("/returns", data={"csrf": token, "email": email, **fields}, headers=HTML)


def answer(client: TestClient, reason: str, files: Any = None, **fields: str) -> Any:
    token = csrf(client, "/returns/reason")
    data = {"csrf": token, "reason": reason, "battery": "ok"} | fields
    return client.post("/returns/reason", data=data, files=files, headers=HTML)


def confirm(client: TestClient, resolution: str, **fields: str) -> Any:
    token = csrf(client, "/returns/decision")
    data = {"csrf": token, "resolution": resolution, "shipping": "dropoff"} | fields
    return client.post("/returns/confirm", data=data, headers=HTML, follow_redirects=False)


@pytest.fixture
def browser(returns_world: ReturnsWorld) -> TestClient:  # noqa: F811
    return returns_world.client


def test_a_customer_returns_a_unit_in_english(
    returns_world: ReturnsWorld,  # noqa: F811
    browser: TestClient,
) -> None:
    serial = returns_world.sell(order="LU-100")
    page = start(browser, order_ref="LU-100")
    assert page.status_code == 200 and "Why are you returning it?" in page.text
    decision = answer(browser, "remorse.changed_mind")
    assert "you are inside the return window" in decision.text
    assert "$19.35" in decision.text  # the restocking fee in the customer's locale
    done = confirm(browser, "refund", name="Ada", address="1 Main St\nReno")
    assert done.status_code == 303 and done.headers["location"].startswith("/returns/status/")
    status = browser.get(done.headers["location"], headers=HTML)
    assert "Label ready: send the parcel" in status.text and "Download the label" in status.text
    with session_scope(write=False) as session:
        case = session.scalars(select(ReturnCase)).one()
    assert case.serial == serial and case.channel == "portal" and case.locale == "en"
    assert returns_world.unit(serial)["state"] == "return_authorized"
    label = re.search(r'href="(/returns/label/[^"]+\.pdf)"', status.text)
    assert label and browser.get(label.group(1)).content.startswith(b"%PDF")


def test_the_language_comes_from_the_browser_and_the_switcher(browser: TestClient) -> None:
    page = browser.get("/returns", headers=HTML | {"accept-language": "ja-JP,ja;q=0.9,en;q=0.5"})
    assert '<html lang="ja">' in page.text and "製品の返品・修理" in page.text
    page = browser.get("/returns?lang=de", headers=HTML | {"accept-language": "ja"})
    assert '<html lang="de">' in page.text and "Gerät zurücksenden" in page.text
    page = browser.get("/returns", headers=HTML | {"accept-language": "ja"})
    assert '<html lang="de">' in page.text  # the choice is remembered
    for code in ("en", "fr", "es"):
        assert f'<html lang="{code}">' in browser.get(f"/returns?lang={code}", headers=HTML).text


@pytest.mark.parametrize("locale", ["de", "fr", "es", "ja"])
def test_dates_and_money_are_written_the_customers_way(
    returns_world: ReturnsWorld,  # noqa: F811
    browser: TestClient,
    locale: str,
) -> None:
    from datetime import date

    returns_world.sell(order="LU-7")
    browser.get(f"/returns?lang={locale}", headers=HTML)
    start(browser, order_ref="LU-7")
    page = answer(browser, "remorse.changed_mind")
    assert page.status_code == 200
    fee = html.escape(format_currency(19.35, "USD", locale=locale))
    assert fee in page.text
    today = date.today()
    ends = [
        d
        for d in range(25, 40)
        if format_date(date.fromordinal(today.toordinal() + d), "long", locale=locale) in page.text
    ]
    assert ends, "the window's end date is written in the locale's long format"


def test_a_wrong_email_gets_one_message_for_every_mismatch_and_is_counted(
    returns_world: ReturnsWorld,  # noqa: F811
    browser: TestClient,
) -> None:
    serial = returns_world.sell(order="LU-9")
    wrong_email = start(browser, email="eve@example.com", order_ref="LU-9")
    unknown = start(browser, serial="SPK424242")
    wrong_order = start(browser, order_ref="LU-8", serial=serial)
    for page in (wrong_email, unknown, wrong_order):
        assert page.status_code == 422
        assert "We could not find a purchase with these details" in page.text
    with session_scope(write=False) as session:
        rules = sorted(session.scalars(select(IntakeLog.rule)))
    assert rules == [
        "ownership.email_mismatch",
        "ownership.order_mismatch",
        "ownership.serial_not_sold",
    ]


def test_an_order_with_two_units_asks_which(
    returns_world: ReturnsWorld,  # noqa: F811
    browser: TestClient,
) -> None:
    first = returns_world.sell(order="LU-2")
    second = returns_world.sell("CAM-AI1", order="LU-2")
    page = start(browser, order_ref="LU-2")
    assert first in page.text and second in page.text
    token = csrf(browser)
    chosen = browser.post("/returns/unit", data={"csrf": token, "serial": second}, headers=HTML)
    assert second in chosen.text and "Battery safety" in chosen.text  # the camera has a battery
    forged = browser.post(
        "/returns/unit",
        data={"csrf": token, "serial": "SPK000999"},
        headers=HTML,
        follow_redirects=False,
    )
    assert forged.headers["location"] == "/returns"


def test_setup_help_comes_first_and_the_answer_is_recorded(
    returns_world: ReturnsWorld,  # noqa: F811
    browser: TestClient,
) -> None:
    returns_world.sell(order="LU-3")
    start(browser, order_ref="LU-3")
    page = answer(browser, "setup.pairing")
    assert "Before you send it back" in page.text
    token = csrf(browser, "/returns/help")
    solved = browser.post("/returns/help", data={"csrf": token, "outcome": "solved"}, headers=HTML)
    assert "Glad it works" in solved.text
    with session_scope(write=False) as session:
        assert session.scalars(select(IntakeLog.outcome)).all() == ["deflected"]
    start(browser, order_ref="LU-3")
    answer(browser, "setup.account")
    token = csrf(browser, "/returns/help")
    went_on = browser.post(
        "/returns/help", data={"csrf": token, "outcome": "continued"}, headers=HTML
    )
    assert "Our decision" in went_on.text
    assert confirm(browser, "refund").status_code == 303
    with session_scope(write=False) as session:
        assert session.scalars(select(ReturnCase.setup_help)).one() == "continued"


def test_a_damage_claim_needs_a_photo_and_takes_only_images(
    returns_world: ReturnsWorld,  # noqa: F811
    browser: TestClient,
) -> None:
    returns_world.sell("CAM-AI1", order="LU-4")
    start(browser, order_ref="LU-4")
    assert "at least one photo" in answer(browser, "damage.transit").text
    not_image = answer(
        browser, "damage.transit", files=[("photos", ("x.png", b"<script>", "image/png"))]
    )
    assert not_image.status_code == 422 and "JPEG or PNG" in not_image.text
    ok = answer(browser, "damage.transit", files=[("photos", ("dent.png", PNG, "image/png"))])
    assert "Our decision" in ok.text
    assert confirm(browser, "replace").status_code == 303
    with session_scope(write=False) as session:
        case = session.scalars(select(ReturnCase)).one()
    assert case.photos[0]["type"] == "image/png"
    photo = returns_world.call("agent", "GET", f"/api/v1/returns/{case.rma}/photos/1")
    assert photo.status_code == 200 and photo.content == PNG


def test_the_photo_size_a_customer_is_told_is_the_configured_one(
    returns_world: ReturnsWorld,  # noqa: F811
    browser: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKHAUL_MAX_PHOTO_BYTES", "2500000")
    get_settings.cache_clear()
    returns_world.sell("CAM-AI1", order="LU-9")
    browser.get("/returns?lang=de", headers=HTML)
    start(browser, order_ref="LU-9")
    refused = answer(
        browser, "damage.transit", files=[("photos", ("x.png", b"<script>", "image/png"))]
    )
    assert refused.status_code == 422
    assert "höchstens 2,5 MB" in html.unescape(refused.text)


def test_a_damaged_battery_is_told_ground_only(
    returns_world: ReturnsWorld,  # noqa: F811
    browser: TestClient,
) -> None:
    returns_world.sell("CAM-AI1", order="LU-5")
    start(browser, order_ref="LU-5")
    page = answer(browser, "defect.battery", battery="damaged")
    assert "use ground transport only" in page.text
    assert confirm(browser, "repair").status_code == 303
    with session_scope(write=False) as session:
        assert session.scalars(select(ReturnCase.ground_only)).one() is True


def test_an_opened_health_ring_is_refused_for_a_change_of_mind(
    returns_world: ReturnsWorld,  # noqa: F811
    browser: TestClient,
) -> None:
    returns_world.sell("RNG-200", order="LU-6")
    start(browser, order_ref="LU-6")
    page = answer(browser, "remorse.changed_mind")
    assert "For hygiene reasons" in page.text and "regulated.hygiene_seal" in page.text
    assert 'action="/returns/confirm"' not in page.text


def test_every_form_needs_its_csrf_token(browser: TestClient) -> None:
    for path in ("/returns", "/returns/reason", "/returns/confirm", "/returns/help"):
        response = browser.post(path, data={"email": "a@b.c"}, headers=HTML)
        assert response.status_code == 403, path


def test_a_customer_cancels_before_shipping(
    returns_world: ReturnsWorld,  # noqa: F811
    browser: TestClient,
) -> None:
    returns_world.sell(order="LU-11")
    start(browser, order_ref="LU-11")
    answer(browser, "defect.hardware")
    status_path = confirm(browser, "repair").headers["location"]
    token = csrf(browser, status_path)
    browser.post(f"{status_path}/cancel", data={"csrf": token}, headers=HTML)
    page = browser.get(status_path, headers=HTML)
    assert ">Cancelled<" in page.text or "Cancelled" in page.text
    assert "Cancel this return" not in page.text
    assert browser.get(status_path + "x", headers=HTML).status_code == 422


MARKUP = "<script>alert(1)</script>"
TEXT = st.one_of(st.text(max_size=60), st.just(MARKUP), st.just('"><img src=x onerror=1>'))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    email=TEXT,
    order_ref=TEXT,
    serial=TEXT,
    reason=TEXT,
    note=TEXT,
    battery=TEXT,
    resolution=TEXT,
    shipping=TEXT,
    name=TEXT,
    address=TEXT,
)
def test_no_form_input_makes_a_500_and_markup_is_escaped(
    returns_world: ReturnsWorld,  # noqa: F811
    email: str,
    order_ref: str,
    serial: str,
    reason: str,
    note: str,
    battery: str,
    resolution: str,
    shipping: str,
    name: str,
    address: str,
) -> None:
    client = returns_world.client
    if not returns_world.counter[0]:
        returns_world.sell(order="LU-1", email="ada@example.com")
    pages = [
        start(client, email=email, order_ref=order_ref, serial=serial),
        start(client, order_ref="LU-1"),
        answer(client, reason, note=note, battery=battery),
        answer(client, "defect.hardware", note=note, battery=battery),
        confirm(client, resolution, shipping=shipping, name=name, address=address),
    ]
    for page in pages:
        assert page.status_code < 500, page.text[:300]
        assert MARKUP not in page.text and "<img src=x" not in page.text
    # Clean up a case opened by a valid path, so the next example can open one again.
    with session_scope() as session:
        for case in session.scalars(select(ReturnCase)):
            session.delete(case)
