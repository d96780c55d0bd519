"""The disposition engine through the steps API, the fault-code taxonomy, and the repackaging
label (its barcode decodes to the serial; its ZPL matches the reviewed golden file)."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import zxingcpp

from tests.processing.conftest import INSPECT_OK, World, received, to_tested

GOLDEN = Path(__file__).parent / "golden" / "label-SPK000011.zpl"


def _to_stock(world: World, serial: str, cosmetic: str = "B") -> dict:  # type: ignore[type-arg]
    to_tested(world, serial)
    world.step("tech_a", serial, "grade", {"cosmetic": cosmetic, "functional": "pass"})
    decided = world.step("tech_a", serial, "disposition", {})
    assert decided.status_code == 200, decided.text
    assert world.step("tech_a", serial, "repackage", {}).status_code == 200
    return decided.json()["decision"]  # type: ignore[no-any-return]


def test_the_decision_prices_every_alternative_and_cites_the_policy(world: World) -> None:
    decision = _to_stock(world, "SPK000010")
    assert decision["route"] == "restock"
    assert decision["rule"] == "disposition-2026.1/E1"
    assert decision["policy"] == "defaults < SPK-100"
    routes = [a["route"] for a in decision["alternatives"]]
    assert routes[0] == "restock" and set(routes) == {"restock", "harvest", "recycle"}
    assert decision["reason"].startswith("restock has the highest expected net value")
    history = world.unit("SPK000010")["history"]
    assert next(h for h in history if h["step"] == "disposition")["evidence"]["rule"].endswith(
        "/E1"
    )


def test_fault_codes_come_from_the_taxonomy(world: World) -> None:
    listed = world.call("tech_a", "GET", "/api/v1/fault-codes").json()
    codes = {row["code"]: row for row in listed}
    assert codes["NFF"]["no_fault_found"] is True
    assert codes["PWR.BATT.SWELL"]["hazard"] is True
    assert codes["CONN.WIFI.NOPAIR"]["parent"] == "CONN.WIFI"
    assert "FW.BOOTLOOP" in codes and "COSM.SCREEN.SCRATCH" in codes
    received(world, "SPK000012")
    bad = world.step("tech_a", "SPK000012", "inspect", INSPECT_OK | {"fault_codes": ["PWR.ZAP"]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("body.fault_codes")
    mixed = world.step(
        "tech_a", "SPK000012", "inspect", INSPECT_OK | {"fault_codes": ["NFF", "FW.BOOTLOOP"]}
    )
    assert mixed.status_code == 422
    ok = world.step("tech_a", "SPK000012", "inspect", INSPECT_OK | {"fault_codes": ["nff"]})
    assert ok.status_code == 200, ok.text


def test_the_label_barcode_carries_the_serial_under_ai_21(world: World) -> None:
    early = world.call("tech_a", "GET", "/api/v1/units/SPK000011/label.pdf")
    assert early.status_code == 404 or early.status_code == 409
    _to_stock(world, "SPK000011")
    pdf = world.call("tech_a", "GET", "/api/v1/units/SPK000011/label.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    document = pdfium.PdfDocument(pdf.content)
    image = document[0].render(scale=600 / 72).to_pil()
    found = zxingcpp.read_barcodes(image)
    document.close()
    assert [(r.format.name, r.content_type.name, r.text) for r in found] == [
        ("Code128", "GS1", "(21)SPK000011")
    ]
    assert b"SPK-100-RF-B" in pdf.content
    zpl = world.call("tech_a", "GET", "/api/v1/units/SPK000011/label.zpl")
    assert zpl.status_code == 200
    assert zpl.text == GOLDEN.read_text(encoding="utf-8")
