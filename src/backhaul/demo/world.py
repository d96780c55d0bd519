"""A believable brand: products with real handling needs, hubs in three regions, every role,
and tens of thousands of sold units, generated deterministically from a seed."""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backhaul.accounts.models import User
from backhaul.accounts.schemas import UserIn
from backhaul.accounts.service import create_user
from backhaul.catalog import firmware_images
from backhaul.catalog.models import Brand, Product, ReleaseStatus
from backhaul.catalog.schemas import (
    BrandIn,
    CalibrationIn,
    FirmwareIn,
    InspectionChecklistIn,
    ProductIn,
    SiteIn,
    TestPlanIn,
    TestRigIn,
)
from backhaul.catalog.service import (
    DEFAULT_BRAND_CODE,
    add_firmware,
    add_test_plan,
    create_brand,
    create_product,
    create_rig,
    create_site,
    record_calibration,
    set_inspection_checklist,
    store_firmware_image,
)
from backhaul.db import utcnow
from backhaul.kit.auth import Actor
from backhaul.kit.changes import record_change
from backhaul.units.service import import_units

DEMO_BRAND = "lumen"
DEMO_PASSWORD = "backhaul-demo"
# Sales are generated up to this day so that the same seed gives the same world on any date.
SALES_END = datetime(2026, 11, 1, tzinfo=UTC)
SALES_DAYS = 730

PRODUCTS: list[dict[str, Any]] = [
    {
        "sku": "SPK-100",
        "name": "Lumen Echo smart speaker",
        "family": "audio",
        "category": "smart speaker",
        "serial_pattern": r"SPK1[0-9A-F]{8}",
        "regulated": "none",
        "battery": "none",
        "weight_g": 820,
        "msrp": "129.00",
        "currency": "USD",
        "hs_code": "8518.22",
        "warranty_months": 12,
        "share": 0.40,
        "prefix": "SPK1",
    },
    {
        "sku": "RNG-200",
        "name": "Lumen Pulse health ring",
        "family": "wearables",
        "category": "health ring",
        "serial_pattern": r"RNG2[0-9A-F]{8}",
        "regulated": "biometric",
        "battery": "li_ion",
        "weight_g": 6,
        "msrp": "299.00",
        "currency": "USD",
        "hs_code": "9029.20",
        "warranty_months": 24,
        "share": 0.20,
        "prefix": "RNG2",
    },
    {
        "sku": "TAB-K8",
        "name": "Lumen Kids tablet 8",
        "family": "tablets",
        "category": "children's tablet",
        "serial_pattern": r"TBK8[0-9A-F]{8}",
        "regulated": "children",
        "battery": "li_ion",
        "weight_g": 410,
        "msrp": "149.00",
        "currency": "USD",
        "hs_code": "8471.30",
        "warranty_months": 12,
        "share": 0.25,
        "prefix": "TBK8",
    },
    {
        "sku": "CAM-AI1",
        "name": "Lumen Sentinel AI camera",
        "family": "cameras",
        "category": "AI security camera",
        "serial_pattern": r"CAM1[0-9A-F]{8}",
        "regulated": "none",
        "battery": "li_ion",
        "weight_g": 380,
        "msrp": "199.00",
        "currency": "USD",
        "hs_code": "8525.89",
        "warranty_months": 24,
        "share": 0.15,
        "prefix": "CAM1",
    },
]

