"""EasyPost webhooks: the real fixture with its documented secret and signature is accepted,
any change to body, secret or header is rejected; the webhook is idempotent, moves the unit to
`in_transit`, records delivery, and an unknown tracking number goes to the exception queue."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from backhaul.db import session_scope
from backhaul.integrations.carriers import EasyPost, WebhookRejected
from backhaul.kit.exception_queue import ExceptionItem
from backhaul.returns.models import TrackingEvent
from backhaul.settings import get_settings
from tests.returns.conftest import ReturnsWorld

# A copy of ../shared/reference/carriers (EasyPost's MIT-licensed example fixture), kept in the
# repository so that a clean checkout can run it.
REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "carriers"
FIXTURE = (REFERENCE / "easypost-tracker-updated.json").read_bytes().rstrip(b"\n")
SECRET = "sécret"
SIGNATURE = "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db"
URL = "/api/v1/carriers/easypost/webhook"


def test_the_real_fixture_is_accepted() -> None:
    EasyPost(SECRET).verify({"X-Hmac-Signature": SIGNATURE}, FIXTURE)
    assert EasyPost(SECRET).signature(FIXTURE) == SIGNATURE


def test_the_secret_is_normalised_nfkd() -> None:
    composed = "s\u00e9cret"
    decomposed = "se\u0301cret"
    EasyPost(composed).verify({"x-hmac-signature": SIGNATURE}, FIXTURE)
    EasyPost(decomposed).verify({"x-hmac-signature": SIGNATURE}, FIXTURE)


@pytest.mark.parametrize(
    ("secret", "headers", "body"),
    [
        ("secret", {"X-Hmac-Signature": SIGNATURE}, FIXTURE),
        ("sécret ", {"X-Hmac-Signature": SIGNATURE}, FIXTURE),
        (SECRET, {"X-Hmac-Signature": SIGNATURE.upper()}, FIXTURE),
        (SECRET, {"X-Hmac-Signature": SIGNATURE.removeprefix("hmac-sha256-hex=")}, FIXTURE),
        (SECRET, {"X-Hmac-Signature": SIGNATURE[:-1] + "c"}, FIXTURE),
        (SECRET, {"X-Hmac-Signature": ""}, FIXTURE),
        (SECRET, {}, FIXTURE),
        (SECRET, {"X-Hmac-Signature": SIGNATURE}, FIXTURE + b"\n"),
        (
            SECRET,
            {"X-Hmac-Signature": SIGNATURE},
            FIXTURE.replace(b'"in_transit"', b'"delivered"', 1),
        ),
        (SECRET, {"X-Hmac-Signature": SIGNATURE}, b""),
    ],
)
def test_any_change_is_rejected(secret: str, headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(WebhookRejected):
        EasyPost(secret).verify(headers, body)


@given(position=st.integers(0, len(FIXTURE) - 1), flip=st.integers(1, 255))
def test_flipping_any_byte_of_the_body_is_rejected(position: int, flip: int) -> None:
    changed = bytearray(FIXTURE)
    changed[position] ^= flip
    with pytest.raises(WebhookRejected):
        EasyPost(SECRET).verify({"X-Hmac-Signature": SIGNATURE}, bytes(changed))


def test_the_fixture_parses_into_a_tracking_update() -> None:
    event_id, updates = EasyPost(SECRET).parse(FIXTURE)
    assert event_id == "evt_1" and len(updates) == 1
    update = updates[0]
    assert (update.carrier, update.tracking_code, update.status) == ("FedEx", "1", "in_transit")
    assert len(update.scans) == 7 and update.scans[1].location == "ORLANDO, FL, US"


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch, database: str) -> str:
    monkeypatch.setenv("BACKHAUL_EASYPOST_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()
    return SECRET


def _post(world: ReturnsWorld, body: bytes, signature: str | None = None) -> Any:
    headers = {"content-type": "application/json"}
    headers["X-Hmac-Signature"] = signature or EasyPost(SECRET).signature(body)
    return world.client.post(URL, content=body, headers=headers)


def test_the_endpoint_accepts_the_fixture_and_queues_its_unknown_tracking_number(
    returns_world: ReturnsWorld, secret: str
) -> None:
    response = _post(returns_world, FIXTURE, SIGNATURE)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"].startswith("queued")
    with session_scope(write=False) as session:
        item = session.scalars(select(ExceptionItem)).one()
    assert item.kind == "unknown_tracking" and item.reference == "1"
    again = _post(returns_world, FIXTURE, SIGNATURE)
    assert again.json()["duplicate"] is True
    tampered = _post(returns_world, FIXTURE.replace(b"FedEx", b"FedUp"), SIGNATURE)
    assert tampered.status_code == 401
    assert tampered.headers["content-type"] == "application/problem+json"


def test_without_a_secret_no_webhook_is_trusted(returns_world: ReturnsWorld) -> None:
    response = returns_world.client.post(
        URL, content=FIXTURE, headers={"X-Hmac-Signature": SIGNATURE}
    )
    assert response.status_code == 401
    assert "BACKHAUL_EASYPOST_WEBHOOK_SECRET" in response.json()["detail"]


def tracker(
    code: str, status: str, details: list[tuple[str, str]], event_id: str = "evt_a"
) -> bytes:
    """An EasyPost event for our tracking number, built like the fixture."""
    event = json.loads(FIXTURE)
    event["id"] = event_id
    event["result"]["tracking_code"] = code
    event["result"]["status"] = status
    event["result"]["tracking_details"] = [
        {"status": s, "message": s.replace("_", " "), "datetime": at, "tracking_location": {}}
        for s, at in details
    ]
    return json.dumps(event).encode()


def test_carrier_events_move_the_unit_and_record_delivery_once(
    returns_world: ReturnsWorld, secret: str
) -> None:
    case = returns_world.open(serial=returns_world.sell())
    code = case["tracking_number"]
    pre = tracker(code, "pre_transit", [("pre_transit", "2026-11-20T10:00:00Z")], "evt_1")
    assert _post(returns_world, pre).status_code == 200
    assert returns_world.unit(case["serial"])["state"] == "return_authorized"
    moving = tracker(
        code,
        "in_transit",
        [("pre_transit", "2026-11-20T10:00:00Z"), ("in_transit", "2026-11-20T15:00:00Z")],
        "evt_2",
    )
    assert _post(returns_world, moving).status_code == 200
    unit = returns_world.unit(case["serial"])
    assert unit["state"] == "in_transit"
    assert unit["history"][-1]["evidence"]["tracking_number"] == code
    # The same scans again under a new event id: nothing is added twice.
    assert _post(returns_world, moving.replace(b"evt_2", b"evt_3")).status_code == 200
    delivered = tracker(
        code,
        "delivered",
        [("in_transit", "2026-11-20T15:00:00Z"), ("delivered", "2026-11-21T09:30:00Z")],
        "evt_4",
    )
    assert _post(returns_world, delivered).status_code == 200
    body = returns_world.call("agent", "GET", f"/api/v1/returns/{case['rma']}").json()
    assert body["status"] == "delivered" and body["carrier"] == "FedEx"
    assert body["delivered_at"].startswith("2026-11-21T09:30")
    steps = [h for h in returns_world.unit(case["serial"])["history"] if h["step"] == "ship"]
    assert [s["evidence"]["status"] for s in steps] == ["in_transit", "delivered"]
    with session_scope(write=False) as session:
        assert session.scalar(select(func.count()).select_from(TrackingEvent)) == 3
    # The hub receives it: the case follows.
    received = returns_world.call(
        "admin", "POST", f"/api/v1/units/{case['serial']}/steps/receive", json={"site": "HUB-US"}
    )
    assert received.status_code == 200
    assert (
        returns_world.call("agent", "GET", f"/api/v1/returns/{case['rma']}").json()["status"]
        == "received"
    )


def test_a_carrier_problem_goes_to_the_exception_queue(
    returns_world: ReturnsWorld, secret: str
) -> None:
    case = returns_world.open(serial=returns_world.sell())
    body = tracker(
        case["tracking_number"], "return_to_sender", [("return_to_sender", "2026-11-21T09:30:00Z")]
    )
    assert _post(returns_world, body).status_code == 200
    with session_scope(write=False) as session:
        kinds = set(session.scalars(select(ExceptionItem.kind)))
    assert "carrier_problem" in kinds


@given(body=st.binary(max_size=300))
def test_garbage_never_makes_a_500(body: bytes) -> None:
    with contextlib.suppress(WebhookRejected):
        EasyPost(SECRET).parse(body)
