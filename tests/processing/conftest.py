"""A small world for step tests: two hubs, a repair partner, a recycler, two products with
firmware and test plans, sold units, and a token per role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TokenFactory, bearer, product_payload, site_payload

SHA_OLD = "a" * 64
SHA_CURRENT = "b" * 64
PLAN = [
    {"id": "speaker_db", "unit": "dB", "min": 80, "max": 100},
    {"id": "wifi_rssi", "unit": "dBm", "min": -70},
    {"id": "mic_ok", "equals": True},
    {"id": "led_lux", "unit": "lx", "min": 10, "required": False},
]
GOOD = {"speaker_db": 92.5, "wifi_rssi": -48, "mic_ok": True}
# Each hub has one calibrated rig: RIG-1 (HUB-A's and HUB-B's are different rigs).
RIG = "RIG-1"
TEST_OK = {"plan": 1, "rig": RIG, "measurements": GOOD}


def calibration(days_ago: int = 30, days_left: int = 335, ref: str = "CAL-1") -> dict[str, Any]:
    """A calibration record `days_ago` old that falls due in `days_left` days."""
    today = date.today()
    return {
        "calibrated_on": (today - timedelta(days=days_ago)).isoformat(),
        "due_on": (today + timedelta(days=days_left)).isoformat(),
        "certificate_ref": ref,
    }


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]

    def call(self, role: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = bearer(self.tokens[role]) | kwargs.pop("headers", {})
        return self.client.request(method, path, headers=headers, **kwargs)

    def step(
        self, role: str, serial: str, step: str, body: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        return self.call(
            role,
            "POST",
            f"/api/v1/units/{serial}/steps/{step}",
            json=body if body is not None else {},
            **kwargs,
        )

    def unit(self, serial: str, role: str = "admin") -> dict[str, Any]:
        response = self.call(role, "GET", f"/api/v1/units/{serial}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def sold(
    serial: str, sku: str = "SPK-100", order: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "serial": serial,
        "sku": sku,
        "order_ref": order or f"O-{serial}",
        "customer_email": "ada@example.com",
        "sold_at": "2026-06-01T10:00:00Z",
        "region": "US",
        "channel": "webstore",
        "price": "129.00",
        "currency": "USD",
    } | extra


@pytest.fixture
def world(client: TestClient, admin_token: str, make_token: TokenFactory, make_user: Any) -> World:
    admin = bearer(admin_token)
    for payload in (
        site_payload(code="HUB-A"),
        site_payload(code="HUB-B", name="Hub B"),
        site_payload(code="FIX-1", name="Fixers", kind="repair_partner"),
        site_payload(code="RCY-1", name="Recyclers", kind="recycler"),
    ):
        assert client.post("/api/v1/sites", json=payload, headers=admin).status_code == 201
    for payload in (
        product_payload(),
        product_payload(
            sku="RNG-200",
            name="Health ring",
            serial_pattern=r"RNG[0-9]{6}",
            regulated="biometric",
            battery="li_ion",
        ),
    ):
        assert client.post("/api/v1/products", json=payload, headers=admin).status_code == 201
        sku = payload["sku"]
        for version, sha, status in (
            ("1.0.0", SHA_OLD, "deprecated"),
            ("1.1.0", SHA_CURRENT, "current"),
        ):
            response = client.post(
                f"/api/v1/products/{sku}/firmware",
                headers=admin,
                json={"version": version, "sha256": sha, "size": 1024, "status": status},
            )
            assert response.status_code == 201, response.text
        response = client.post(
            f"/api/v1/products/{sku}/test-plans", headers=admin, json={"version": 1, "tests": PLAN}
        )
        assert response.status_code == 201, response.text
    for hub in ("HUB-A", "HUB-B"):
        response = client.post(
            f"/api/v1/sites/{hub}/rigs",
            headers=admin,
            json={"code": RIG, "name": "Audio bench", "kind": "audio bench"},
        )
        assert response.status_code == 201, response.text
        response = client.post(
            f"/api/v1/sites/{hub}/rigs/{RIG}/calibrations",
            headers=admin,
            json=calibration(ref=f"CAL-{hub}"),
        )
        assert response.status_code == 201, response.text
    rows = [sold(f"SPK{n:06d}") for n in range(1, 21)] + [sold("RNG000001", "RNG-200")]
    response = client.post("/api/v1/units/import", json=rows, headers=admin)
    assert response.json()["added"] == 21, response.text
    make_user("verifier.a", "technician", sites=["HUB-A"])
    tokens = {
        "admin": admin_token,
        "supervisor": make_token("supervisor"),
        "tech_a": make_token("technician", sites=["HUB-A"]),
        "tech_b": make_token("technician", sites=["HUB-B"]),
        "analyst": make_token("analyst"),
    }
    return World(client, tokens)


def received(world: World, serial: str, site: str = "HUB-A", role: str = "tech_a") -> None:
    """Authorise, ship and receive a unit at a hub."""
    assert (
        world.step(
            "admin",
            serial,
            "authorize",
            {"rma": f"RMA-{serial}", "reason": "defect.hardware", "resolution": "refund"},
        ).status_code
        == 200
    )
    assert (
        world.step(
            "admin", serial, "ship", {"carrier": "UPS", "tracking_number": f"1Z{serial}"}
        ).status_code
        == 200
    )
    response = world.step(role, serial, "receive", {"site": site})
    assert response.status_code == 200, response.text


INSPECT_OK = {
    "outcome": "pass",
    "packaging": "opened",
    "battery": "ok",
    "fault_codes": [],
}
SANITIZE_OK = {
    "method": "purge",
    "tool": "WipeKit 4.2",
    "verification": "full",
    "verification_result": "passed",
    "account": "deactivated",
    "account_confirmation": {"source": "device_adapter", "reference": "DC-0001"},
}
FLASH_OK = {
    "release": "1.1.0",
    "image_sha256": SHA_CURRENT,
    "readback_version": "1.1.0",
    "readback_sha256": SHA_CURRENT,
}


def to_flashed(world: World, serial: str, role: str = "tech_a") -> None:
    """Receive, inspect, sanitize and flash a unit, all passing."""
    received(world, serial)
    for step, body in (("inspect", INSPECT_OK), ("sanitize", SANITIZE_OK), ("flash", FLASH_OK)):
        response = world.step(role, serial, step, body)
        assert response.status_code == 200, response.text
        assert response.json()["outcome"] == "pass", response.text


def to_tested(world: World, serial: str, role: str = "tech_a") -> None:
    """Receive, inspect, sanitize, flash and test a unit, all passing."""
    to_flashed(world, serial, role)
    response = world.step(role, serial, "test", TEST_OK)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "pass", response.text