SITES: list[dict[str, Any]] = [
    {
        "code": "HUB-US",
        "name": "Reno returns hub",
        "region": "US",
        "timezone": "America/Los_Angeles",
        "kind": "hub",
        "labour_rate": "34.00",
        "currency": "USD",
        "capabilities": [
            "inspect",
            "wipe:purge",
            "wipe:clear",
            "flash",
            "test:audio",
            "test:camera",
            "test:ring",
            "test:tablet",
            "second_verifier",
            "battery_quarantine",
        ],
    },
    {
        "code": "HUB-EU",
        "name": "Tilburg returns hub",
        "region": "EU",
        "timezone": "Europe/Amsterdam",
        "kind": "hub",
        "labour_rate": "38.00",
        "currency": "EUR",
        "capabilities": [
            "inspect",
            "wipe:purge",
            "wipe:clear",
            "flash",
            "test:audio",
            "test:camera",
            "test:tablet",
            "second_verifier",
        ],
    },
    {
        "code": "HUB-JP",
        "name": "Osaka returns hub",
        "region": "JP",
        "timezone": "Asia/Tokyo",
        "kind": "hub",
        "labour_rate": "4200.00",
        "currency": "JPY",
        "capabilities": ["inspect", "wipe:clear", "flash", "test:audio", "test:camera"],
    },
    {
        "code": "FIX-US",
        "name": "Sierra Electronics Repair",
        "region": "US",
        "timezone": "America/Los_Angeles",
        "kind": "repair_partner",
        "labour_rate": "45.00",
        "currency": "USD",
        "capabilities": ["repair:board", "repair:battery", "repair:screen"],
    },
    {
        "code": "RCY-EU",
        "name": "GreenLoop Recycling",
        "region": "EU",
        "timezone": "Europe/Berlin",
        "kind": "recycler",
        "labour_rate": "25.00",
        "currency": "EUR",
        "capabilities": ["recycle:weee", "recycle:battery", "destroy:storage"],
    },
]

USERS: list[dict[str, Any]] = [
    {"username": "admin", "display_name": "Ada Admin", "role": "admin"},
    {"username": "supervisor", "display_name": "Sam Supervisor", "role": "supervisor"},
    {
        "username": "tech.us",
        "display_name": "Toni Technician (Reno)",
        "role": "technician",
        "sites": ["HUB-US"],
    },
    {
        "username": "tech.eu",
        "display_name": "Eva Technician (Tilburg)",
        "role": "technician",
        "sites": ["HUB-EU"],
    },
    {
        "username": "tech.jp",
        "display_name": "Kenji Technician (Osaka)",
        "role": "technician",
        "sites": ["HUB-JP"],
    },
    {
        "username": "partner",
        "display_name": "Pat Partner (Sierra Repair)",
        "role": "partner",
        "sites": ["FIX-US"],
    },
    {"username": "analyst", "display_name": "Ana Analyst", "role": "analyst"},
]

# Where units are sold: region, currency, price factor against the USD list price, share.
MARKETS = [
    ("US", "USD", Decimal("1.00"), 0.45),
    ("EU", "EUR", Decimal("0.95"), 0.30),
    ("UK", "GBP", Decimal("0.80"), 0.10),
    ("JP", "JPY", Decimal("150"), 0.15),
]
CHANNELS = [("webstore", 0.45), ("amazon", 0.30), ("retail", 0.20), ("b2b", 0.05)]


@dataclass
class DemoReport:
    """What `load_demo` did."""

    already_loaded: bool = False
    products: int = 0
    sites: int = 0
    units: int = 0
    returns_history: int = 0  # returns in the planning history (demo/returns_history.py)
    logins: list[tuple[str, str]] = field(default_factory=list)


def _pick(rng: random.Random, weighted: list[tuple[Any, float]]) -> Any:
    return rng.choices([item for item, _ in weighted], [w for _, w in weighted])[0]


def sold_units(seed: int, count: int) -> Iterator[dict[str, Any]]:
    """The demo's sales, one row per unit, in the import format; same seed, same rows."""
    rng = random.Random(seed)
    products = [(p, p["share"]) for p in PRODUCTS]
    markets = [(m, m[3]) for m in MARKETS]
    order_number = 100000
    produced = 0
    while produced < count:
        order_number += 1
        region, currency, factor, _share = _pick(rng, markets)
        channel = _pick(rng, CHANNELS)
        # Sales grow over the two years and peak in November/December.
        day = int(SALES_DAYS * rng.random() ** 0.8)
        sold_at = SALES_END - timedelta(days=day, seconds=rng.randrange(86400))
        if sold_at.month in (11, 12) and rng.random() < 0.3:
            sold_at -= timedelta(days=rng.randrange(5))
        for _ in range(1 if rng.random() < 0.9 else 2):
            if produced >= count:
                break
            product = _pick(rng, products)
            serial = product["prefix"] + "".join(rng.choices(string.hexdigits[:16].upper(), k=8))
            price = (
                Decimal(product["msrp"]) * factor * Decimal(rng.choice(["1", "1", "0.9", "0.8"]))
            )
            yield {
                "serial": serial,
                "sku": product["sku"],
                "order_ref": f"LU-{order_number}",
                "customer_email": f"customer{order_number}@example.com",
                "sold_at": sold_at.isoformat(),
                "region": region,
                "channel": channel,
                "price": str(
                    price.quantize(Decimal("1") if currency == "JPY" else Decimal("0.01"))
                ),
                "currency": currency,
            }
            produced += 1


