"""However malformed the request, the API answers with a 4xx and problem details, never a 500,
and a refused request leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from backhaul.catalog.models import Product, Site
from backhaul.db import session_scope
from backhaul.kit.audit import AuditRecord
from tests.conftest import product_payload, site_payload

PROBLEM = "application/problem+json"
LIMIT = 1_000_000  # settings.max_body_bytes, default


def _problem(response: Any, status: int) -> dict[str, Any]:
    """Assert the response is problem details with this status; return the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def _fields(body: dict[str, Any]) -> list[str]:
    return [error["field"] for error in body.get("errors", [])]


def _count(model: type[Any]) -> int:
    with session_scope(write=False) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _post_raw(
    client: TestClient, path: str, content: bytes | Iterator[bytes], **headers: str
) -> Any:
    return client.post(
        path, content=content, headers={"content-type": "application/json", **headers}
    )


# --- malformed JSON, wrong types, unknown fields --------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"sku": "SPK-100",}', b"{'sku': 'SPK-100'}", b'{"sku": }', b"\xff\xfe{}", b"nul"],
)
def test_malformed_json_is_a_400_problem_and_creates_nothing(admin: TestClient, raw: bytes) -> None:
    body = _problem(_post_raw(admin, "/api/v1/products", raw), 400)
    assert body["title"] == "Malformed JSON"
    assert _count(Product) == 0


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/v1/products", product_payload(weight_g="heavy"), "body.weight_g"),
        ("/api/v1/products", product_payload(weight_g=1.5), "body.weight_g"),
        ("/api/v1/products", product_payload(msrp=["129.00"]), "body.msrp"),
        ("/api/v1/products", product_payload(regulated="sometimes"), "body.regulated"),
        ("/api/v1/products", product_payload(serial_pattern="SPK[0-9"), "body.serial_pattern"),
        ("/api/v1/sites", site_payload(capabilities="inspect"), "body.capabilities"),
        ("/api/v1/sites", site_payload(timezone="Mars/Olympus"), "body.timezone"),
        ("/api/v1/sites", site_payload(labour_rate={"amount": 1}), "body.labour_rate"),
    ],
)
def test_a_wrong_type_is_a_422_naming_the_field(
    admin: TestClient, path: str, payload: dict[str, Any], field: str
) -> None:
    body = _problem(admin.post(path, json=payload), 422)
    assert _fields(body) == [field]
    assert field in body["detail"]
    assert admin.get(path).json() == []


def test_a_body_that_is_not_an_object_is_a_422(admin: TestClient) -> None:
    body = _problem(admin.post("/api/v1/products", json=[product_payload()]), 422)
    assert _fields(body) == ["body"]


def test_an_unknown_field_is_a_422_naming_it(admin: TestClient) -> None:
    body = _problem(admin.post("/api/v1/products", json=product_payload(colour="red")), 422)
    assert _fields(body) == ["body.colour"]
    assert _count(Product) == 0


def test_a_patch_may_not_sneak_in_a_field_that_never_changes(admin: TestClient) -> None:
    assert admin.post("/api/v1/products", json=product_payload()).status_code == 201
    body = _problem(admin.patch("/api/v1/products/SPK-100", json={"sku": "SPK-999"}), 422)
    assert _fields(body) == ["body.sku"]
    assert admin.get("/api/v1/products/SPK-100").json()["version"] == 1
    assert admin.get("/api/v1/products/SPK-999").status_code == 404


# --- huge bodies ----------------------------------------------------------------------------


def _huge_product() -> bytes:
    return json.dumps(product_payload(name="x" * (LIMIT + 10))).encode()


def test_a_huge_body_is_a_413_problem(admin: TestClient) -> None:
    body = _problem(_post_raw(admin, "/api/v1/products", _huge_product()), 413)
    assert "1,000,000 bytes" in body["detail"]
    assert _count(Product) == 0


def test_a_declared_huge_body_is_refused_before_it_is_read(admin: TestClient) -> None:
    # Only 2 bytes follow, but the client announced more than the limit: refuse on the header.
    response = _post_raw(admin, "/api/v1/products", b"{}", **{"content-length": str(LIMIT + 1)})
    _problem(response, 413)


def test_a_huge_body_without_content_length_is_counted_and_refused(admin: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        data = _huge_product()
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]

    response = _post_raw(admin, "/api/v1/products", chunks())
    assert "content-length" not in response.request.headers  # really sent chunked
    _problem(response, 413)
    assert _count(Product) == 0


def test_a_huge_body_with_a_lying_content_length_is_refused(admin: TestClient) -> None:
    response = _post_raw(admin, "/api/v1/products", _huge_product(), **{"content-length": "100"})
    _problem(response, 413)
    assert _count(Product) == 0


