"""The web pages: sign-in with a session cookie, CSRF on every form, lock-out, no open redirect,
scope on every page, readable form errors and escaped output."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backhaul.accounts.models import User
from backhaul.db import session_scope
from backhaul.kit.audit import AuditRecord
from tests.conftest import product_payload, site_payload

PASSWORD = "correct-horse"
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
MakeUser = Callable[..., None]


def _csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path, headers=BROWSER)
    assert page.status_code == 200, page.text
    match = re.search(r'<input type="hidden" name="csrf" value="([^"]+)"', page.text)
    assert match, "the page has no CSRF field"
    return match.group(1)


def _login(client: TestClient, username: str, password: str = PASSWORD, next: str = "/") -> Any:
    form = {"username": username, "password": password, "csrf": _csrf(client), "next": next}
    return client.post("/login", data=form, headers=BROWSER, follow_redirects=False)


def _signed_in(client: TestClient) -> bool:
    return client.get("/", headers=BROWSER, follow_redirects=False).status_code == 200


@pytest.fixture
def browser(app: Any) -> TestClient:
    """A browser with its own cookie jar (no API token)."""
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def sites(admin: TestClient) -> TestClient:
    for code in ("HUB-A", "HUB-B"):
        assert (
            admin.post(
                "/api/v1/sites", json=site_payload(code=code, name=f"Hub {code[-1]}")
            ).status_code
            == 201
        )
    return admin


@pytest.fixture
def people(sites: TestClient, make_user: MakeUser) -> None:
    make_user("ada", "admin")
    make_user("tom", "technician", sites=["HUB-A"])


# --- sign-in --------------------------------------------------------------------------------


def test_signing_in_starts_a_session_and_the_home_page_shows_the_role(
    browser: TestClient, people: None
) -> None:
    response = _login(browser, "tom")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("backhaul_session=") and "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    home = browser.get("/", headers=BROWSER)
    assert home.status_code == 200
    assert "<em>technician</em>" in home.text and "Tom" in home.text


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    browser: TestClient, people: None
) -> None:
    wrong = _login(browser, "tom", "not-the-password")
    unknown = _login(browser, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "unknown user name or wrong password" in wrong.text
    assert "unknown user name or wrong password" in unknown.text
    assert not _signed_in(browser)


def test_signing_out_ends_the_session(browser: TestClient, people: None) -> None:
    _login(browser, "tom")
    assert _signed_in(browser)
    rejected = browser.post("/logout", data={"csrf": "forged"}, headers=BROWSER)
    assert rejected.status_code == 403 and _signed_in(browser)
    out = browser.post("/logout", data={"csrf": _csrf(browser, "/")}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert not _signed_in(browser)


@pytest.mark.parametrize("path", ["/", "/catalog/products", "/catalog/sites"])
def test_pages_send_a_signed_out_visitor_to_the_login_page(
    browser: TestClient, people: None, path: str
) -> None:
    response = browser.get(path, headers=BROWSER, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"
    assert "Smart speaker" not in response.text


def test_after_signing_in_the_visitor_lands_where_they_were_going(
    browser: TestClient, people: None
) -> None:
    assert 'value="/catalog/sites"' in browser.get("/login?next=/catalog/sites").text
    response = _login(browser, "tom", next="/catalog/sites")
    assert response.headers["location"] == "/catalog/sites"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/catalog/products",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_sends_the_browser_to_another_site(
    browser: TestClient, people: None, target: str
) -> None:
    response = _login(browser, "tom", next=target)
    assert response.status_code == 303
    location = response.headers["location"]
    # A path on this site: no scheme, no host, nothing a browser reads as "//host".
    parts = urlsplit(location)
    assert location.startswith("/") and not parts.scheme and not parts.netloc
    assert location[1:2] not in ("/", "\\") and location.isprintable(), location
    # Nor does the login form carry a foreign target along.
    form = browser.get("/login", params={"next": target}).text
    kept = re.search(r'name="next" value="([^"]*)"', form)
    assert kept and urlsplit(html.unescape(kept.group(1))).netloc == ""


# --- CSRF -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_a_login_without_the_right_csrf_token_is_refused(
    browser: TestClient, people: None, token: str | None
) -> None:
    _csrf(browser)  # the session has a token; the form just does not carry it
    form = {"username": "tom", "password": PASSWORD, "next": "/"}
    if token is not None:
        form["csrf"] = token
    response = browser.post("/login", data=form, headers=BROWSER, follow_redirects=False)
    assert response.status_code == 403
    assert "expired" in response.text
    assert not _signed_in(browser)


@pytest.fixture
def signed_in_admin(browser: TestClient, people: None) -> TestClient:
    assert _login(browser, "ada").status_code == 303
    return browser


def _product_form(csrf: str | None, **overrides: str) -> dict[str, str]:
    form = {k: str(v) for k, v in product_payload().items()} | overrides
    if csrf is not None:
        form["csrf"] = csrf
    return form


def _skus(client: TestClient) -> list[str]:
    return [p["sku"] for p in client.get("/api/v1/products").json()]


def test_the_add_product_form_needs_its_csrf_token(
    signed_in_admin: TestClient, sites: TestClient
) -> None:
    browser = signed_in_admin
    for token in (None, "", "wrong-token"):
        response = browser.post("/catalog/products", data=_product_form(token), headers=BROWSER)
        assert response.status_code == 403, token
        assert _skus(sites) == []
    # A token from another session is no good either.
    other = TestClient(browser.app, raise_server_exceptions=False)
    stolen = _csrf(other)
    response = browser.post("/catalog/products", data=_product_form(stolen), headers=BROWSER)
    assert response.status_code == 403 and _skus(sites) == []
    # With this session's token it works.
    token = _csrf(browser, "/catalog/products")
    added = browser.post("/catalog/products", data=_product_form(token), follow_redirects=False)
    assert added.status_code == 303 and _skus(sites) == ["SPK-100"]
    assert "Product SPK-100 added." in browser.get("/catalog/products").text


def test_a_csrf_refusal_is_problem_details_for_a_non_browser(
    signed_in_admin: TestClient,
) -> None:
    response = signed_in_admin.post("/catalog/products", data=_product_form(None))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_a_technician_cannot_add_a_product_even_with_a_valid_form(
    browser: TestClient, people: None, sites: TestClient
) -> None:
    _login(browser, "tom")
    page = browser.get("/catalog/products", headers=BROWSER)
    assert "Add a product" not in page.text
    token = _csrf(browser, "/catalog/products")
    response = browser.post("/catalog/products", data=_product_form(token), headers=BROWSER)
    assert response.status_code == 403
    assert _skus(sites) == []


# --- lock-out -------------------------------------------------------------------------------


def _login_failures(username: str) -> list[dict[str, Any]]:
    with session_scope(write=False) as session:
        return [
            record.after
            for record in session.scalars(
                select(AuditRecord)
                .where(AuditRecord.action == "user.login_failed", AuditRecord.object_id == username)
                .order_by(AuditRecord.id)
            )
        ]


def test_repeated_failures_lock_the_account_even_against_the_right_password(
    browser: TestClient, people: None
) -> None:
    for _ in range(5):  # login_max_failures
        assert _login(browser, "tom", "guess").status_code == 401
    sixth = _login(browser, "tom", PASSWORD)
    assert sixth.status_code == 401
    assert "too many failed attempts" in sixth.text
    assert not _signed_in(browser)
    failures = _login_failures("tom")
    assert len(failures) == 6  # every refused attempt, the one while locked too
    assert [f["locked"] for f in failures] == [False] * 4 + [True, True]
    # Another person is not affected.
    assert _login(TestClient(browser.app), "ada").status_code == 303


def test_the_lock_lifts_after_its_time(browser: TestClient, people: None) -> None:
    for _ in range(5):
        _login(browser, "tom", "guess")
    assert _login(browser, "tom").status_code == 401
    with session_scope() as session:
        user = session.scalars(select(User).where(User.username == "tom")).one()
        assert user.locked_until is not None
        user.locked_until = user.locked_until.replace(year=2000)
    assert _login(browser, "tom").status_code == 303


def test_a_successful_login_resets_the_failure_count(browser: TestClient, people: None) -> None:
    for _ in range(4):
        _login(browser, "tom", "guess")
    assert _login(browser, "tom").status_code == 303
    browser.cookies.clear()
    for _ in range(4):
        _login(browser, "tom", "guess")
    assert _login(browser, "tom").status_code == 303


# --- scope on pages -------------------------------------------------------------------------


def test_a_technician_sees_only_their_site(
    browser: TestClient, people: None, signed_in_admin: TestClient
) -> None:
    admin_home = signed_in_admin.get("/").text
    assert "HUB-A" in admin_home and "HUB-B" in admin_home  # both exist
    tech = TestClient(signed_in_admin.app)
    _login(tech, "tom")
    for path in ("/", "/catalog/sites"):
        page = tech.get(path, headers=BROWSER).text
        assert "HUB-A" in page and "HUB-B" not in page and "Hub B" not in page, path


# --- form errors and escaping ---------------------------------------------------------------


def _field_value(page: str, name: str) -> str | None:
    match = re.search(rf'<input name="{name}"[^>]* value="([^"]*)"', page)
    return html.unescape(match.group(1)) if match else None


def test_a_bad_product_form_names_the_field_and_keeps_what_was_typed(
    signed_in_admin: TestClient, sites: TestClient
) -> None:
    browser = signed_in_admin
    token = _csrf(browser, "/catalog/products")
    typed = _product_form(token, serial_pattern="SPK[0-9", name='Ring "Pro" <2>', sku="RNG-1")
    response = browser.post("/catalog/products", data=typed, headers=BROWSER)
    assert response.status_code == 422
    assert "The product was not added" in response.text
    assert re.search(r"<strong>serial_pattern</strong>: [^<]*regular expression", response.text)
    assert _field_value(response.text, "serial_pattern") == "SPK[0-9"
    assert _field_value(response.text, "name") == 'Ring "Pro" <2>'
    assert _field_value(response.text, "sku") == "RNG-1"
    assert _field_value(response.text, "weight_g") == "800"
    assert _skus(sites) == []


def test_a_product_form_with_several_mistakes_names_each(
    signed_in_admin: TestClient, sites: TestClient
) -> None:
    token = _csrf(signed_in_admin, "/catalog/products")
    typed = _product_form(token, weight_g="heavy", hs_code="abc")
    page = signed_in_admin.post("/catalog/products", data=typed, headers=BROWSER).text
    assert "<strong>weight_g</strong>" in page and "<strong>hs_code</strong>" in page
    assert _field_value(page, "weight_g") == "heavy"


def test_a_duplicate_sku_in_the_form_is_named_too(
    signed_in_admin: TestClient, sites: TestClient
) -> None:
    assert sites.post("/api/v1/products", json=product_payload()).status_code == 201
    token = _csrf(signed_in_admin, "/catalog/products")
    response = signed_in_admin.post("/catalog/products", data=_product_form(token), headers=BROWSER)
    assert response.status_code == 422  # shown again on the form, like any other mistake
    assert "<strong>sku</strong>" in response.text and "already exists" in response.text


def test_markup_in_a_product_name_is_shown_as_text(
    signed_in_admin: TestClient, sites: TestClient
) -> None:
    name = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    assert sites.post("/api/v1/products", json=product_payload(name=name)).status_code == 201
    page = signed_in_admin.get("/catalog/products", headers=BROWSER).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page
    # Same for what was typed into a rejected form.
    token = _csrf(signed_in_admin, "/catalog/products")
    typed = _product_form(token, sku="X-2", name='"><script>alert(2)</script>', weight_g="-1")
    again = signed_in_admin.post("/catalog/products", data=typed, headers=BROWSER).text
    assert "<script>alert(2)" not in again and "&lt;script&gt;alert(2)" in again


def test_the_products_page_shows_where_each_brand_deactivates_accounts(
    signed_in_admin: TestClient, sites: TestClient
) -> None:
    cloud = "https://cloud.lumen.example/v1"
    created = sites.post(
        "/api/v1/brands", json={"code": "lumen", "name": "Lumen", "device_cloud_url": cloud}
    )
    assert created.status_code == 201
    page = signed_in_admin.get("/catalog/products", headers=BROWSER).text
    brands = re.search(r'<table id="brands">.*?</table>', page, re.S)
    assert brands is not None
    rows = re.findall(r"<tr><td><code>(\w+)</code></td>.*?</tr>", brands[0], re.S)
    assert rows == ["default", "lumen"]
    assert f"the device cloud <code>{cloud}</code>" in brands[0]
    assert "the station's device adapter" in brands[0]