FIRMWARE = (("1.0.0", "deprecated"), ("1.1.0", "supported"), ("1.2.0", "current"))
TEST_PLANS: dict[str, list[dict[str, Any]]] = {
    "SPK-100": [
        {"id": "speaker_spl", "unit": "dB", "min": 82, "max": 98},
        {"id": "mic_array", "equals": True},
        {"id": "wifi_rssi", "unit": "dBm", "min": -70},
        {"id": "led_ring", "equals": True, "required": False},
    ],
    "RNG-200": [
        {"id": "ppg_snr", "unit": "dB", "min": 20},
        {"id": "temp_offset", "unit": "°C", "min": -0.3, "max": 0.3},
        {"id": "charge_current", "unit": "mA", "min": 40, "max": 60},
        {"id": "ble_pairing", "equals": True},
    ],
    "TAB-K8": [
        {"id": "touch_grid", "equals": True},
        {"id": "display_nits", "unit": "cd/m²", "min": 300},
        {"id": "battery_health", "unit": "%", "min": 80, "max": 100},
        {"id": "parental_lock", "equals": True},
    ],
    "CAM-AI1": [
        {"id": "sensor_snr", "unit": "dB", "min": 38},
        {"id": "ir_cut", "equals": True},
        {"id": "npu_inference_ms", "unit": "ms", "max": 45},
        {"id": "wifi_rssi", "unit": "dBm", "min": -72},
    ],
}


# What each product's inspection checks. The camera's checklist asks for photos (the station
# page and POST /units/{serial}/photos take them); the others need none.
INSPECTION_CHECKLISTS: dict[str, dict[str, Any]] = {
    "SPK-100": {
        "accessories": ["power adapter", "quick start guide"],
        "cosmetic_points": ["fabric cover", "top touch panel", "base"],
    },
    "RNG-200": {
        "accessories": ["charging dock", "USB-C cable", "sizing card"],
        "cosmetic_points": ["outer shell", "inner sensor window"],
        "cosmetic_criteria": {"A": "no marks on the shell or sensor window under a loupe"},
    },
    "TAB-K8": {
        "accessories": ["charger", "USB-C cable", "kid-proof case"],
        "cosmetic_points": ["display", "case corners", "charging port"],
    },
    "CAM-AI1": {
        "accessories": ["mount", "power adapter", "screw kit"],
        "cosmetic_points": ["lens", "housing", "mount thread"],
        "photos_required": 2,
    },
}


def demo_image(sku: str, version: str) -> bytes:
    """The demo's stand-in firmware image for a release (64 KiB, the same on every run)."""
    return b"".join(
        hashlib.sha256(f"{sku}@{version}:{block}".encode()).digest() for block in range(2048)
    )


def image_sha256(sku: str, version: str) -> str:
    """The sha256 of the demo's stand-in image for a release."""
    return hashlib.sha256(demo_image(sku, version)).hexdigest()


def _firmware_and_plan(session: Session, actor: Actor, sku: str) -> None:
    """Releases registered by hash; the images of those still in use are uploaded too (the
    deprecated one stays hash-only, as an old release often is); the test plan and the
    inspection checklist."""
    for version, status in FIRMWARE:
        image = demo_image(sku, version)
        add_firmware(
            session,
            actor,
            sku,
            FirmwareIn.model_validate(
                {
                    "version": version,
                    "sha256": image_sha256(sku, version),
                    "size": len(image),
                    "status": status,
                }
            ),
        )
        if status != ReleaseStatus.deprecated:
            staged = firmware_images.stage([image])
            store_firmware_image(session, actor, sku, version, staged)
    add_test_plan(
        session, actor, sku, TestPlanIn.model_validate({"version": 1, "tests": TEST_PLANS[sku]})
    )
    set_inspection_checklist(
        session, actor, sku, InspectionChecklistIn.model_validate(INSPECTION_CHECKLISTS[sku])
    )


