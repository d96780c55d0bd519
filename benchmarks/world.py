"""A world for the benchmarks, built through the public API the way tests/processing/conftest.py
builds it: a hub, a product with firmware and a test plan, sold units, and technician keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from benchmarks.common import Request, bearer, checked, json_request, run_load

SKU = "SPK-100"
SITE = "HUB-A"
SHA_OLD = "a" * 64
SHA_CURRENT = "b" * 64
PLAN = [
    {"id": "speaker_db", "unit": "dB", "min": 80, "max": 100},
    {"id": "wifi_rssi", "unit": "dBm", "min": -70},
    {"id": "mic_ok", "equals": True},
    {"id": "led_lux", "unit": "lx", "min": 10, "required": False},
]
GOOD = {"speaker_db": 92.5, "wifi_rssi": -48, "mic_ok": True}
RIG = "RIG-1"

# The eight processing steps a returned unit goes through at a hub, with passing evidence.
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("receive", {"site": SITE}),
    (
        "inspect",
        {
            "outcome": "pass",
            "packaging": "opened",
            "battery": "ok",
            "fault_codes": [],
        },
    ),
    (
        "sanitize",
        {
            "method": "purge",
            "tool": "WipeKit 4.2",
            "verification": "full",
            "verification_result": "passed",
            "account": "deactivated",
            "account_confirmation": {"source": "device_adapter", "reference": "DC-BENCH"},
        },
    ),
    (
        "flash",
        {
            "release": "1.1.0",
            "image_sha256": SHA_CURRENT,
            "readback_version": "1.1.0",
            "readback_sha256": SHA_CURRENT,
        },
    ),
    ("test", {"plan": 1, "rig": RIG, "measurements": GOOD}),
    ("grade", {"cosmetic": "B", "functional": "pass"}),
    ("disposition", {}),
    ("repackage", {}),
]


def serial(n: int) -> str:
    return f"SPK{n:07d}"


_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_PRICES = [f"{p}.00" for p in range(49, 449, 10)] + ["129.99", "199.95", "0.00"]
_MARKETS = [("US", "USD"), ("DE", "EUR"), ("GB", "GBP"), ("JP", "JPY"), ("FR", "EUR")]
_CHANNELS = ["webstore", "retail", "marketplace"]


def sold_row(n: int) -> dict[str, Any]:
    """One import row as a shop's export would have it: all text, two units per order, sales
    spread over a year (one every 31 s), 43 price points, five markets, three channels."""
    region, currency = _MARKETS[n % len(_MARKETS)]
    sold_at = _EPOCH + timedelta(seconds=31 * n)
    return {
        "serial": serial(n),
        "sku": SKU,
        "order_ref": f"O-{(n + 1) // 2:07d}",
        "customer_email": f"customer{(n + 1) // 2}@example.com",
        "sold_at": sold_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "channel": _CHANNELS[n % len(_CHANNELS)],
        "price": _PRICES[n % len(_PRICES)],
        "currency": currency,
    }


def site_payload() -> dict[str, Any]:
    return {
        "code": SITE,
        "name": "Hub A",
        "region": "US",
        "timezone": "America/Chicago",
        "kind": "hub",
        "capabilities": ["inspect", "wipe:purge"],
        "labour_rate": "32.50",
        "currency": "USD",
    }


def setup_catalog(http: httpx.Client) -> None:
    """The hub with a calibrated test rig, the product, its firmware (one deprecated, one
    current) and test plan 1."""
    checked(http.post("/api/v1/sites", json=site_payload()), 201)
    add_calibrated_rig(http)
    checked(
        http.post(
            "/api/v1/products",
            json={
                "sku": SKU,
                "name": "Smart speaker",
                "family": "audio",
                "category": "smart speaker",
                "serial_pattern": r"SPK[0-9]{7}",
                "regulated": "none",
                "battery": "none",
                "weight_g": 800,
                "msrp": "129.00",
                "currency": "USD",
                "hs_code": "8518.22",
                "warranty_months": 12,
            },
        ),
        201,
    )
    add_firmware_and_plan(http)


def add_calibrated_rig(http: httpx.Client) -> None:
    """The hub's test rig, calibrated a month ago and due in eleven months."""
    checked(
        http.post(
            f"/api/v1/sites/{SITE}/rigs",
            json={"code": RIG, "name": "Audio bench", "kind": "audio bench"},
        ),
        201,
    )
    today = date.today()
    checked(
        http.post(
            f"/api/v1/sites/{SITE}/rigs/{RIG}/calibrations",
            json={
                "calibrated_on": (today - timedelta(days=30)).isoformat(),
                "due_on": (today + timedelta(days=335)).isoformat(),
                "certificate_ref": "CAL-BENCH-1",
            },
        ),
        201,
    )