def test_a_huge_form_is_refused_before_the_login_page_reads_it(client: TestClient) -> None:
    response = client.post(
        "/login",
        content=b"username=" + b"a" * (LIMIT + 1),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    _problem(response, 413)


def test_a_body_just_under_the_limit_is_read_and_judged_on_its_content(
    admin: TestClient,
) -> None:
    payload = json.dumps(product_payload(name="x" * (LIMIT - 1000))).encode()
    assert len(payload) < LIMIT
    body = _problem(_post_raw(admin, "/api/v1/products", payload), 422)
    assert _fields(body) == ["body.name"]  # too long a name, not too big a body


# --- routing --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/products", "/no/such/page"])
def test_an_unknown_route_is_a_404_problem(admin: TestClient, path: str) -> None:
    _problem(admin.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/products", "GET, POST"),
        ("PUT", "/api/v1/products/SPK-100", "GET, PATCH"),
        ("DELETE", "/api/v1/sites/HUB-A", "GET, PATCH"),
        ("PATCH", "/api/v1/users", "GET, POST"),
        ("POST", "/healthz", "GET"),
    ],
)
def test_a_wrong_method_is_a_405_that_lists_every_allowed_method(
    admin: TestClient, method: str, path: str, allow: str
) -> None:
    response = admin.request(method, path)
    _problem(response, 405)
    assert response.headers["allow"] == allow


# --- conflicts and versions -----------------------------------------------------------------


def test_a_duplicate_sku_is_a_409_naming_it_whatever_its_case(admin: TestClient) -> None:
    assert admin.post("/api/v1/products", json=product_payload()).status_code == 201
    for sku in ("SPK-100", "spk-100", " SPK-100 "):
        response = admin.post("/api/v1/products", json=product_payload(sku=sku, name="Clone"))
        assert _fields(_problem(response, 409)) == ["sku"], sku
    assert [p["name"] for p in admin.get("/api/v1/products").json()] == ["Smart speaker"]


def test_a_duplicate_site_code_is_a_409(admin: TestClient) -> None:
    assert admin.post("/api/v1/sites", json=site_payload()).status_code == 201
    response = admin.post("/api/v1/sites", json=site_payload(name="Other"))
    assert _fields(_problem(response, 409)) == ["code"]


@pytest.fixture
def speaker(admin: TestClient) -> TestClient:
    created = admin.post("/api/v1/products", json=product_payload())
    assert created.status_code == 201 and created.headers["etag"] == '"1"'
    return admin


def test_a_stale_if_match_is_a_412_and_changes_nothing(speaker: TestClient) -> None:
    first = speaker.patch(
        "/api/v1/products/SPK-100", json={"msrp": "119.00"}, headers={"If-Match": '"1"'}
    )
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    late = speaker.patch(
        "/api/v1/products/SPK-100", json={"msrp": "99.00"}, headers={"If-Match": '"1"'}
    )
    body = _problem(late, 412)
    assert body["current_version"] == 2
    assert speaker.get("/api/v1/products/SPK-100").json()["msrp"] == "119.00"


@pytest.mark.parametrize("header", ['W/"1"', "1", '"1"', "*"])
def test_a_current_if_match_in_any_accepted_spelling_lets_the_change_through(
    speaker: TestClient, header: str
) -> None:
    response = speaker.patch(
        "/api/v1/products/SPK-100", json={"msrp": "99.00"}, headers={"If-Match": header}
    )
    assert response.status_code == 200 and response.json()["msrp"] == "99.00"


@pytest.mark.parametrize("header", ["garbage", '"-1"', '"1.5"', '"' + "9" * 40 + '"', '""'])
def test_a_garbage_if_match_is_a_422_naming_the_header(speaker: TestClient, header: str) -> None:
    response = speaker.patch(
        "/api/v1/products/SPK-100", json={"msrp": "99.00"}, headers={"If-Match": header}
    )
    assert _fields(_problem(response, 422)) == ["header.If-Match"]
    assert speaker.get("/api/v1/products/SPK-100").json()["msrp"] == "129.00"


def test_a_site_patch_checks_if_match_too(admin: TestClient) -> None:
    assert admin.post("/api/v1/sites", json=site_payload()).status_code == 201
    response = admin.patch(
        "/api/v1/sites/HUB-A", json={"name": "Renamed"}, headers={"If-Match": '"7"'}
    )
    _problem(response, 412)
    assert admin.get("/api/v1/sites/HUB-A").json()["name"] == "Hub A"


# --- text the database cannot hold ----------------------------------------------------------