# Test rigs per hub: (code, name, kind, days since calibration, days until due). Reno's RF
# enclosure is overdue, to show a refused test; every hub has exactly one usable rig.
RIGS: dict[str, list[tuple[str, str, str, int, int]]] = {
    "HUB-US": [
        ("RIG-US-1", "Reno bench 1", "audio, camera and ring bench", 60, 305),
        ("RIG-US-2", "Reno RF enclosure", "RF enclosure", 400, -35),
    ],
    "HUB-EU": [("RIG-EU-1", "Tilburg bench 1", "audio, camera and tablet bench", 90, 275)],
    "HUB-JP": [("RIG-JP-1", "Osaka bench 1", "audio and camera bench", 30, 335)],
}


def _rigs(session: Session, actor: Actor, today: date) -> None:
    """Each hub's test rigs with a calibration relative to `today`, so the demo can test."""
    for site, rigs in RIGS.items():
        for code, name, kind, age, left in rigs:
            create_rig(session, actor, site, TestRigIn(code=code, name=name, kind=kind))
            record_calibration(
                session,
                actor,
                site,
                code,
                CalibrationIn(
                    calibrated_on=today - timedelta(days=age),
                    due_on=today + timedelta(days=left),
                    certificate_ref=f"CAL-{code}-{(today - timedelta(days=age)).year}",
                ),
            )


def _demo_brand(session: Session, actor: Actor) -> Brand:
    """Adopt the empty default brand (a fresh install stays single-brand) or add the demo's."""
    default = session.scalars(select(Brand).where(Brand.code == DEFAULT_BRAND_CODE)).first()
    if default is None or session.scalar(select(Product.id).where(Product.brand_id == default.id)):
        return create_brand(session, actor, BrandIn(code=DEMO_BRAND, name="Lumen Home"))
    before = default.snapshot()
    default.code, default.name = DEMO_BRAND, "Lumen Home"
    session.flush()
    record_change(session, actor, "brand.updated", "brand", DEMO_BRAND, before, default.snapshot())
    return default


def load_demo(
    session: Session,
    actor: Actor,
    *,
    seed: int = 7,
    units: int = 40_000,
    progress: Callable[[int], None] | None = None,
) -> DemoReport:
    """Create the demo world unless it is there already (then change nothing)."""
    logins = [(u["username"], u["role"]) for u in USERS]
    if session.scalar(select(Brand.id).where(Brand.code == DEMO_BRAND)) is not None:
        return DemoReport(already_loaded=True, logins=logins)
    _demo_brand(session, actor)
    for product in PRODUCTS:
        fields = {k: v for k, v in product.items() if k not in ("share", "prefix")}
        create_product(session, actor, ProductIn.model_validate({"brand": DEMO_BRAND, **fields}))
    for product in PRODUCTS:
        _firmware_and_plan(session, actor, product["sku"])
    for site in SITES:
        create_site(session, actor, SiteIn.model_validate(site))
    # A day behind UTC, so that no calibration is in the future at any hub.
    _rigs(session, actor, utcnow().date() - timedelta(days=1))
    for user in USERS:
        if session.scalar(select(User.id).where(User.username == user["username"])) is None:
            create_user(session, actor, UserIn.model_validate({**user, "password": DEMO_PASSWORD}))
    summary = import_units(
        session, actor, sold_units(seed, units), source=f"demo seed {seed}", progress=progress
    )
    # Planning: these units' return history, drawn from a documented truth and stored as
    # imported weekly history for the forecast (see demo/returns_history.py).
    from backhaul.demo.returns_history import load_returns_history

    returns = load_returns_history(session, actor, seed=seed, units=units)
    return DemoReport(
        products=len(PRODUCTS),
        sites=len(SITES),
        units=summary.added,
        returns_history=returns,
        logins=logins,
    )