def add_firmware_and_plan(http: httpx.Client) -> None:
    for version, sha, status in (
        ("1.0.0", SHA_OLD, "deprecated"),
        ("1.1.0", SHA_CURRENT, "current"),
    ):
        checked(
            http.post(
                f"/api/v1/products/{SKU}/firmware",
                json={"version": version, "sha256": sha, "size": 1024, "status": status},
            ),
            201,
        )
    checked(
        http.post(f"/api/v1/products/{SKU}/test-plans", json={"version": 1, "tests": PLAN}), 201
    )


def import_units(http: httpx.Client, first: int, count: int, chunk: int = 2000) -> None:
    """Register sold units SPK<first>.. through `POST /api/v1/units/import`."""
    for start in range(first, first + count, chunk):
        rows = [sold_row(n) for n in range(start, min(start + chunk, first + count))]
        body = checked(http.post("/api/v1/units/import", json=rows, timeout=120), 200)
        assert body["added"] == len(rows), body


def technician_tokens(http: httpx.Client, count: int) -> list[str]:
    """One technician key per client, each scoped to the hub."""
    return [
        checked(
            http.post(
                "/api/v1/keys",
                json={"name": f"bench station {i}", "role": "technician", "sites": [SITE]},
            ),
            201,
        )["token"]
        for i in range(count)
    ]


def step_call(token: str, unit_serial: str, step: str, body: dict[str, Any]) -> Request:
    """One `POST /api/v1/units/{serial}/steps/{step}` with a bearer token."""
    return json_request("POST", f"/api/v1/units/{unit_serial}/steps/{step}", body, bearer(token))


def intake_steps(unit_serial: str) -> list[tuple[str, dict[str, Any]]]:
    """The intake steps an admin records before a unit can be received: authorise, ship."""
    return [
        (
            "authorize",
            {"rma": f"RMA-{unit_serial}", "reason": "defect.hardware", "resolution": "refund"},
        ),
        ("ship", {"carrier": "UPS", "tracking_number": f"1Z{unit_serial}"}),
    ]


def intake(base_url: str, admin: str, serials: list[str], clients: int) -> None:
    """Authorise and ship the units (an admin's intake steps), so that they can be received."""
    jobs: list[list[Request]] = [[] for _ in range(clients)]
    for i, unit_serial in enumerate(serials):
        jobs[i % clients] += [
            step_call(admin, unit_serial, step, body) for step, body in intake_steps(unit_serial)
        ]
    load = run_load(base_url, jobs)
    if load.errors:
        raise RuntimeError(f"intake failed: {load.errors[:3]}")


def process_jobs(tokens: list[str], serials: list[list[str]]) -> list[list[Request]]:
    """Per client: its units, each through the eight steps in order."""
    return [
        [step_call(token, s, step, body) for s in mine for step, body in STEPS]
        for token, mine in zip(tokens, serials, strict=True)
    ]


def restocked(n: int) -> bool:
    """Whether the disposition engine restocks unit n after the passing steps: a dollar sale
    worth reselling (it rightly sends a 49-yen or free unit to harvest)."""
    row = sold_row(n)
    return row["currency"] == "USD" and float(row["price"]) >= 49