def test_a_nul_character_never_causes_a_server_error(admin: TestClient) -> None:
    """PostgreSQL refuses NUL in text; SQLite stores it. Either way: no 500, no half-write."""
    response = admin.post("/api/v1/products", json=product_payload(name="Smart\x00speaker"))
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        _problem(response, 422)
        assert _count(Product) == 0
    lookup = admin.get("/api/v1/products/SPK%00")
    assert lookup.status_code in (404, 422)
    assert lookup.headers["content-type"] == PROBLEM


def test_an_unexpected_error_is_a_500_problem_with_the_request_id(
    admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("backhaul.catalog.service.list_products", broken)
    response = admin.get("/api/v1/products", headers={"X-Request-Id": "trace-me-42"})
    body = _problem(response, 500)
    assert body["request_id"] == "trace-me-42"
    assert response.headers["x-request-id"] == "trace-me-42"
    assert "boom" not in response.text  # no internals leak


# --- property: arbitrary JSON never breaks the API or half-writes ---------------------------

# Strings that have broken web APIs before: NUL (PostgreSQL refuses it), markup, SQL, RTL
# override, astral plane, huge numbers as text.
NASTY = st.sampled_from(
    ["\x00", "a\x00b", "<b>x</b>", "' OR 1=1 --", "\u202egnp.exe", "\U0001d11e", "9" * 400, " "]
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | NASTY,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=4)
    ),
    max_leaves=12,
)
PRODUCT_FIELDS = [*sorted(product_payload()), "brand"]
SITE_FIELDS = sorted(site_payload())


def _near(valid: dict[str, Any], fields: list[str]) -> st.SearchStrategy[Any]:
    """Arbitrary JSON; valid bodies with a few fields replaced or added by arbitrary JSON; and
    valid bodies with one field set to a nasty or arbitrary string."""
    mutated = st.builds(
        lambda changes: valid | changes,
        st.dictionaries(
            st.sampled_from(fields) | st.text(max_size=10), JSON, min_size=1, max_size=3
        ),
    )
    one_string = st.builds(
        lambda field, text: valid | {field: text}, st.sampled_from(fields), NASTY | st.text()
    )
    return JSON | mutated | one_string


def _state() -> tuple[int, int, int]:
    return _count(Product), _count(Site), _count(AuditRecord)


def _check(response: Any, before: tuple[int, int, int]) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == response.status_code
        assert _state() == before, "a refused request left something behind"


SLOW_FIXTURES = settings(
    max_examples=75,
    deadline=None,
    # The database lives for the whole test, not per example: that is intended (examples pile
    # up products, as a real client would), and each assertion compares with the state just
    # before its own request.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SLOW_FIXTURES
@given(body=_near(product_payload(), PRODUCT_FIELDS))
def test_any_json_posted_as_a_product_is_handled(admin: TestClient, body: Any) -> None:
    before = _state()
    response = admin.post("/api/v1/products", json=body)
    _check(response, before)
    if response.status_code == 201:
        assert _state()[0] == before[0] + 1


@SLOW_FIXTURES
@given(body=_near(site_payload(), SITE_FIELDS))
def test_any_json_posted_as_a_site_is_handled(admin: TestClient, body: Any) -> None:
    before = _state()
    response = admin.post("/api/v1/sites", json=body)
    _check(response, before)
    if response.status_code == 201:
        assert _state()[1] == before[1] + 1


@SLOW_FIXTURES
@given(body=_near({"name": "Renamed", "msrp": "99.00"}, PRODUCT_FIELDS))
def test_any_json_patched_onto_a_product_is_handled(speaker: TestClient, body: Any) -> None:
    before_state = _state()
    before = speaker.get("/api/v1/products/SPK-100").json()
    response = speaker.patch("/api/v1/products/SPK-100", json=body)
    _check(response, before_state)
    if response.status_code >= 400:
        assert speaker.get("/api/v1/products/SPK-100").json() == before


@SLOW_FIXTURES
@given(body=_near({"name": "Renamed", "capabilities": ["inspect"]}, SITE_FIELDS))
def test_any_json_patched_onto_a_site_is_handled(admin: TestClient, body: Any) -> None:
    if admin.get("/api/v1/sites/HUB-A").status_code == 404:
        assert admin.post("/api/v1/sites", json=site_payload()).status_code == 201
    before_state = _state()
    before = admin.get("/api/v1/sites/HUB-A").json()
    response = admin.patch("/api/v1/sites/HUB-A", json=body)
    _check(response, before_state)
    if response.status_code >= 400:
        assert admin.get("/api/v1/sites/HUB-A").json() == before
