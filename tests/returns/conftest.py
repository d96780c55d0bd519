"""A world for returns tests: hubs in three regions with different capabilities, a plain
speaker, a regulated health ring and a camera with a battery, and units sold N days ago."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backhaul.settings import get_settings
from tests.conftest import TokenFactory, bearer, product_payload, site_payload

CURRENCY = {"US": "USD", "EU": "EUR", "UK": "GBP", "JP": "JPY"}
PRICE = {"US": "129.00", "EU": "119.00", "UK": "99.00", "JP": "19350"}
FULL = ["inspect", "flash", "wipe:clear", "wipe:purge", "second_verifier", "battery_quarantine"]
HUBS = {
    "HUB-US": ("US", "America/Los_Angeles", FULL),
    "HUB-EU": ("EU", "Europe/Amsterdam", FULL[:-1]),
    "HUB-JP": ("JP", "Asia/Tokyo", ["inspect", "flash", "wipe:clear"]),
}
PRODUCTS = {
    "SPK-100": {"regulated": "none", "battery": "none", "pattern": r"SPK[0-9]{6}"},
    "RNG-200": {"regulated": "biometric", "battery": "li_ion", "pattern": r"RNG[0-9]{6}"},
    "CAM-AI1": {"regulated": "none", "battery": "li_ion", "pattern": r"CAM[0-9]{6}"},
}


@dataclass
class ReturnsWorld:
    client: TestClient
    tokens: dict[str, str]
    counter: list[int] = field(default_factory=lambda: [0])

    def call(self, role: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = bearer(self.tokens[role]) | kwargs.pop("headers", {})
        return self.client.request(method, path, headers=headers, **kwargs)

    def sell(
        self,
        sku: str = "SPK-100",
        region: str = "US",
        days_ago: int = 3,
        email: str = "ada@example.com",
        order: str | None = None,
        serial: str | None = None,
    ) -> str:
        """Register a sold unit; returns its serial."""
        self.counter[0] += 1
        prefix = sku[:3]
        serial = serial or f"{prefix}{self.counter[0]:06d}"
        sold_at = datetime.now(UTC) - timedelta(days=days_ago)
        row = {
            "serial": serial,
            "sku": sku,
            "order_ref": order or f"O-{serial}",
            "customer_email": email,
            "sold_at": sold_at.isoformat(),
            "region": region,
            "channel": "webstore",
            "price": PRICE[region],
            "currency": CURRENCY[region],
        }
        response = self.call("admin", "POST", "/api/v1/units/import", json=[row])
        assert response.json()["added"] == 1, response.text
        return serial

    def request(self, role: str = "agent", **body: Any) -> Any:
        payload = {"email": "ada@example.com", "reason": "remorse.changed_mind"}
        payload |= {"resolution": "refund"} | body
        return self.call(role, "POST", "/api/v1/returns", json=payload)

    def open(self, **body: Any) -> dict[str, Any]:
        response = self.request(**body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def unit(self, serial: str) -> dict[str, Any]:
        response = self.call("admin", "GET", f"/api/v1/units/{serial}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def returns_world(
    client: TestClient,
    admin_token: str,
    make_token: TokenFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> ReturnsWorld:
    # Photos and .eml files go to the test's folder, never the working tree.
    monkeypatch.setenv("BACKHAUL_UPLOADS_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("BACKHAUL_MAIL_DIR", str(tmp_path / "mail"))
    get_settings.cache_clear()
    admin = bearer(admin_token)
    for code, (region, zone, capabilities) in HUBS.items():
        payload = site_payload(
            code=code, name=f"{code} hub", region=region, timezone=zone, capabilities=capabilities
        )
        assert client.post("/api/v1/sites", json=payload, headers=admin).status_code == 201
    for sku, spec in PRODUCTS.items():
        payload = product_payload(
            sku=sku,
            name=f"Lumen {sku}",
            serial_pattern=spec["pattern"],
            regulated=spec["regulated"],
            battery=spec["battery"],
            warranty_months=12,
        )
        assert client.post("/api/v1/products", json=payload, headers=admin).status_code == 201
    tokens = {
        "admin": admin_token,
        "agent": make_token("supervisor"),
        "analyst": make_token("analyst"),
        "tech_us": make_token("technician", sites=["HUB-US"]),
    }
    return ReturnsWorld(client, tokens)
