"""`POST /api/v1/returns` and the case API: the contract, refusals counted, routing, SLA
clocks, cancel and resolve, policies published through the API, and no input ever a 500."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from backhaul.db import session_scope
from backhaul.kit.exception_queue import ExceptionItem
from backhaul.kit.outbox import OutboxEvent
from backhaul.returns import policy as policies
from backhaul.returns.models import IntakeLog, ReturnCase
from tests.returns.conftest import ReturnsWorld

PROBLEM = "application/problem+json"


def _count(model: type[Any], *where: Any) -> int:
    with session_scope(write=False) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_an_eligible_request_opens_a_case_with_the_contract_fields(
    returns_world: ReturnsWorld,
) -> None:
    serial = returns_world.sell()
    body = returns_world.open(serial=serial, reason="defect.hardware", resolution="repair")
    assert body["rma"].startswith("RMA-") and body["status"] == "label_ready"
    assert set(body["resolutions_offered"]) >= {"refund", "exchange", "repair", "replace"}
    assert body["decision"]["rule"] == "window.return"
    assert body["decision"]["policy_version"] == "US/2026.1"
    assert body["decision"]["explanation"]
    assert body["destination_site"] == "HUB-US"
    assert "/returns/label/" in body["label_url"] and "/returns/status/" in body["status_url"]
    # The lifecycle moved through its own step, citing the rule.
    unit = returns_world.unit(serial)
    assert unit["state"] == "return_authorized"
    authorize = unit["history"][-1]
    assert authorize["step"] == "authorize"
    assert authorize["evidence"]["rma"] == body["rma"]
    assert authorize["evidence"]["rule"] == "window.return@US/2026.1"
    fetched = returns_world.call("agent", "GET", f"/api/v1/returns/{body['rma']}")
    assert fetched.status_code == 200 and fetched.json()["rma"] == body["rma"]
    # The customer is emailed in the same transaction (outbox).
    assert _count(OutboxEvent, OutboxEvent.type == "notification.email") == 1


def test_an_ineligible_request_is_a_422_with_rule_and_policy_version_and_is_counted(
    returns_world: ReturnsWorld,
) -> None:
    serial = returns_world.sell(days_ago=400)
    response = returns_world.request(serial=serial, reason="remorse.changed_mind")
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["rule"] == "window.closed" and problem["policy_version"] == "US/2026.1"
    assert problem["type"].endswith("/not-eligible")
    assert _count(ReturnCase) == 0
    assert _count(IntakeLog, IntakeLog.rule == "window.closed") == 1
    assert returns_world.unit(serial)["state"] == "in_field"


def test_a_resolution_not_offered_is_refused(returns_world: ReturnsWorld) -> None:
    serial = returns_world.sell()
    response = returns_world.request(serial=serial, resolution="repair")  # change of mind
    assert response.status_code == 422 and response.json()["rule"] == "resolution.not_offered"


def test_a_serial_never_sold_and_a_second_open_return_are_refused(
    returns_world: ReturnsWorld,
) -> None:
    assert returns_world.request(serial="SPK999999").json()["rule"] == "ownership.serial_not_sold"
    serial = returns_world.sell()
    returns_world.open(serial=serial)
    again = returns_world.request(serial=serial)
    assert again.status_code == 422 and again.json()["rule"] == "case.open"


def test_an_order_holding_one_unit_stands_for_its_serial(returns_world: ReturnsWorld) -> None:
    serial = returns_world.sell(order="LU-1")
    body = returns_world.open(order_ref="LU-1")
    assert body["serial"] == serial
    returns_world.sell(order="LU-2")
    returns_world.sell(order="LU-2")
    response = returns_world.request(order_ref="LU-2")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "serial"


def test_a_regulated_product_from_japan_is_routed_to_a_hub_that_can_purge(
    returns_world: ReturnsWorld,
) -> None:
    serial = returns_world.sell("RNG-200", region="JP")
    body = returns_world.open(serial=serial, reason="defect.hardware", resolution="repair")
    assert body["destination_site"] in ("HUB-US", "HUB-EU")
    assert body["routing"]["cross_border"]
    assert any("HUB-JP lacks" in line for line in body["routing"]["why"])


def test_a_damaged_battery_gets_ground_only_shipping(returns_world: ReturnsWorld) -> None:
    serial = returns_world.sell("CAM-AI1", region="EU")
    body = returns_world.open(
        serial=serial, reason="defect.battery", resolution="repair", battery="damaged"
    )
    assert body["ground_only"] and body["routing"]["ground_only"]
    assert body["destination_site"] == "HUB-EU"


def test_cases_are_listed_and_filtered_with_their_sla_clocks(returns_world: ReturnsWorld) -> None:
    us = returns_world.open(serial=returns_world.sell())
    eu = returns_world.open(serial=returns_world.sell(region="EU"))
    listed = returns_world.call("agent", "GET", "/api/v1/returns").json()
    assert [case["rma"] for case in listed] == [eu["rma"], us["rma"]]
    only_eu = returns_world.call("agent", "GET", "/api/v1/returns?region=EU").json()
    assert [case["rma"] for case in only_eu] == [eu["rma"]]
    by_serial = returns_world.call("agent", "GET", f"/api/v1/returns?q={us['serial']}").json()
    assert [case["rma"] for case in by_serial] == [us["rma"]]
    assert returns_world.call("agent", "GET", "/api/v1/returns?breached=true").json() == []
    clocks = {clock["name"]: clock for clock in us["sla"]}
    assert list(clocks) == [
        "request_to_label",
        "label_to_in_transit",
        "delivered_to_received",
        "received_to_resolved",
    ]
    assert clocks["request_to_label"]["stopped_at"] is not None
    assert clocks["label_to_in_transit"]["running"]


def test_an_overdue_shipment_breaches_its_clock(returns_world: ReturnsWorld) -> None:
    from datetime import timedelta

    body = returns_world.open(serial=returns_world.sell())
    with session_scope() as session:
        case = session.scalars(select(ReturnCase)).one()
        case.created_at -= timedelta(days=9)
        case.label_created_at = case.created_at
    breached = returns_world.call("agent", "GET", "/api/v1/returns?breached=true").json()
    assert [c["rma"] for c in breached] == [body["rma"]]
    assert breached[0]["breached"] == ["label_to_in_transit"]


def test_cancel_before_shipping_and_resolve_after_receipt(returns_world: ReturnsWorld) -> None:
    serial = returns_world.sell()
    case = returns_world.open(serial=serial)
    cancelled = returns_world.call(
        "agent", "POST", f"/api/v1/returns/{case['rma']}/cancel", json={"reason": "customer call"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert _count(ExceptionItem, ExceptionItem.kind == "return_cancelled") == 1

    other = returns_world.open(serial=returns_world.sell())
    early = returns_world.call(
        "agent", "POST", f"/api/v1/returns/{other['rma']}/resolve", json={"outcome": "refund"}
    )
    assert early.status_code == 409
    received = returns_world.call(
        "admin", "POST", f"/api/v1/units/{other['serial']}/steps/receive", json={"site": "HUB-US"}
    )
    assert received.status_code == 200, received.text
    assert (
        returns_world.call("agent", "GET", f"/api/v1/returns/{other['rma']}").json()["status"]
        == "received"
    )
    resolved = returns_world.call(
        "agent",
        "POST",
        f"/api/v1/returns/{other['rma']}/resolve",
        json={"outcome": "refund issued"},
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    templates = [json.loads(json.dumps(event.payload))["template"] for event in _events()]
    assert templates.count("resolved") == 1 and templates.count("survey") == 1
    late = returns_world.call(
        "agent", "POST", f"/api/v1/returns/{other['rma']}/cancel", json={"reason": "too late"}
    )
    assert late.status_code == 409


def _events() -> list[OutboxEvent]:
    with session_scope(write=False) as session:
        return list(
            session.scalars(select(OutboxEvent).where(OutboxEvent.type == "notification.email"))
        )


def test_roles_are_checked(returns_world: ReturnsWorld) -> None:
    serial = returns_world.sell()
    assert returns_world.request("tech_us", serial=serial).status_code == 403
    assert returns_world.request("analyst", serial=serial).status_code == 403
    body = returns_world.open(serial=serial)
    assert returns_world.call("analyst", "GET", f"/api/v1/returns/{body['rma']}").status_code == 200
    assert returns_world.client.get("/api/v1/returns").status_code == 401


def test_reasons_are_listed_with_labels_in_each_language(returns_world: ReturnsWorld) -> None:
    reasons = returns_world.client.get("/api/v1/reasons").json()
    pairing = next(r for r in reasons if r["code"] == "setup.pairing")
    assert set(pairing["label"]) == {"en", "de", "fr", "es", "ja"}
    assert pairing["category"] == "setup" and pairing["setup_help"]


def test_a_policy_published_through_the_api_decides_from_then_on(
    returns_world: ReturnsWorld,
) -> None:
    serial = returns_world.sell(days_ago=40)
    assert returns_world.request(serial=serial).json()["rule"] == "window.closed"
    text = policies.packaged_sources()["US"][1]
    bad = text.replace("return_window_days = 30", "return_window_days = many")
    refused = returns_world.call("admin", "POST", "/api/v1/return-policies", json={"text": bad})
    assert refused.status_code == 422 and refused.json()["line"] is not None
    newer = text.replace('version = "2026.1"', 'version = "2026.2"').replace(
        "return_window_days = 30", "return_window_days = 60"
    )
    assert (
        returns_world.call(
            "agent", "POST", "/api/v1/return-policies", json={"text": newer}
        ).status_code
        == 403
    )
    published = returns_world.call("admin", "POST", "/api/v1/return-policies", json={"text": newer})
    assert published.status_code == 201 and published.json()["policy_version"] == "US/2026.2"
    again = returns_world.call("admin", "POST", "/api/v1/return-policies", json={"text": newer})
    assert again.status_code == 409
    body = returns_world.open(serial=serial)
    assert body["decision"]["policy_version"] == "US/2026.2"
    listed = returns_world.call("agent", "GET", "/api/v1/return-policies").json()
    assert {p["policy_version"] for p in listed} >= {"US/2026.2", "EU/2026.1"}


TEXT = st.text(max_size=80)
FIELD = st.one_of(st.none(), TEXT, st.integers(), st.booleans(), st.lists(TEXT, max_size=2))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            name: FIELD
            for name in (
                "serial",
                "order_ref",
                "email",
                "reason",
                "resolution",
                "locale",
                "sealed",
                "battery",
                "shipping",
                "name",
                "address",
                "note",
                "extra",
            )
        },
    ),
    good=st.booleans(),
)
def test_no_request_body_makes_a_500(
    returns_world: ReturnsWorld, body: dict[str, Any], good: bool
) -> None:
    if good:
        body = {
            "serial": "SPK000001",
            "email": "ada@example.com",
            "reason": "defect.hardware",
            "resolution": "repair",
        } | {k: v for k, v in body.items() if k in ("name", "note")}
    response = returns_world.call("agent", "POST", "/api/v1/returns", json=body)
    assert response.status_code in (201, 400, 409, 422), response.text
    if response.status_code != 201:
        assert response.headers["content-type"] == PROBLEM
