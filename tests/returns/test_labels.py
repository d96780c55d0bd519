"""The label PDF opens, and its Code 128 barcode and QR code decode to the RMA number
(pypdfium2 renders the page, zxing-cpp reads it); a cross-border label carries customs data."""

from __future__ import annotations

import pypdfium2 as pdfium
import zxingcpp

from tests.returns.conftest import ReturnsWorld


def _decode(pdf: bytes) -> tuple[dict[str, str], str, int]:
    document = pdfium.PdfDocument(pdf)
    page = document[0]
    image = page.render(scale=300 / 72).to_pil()
    found = {result.format.name: result.text for result in zxingcpp.read_barcodes(image)}
    text = page.get_textpage().get_text_range()
    pages = len(document)
    document.close()
    return found, text, pages


def test_the_label_barcode_and_qr_code_decode_to_the_rma(returns_world: ReturnsWorld) -> None:
    case = returns_world.open(
        serial=returns_world.sell(),
        reason="defect.hardware",
        resolution="repair",
        name="Ada Lovelace",
        address="12 Analytical Way\nLondon",
    )
    response = returns_world.call("agent", "GET", f"/api/v1/returns/{case['rma']}/label.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    barcodes, text, pages = _decode(response.content)
    assert barcodes.get("Code128") == case["rma"]
    assert barcodes.get("QRCode") == case["rma"]
    assert pages == 2
    assert "RETURN" in text and "Reno, NV 89502" in text and "Ada Lovelace" in text
    assert "CUSTOMS" not in text  # a domestic return


def test_a_cross_border_label_carries_hs_code_and_declared_value(
    returns_world: ReturnsWorld,
) -> None:
    case = returns_world.open(
        serial=returns_world.sell("RNG-200", region="JP"),
        reason="defect.hardware",
        resolution="repair",
        locale="ja",
    )
    pdf = returns_world.call("agent", "GET", f"/api/v1/returns/{case['rma']}/label.pdf").content
    barcodes, text, _pages = _decode(pdf)
    assert barcodes.get("Code128") == case["rma"] and barcodes.get("QRCode") == case["rma"]
    assert "CUSTOMS DECLARATION" in text and "HS code: 8518.22" in text
    assert "Declared value: 19350.00 JPY" in text
    second = pdfium.PdfDocument(pdf)[1].get_textpage().get_text_range()
    assert f"返品 {case['rma']}" in second  # the customer's page is in Japanese


def test_a_damaged_battery_label_says_ground_only(returns_world: ReturnsWorld) -> None:
    case = returns_world.open(
        serial=returns_world.sell("CAM-AI1"),
        reason="defect.battery",
        resolution="repair",
        battery="damaged",
    )
    pdf = returns_world.call("agent", "GET", f"/api/v1/returns/{case['rma']}/label.pdf").content
    barcodes, text, _pages = _decode(pdf)
    assert "GROUND ONLY" in text and "DO NOT LOAD ON AIRCRAFT" in text
    assert barcodes.get("Code128") == case["rma"]


def test_the_customer_downloads_the_label_by_the_signed_link(returns_world: ReturnsWorld) -> None:
    case = returns_world.open(serial=returns_world.sell())
    path = case["label_url"].split("8000", 1)[1]
    response = returns_world.client.get(path)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    forged = path.replace(".pdf", "x.pdf")
    assert returns_world.client.get(forged).status_code == 422
