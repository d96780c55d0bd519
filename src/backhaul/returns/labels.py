"""The return label: a 4×6 inch carrier-style PDF with the RMA as a Code 128 barcode and a QR
code, the hub's address, battery handling marks and, for a cross-border return, the customs
data (HS code, declared value); a second page tells the customer what to do, in their language.
"""

from __future__ import annotations

import io
import tomllib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code128, qr
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from backhaul.kit import i18n

PAGE = (4 * inch, 6 * inch)
ADDRESSES = Path(__file__).parent / "data" / "addresses.toml"
JAPANESE_FONT = "HeiseiKakuGo-W5"


@dataclass(frozen=True)
class LabelData:
    """What a label prints."""

    rma: str
    tracking_number: str
    serial: str
    sku: str
    product: str
    order_ref: str
    reason: str
    locale: str
    shipping_method: str
    ground_only: bool
    battery: str
    from_lines: list[str]
    to_lines: list[str]
    origin_region: str
    destination_region: str
    cross_border: bool
    hs_code: str
    declared_value: Decimal
    currency: str
    weight_g: int
    created_at: datetime
    status_url: str


@lru_cache(maxsize=1)
def _addresses() -> dict[str, dict[str, object]]:
    from backhaul.settings import get_settings

    configured = get_settings().returns_config_dir
    path = configured / "addresses.toml" if configured else None
    source = path if path is not None and path.is_file() else ADDRESSES
    sites = tomllib.loads(source.read_text(encoding="utf-8")).get("sites", {})
    return sites if isinstance(sites, dict) else {}


def hub_address(code: str, name: str, region: str) -> list[str]:
    """The hub's postal address lines (its name and region when none is configured)."""
    entry = _addresses().get(code)
    lines = entry.get("lines") if isinstance(entry, dict) else None
    if isinstance(lines, list) and lines:
        return [str(line) for line in lines]
    return [name, f"Returns dock ({code})", region]


def _font(locale: str) -> tuple[str, str]:
    """(regular, bold) fonts that can write the customer's language."""
    if locale == "ja":
        if JAPANESE_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(JAPANESE_FONT))
        return JAPANESE_FONT, JAPANESE_FONT
    return "Helvetica", "Helvetica-Bold"


def _latin(text: str) -> str:
    """Text for the carrier-facing page, which uses the base-14 fonts (Latin-1 only)."""
    return text.encode("cp1252", "replace").decode("cp1252")


def render(label: LabelData) -> bytes:
    """The label as PDF bytes."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=PAGE, pageCompression=0)
    canvas.setTitle(f"Return label {label.rma}")
    canvas.setAuthor("Backhaul")
    canvas.setSubject(f"Return of {label.serial}")
    _carrier_page(canvas, label)
    canvas.showPage()
    _instructions_page(canvas, label)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _carrier_page(canvas: Canvas, label: LabelData) -> None:
    width, height = PAGE
    margin = 0.15 * inch
    # Top band: what this parcel is and how it travels.
    canvas.setFillGray(0)
    canvas.rect(margin, height - 0.75 * inch, width - 2 * margin, 0.6 * inch, fill=1, stroke=0)
    canvas.setFillGray(1)
    canvas.setFont("Helvetica-Bold", 24)
    canvas.drawString(margin + 6, height - 0.55 * inch, "RETURN")
    canvas.setFont("Helvetica-Bold", 12)
    service = "GROUND ONLY" if label.ground_only else "STANDARD"
    method = "PICKUP" if label.shipping_method == "pickup" else "DROP-OFF"
    canvas.drawRightString(width - margin - 6, height - 0.4 * inch, service)
    canvas.setFont("Helvetica", 9)
    canvas.drawRightString(width - margin - 6, height - 0.6 * inch, method)
    canvas.setFillGray(0)

    y = height - 0.95 * inch
    canvas.setFont("Helvetica-Bold", 7)
    canvas.drawString(margin, y, "FROM")
    canvas.setFont("Helvetica", 8)
    for line in label.from_lines[:4]:
        y -= 10
        canvas.drawString(margin, y, _latin(line)[:60])
    y -= 16
    canvas.setFont("Helvetica-Bold", 7)
    canvas.drawString(margin, y, "SHIP TO")
    canvas.setFont("Helvetica-Bold", 11)
    for line in label.to_lines[:5]:
        y -= 13
        canvas.drawString(margin + 8, y, _latin(line)[:45])
    y -= 10
    canvas.setLineWidth(1.5)
    canvas.line(margin, y, width - margin, y)

    # The RMA as Code 128, wide and tall enough for any dock scanner.
    barcode = code128.Code128(label.rma, barHeight=0.75 * inch, barWidth=1.4, humanReadable=False)
    x = (width - barcode.width) / 2
    y -= 0.85 * inch
    barcode.drawOn(canvas, x, y)
    canvas.setFont("Helvetica-Bold", 14)
    y -= 16
    canvas.drawCentredString(width / 2, y, label.rma)
    y -= 8
    canvas.line(margin, y, width - margin, y)

    # The QR code (also the RMA) beside the references.
    size = 1.05 * inch
    widget = qr.QrCodeWidget(label.rma, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, width - margin - size, y - size - 4)
    canvas.setFont("Helvetica", 7.5)
    references = [
        ("Tracking", label.tracking_number),
        ("Serial", label.serial),
        ("SKU", label.sku),
        ("Order", label.order_ref),
        ("Reason", label.reason),
        ("Weight", f"{label.weight_g / 1000:.2f} kg"),
        ("Created", label.created_at.strftime("%Y-%m-%d %H:%M UTC")),
    ]
    ref_y = y - 10
    for name, value in references:
        canvas.setFont("Helvetica-Bold", 7.5)
        canvas.drawString(margin, ref_y, name.upper())
        canvas.setFont("Helvetica", 7.5)
        canvas.drawString(margin + 48, ref_y, _latin(value)[:34])
        ref_y -= 10
    y = min(ref_y, y - size - 8)

    if label.ground_only:
        canvas.setFillGray(0)
        canvas.rect(margin, y - 30, width - 2 * margin, 28, fill=1, stroke=0)
        canvas.setFillGray(1)
        canvas.setFont("Helvetica-Bold", 9)
        canvas.drawCentredString(width / 2, y - 13, "DAMAGED LITHIUM BATTERY - GROUND ONLY")
        canvas.setFont("Helvetica-Bold", 8)
        canvas.drawCentredString(width / 2, y - 24, "DO NOT LOAD ON AIRCRAFT")
        canvas.setFillGray(0)
        y -= 34
    elif label.battery in ("li_ion", "li_metal"):
        canvas.setFont("Helvetica-Bold", 7.5)
        kind = "ion" if label.battery == "li_ion" else "metal"
        canvas.drawString(margin, y - 10, f"Contains lithium {kind} batteries (UN3481/UN3091)")
        y -= 14

    if label.cross_border:
        canvas.setLineWidth(0.8)
        canvas.rect(margin, y - 58, width - 2 * margin, 54, fill=0, stroke=1)
        canvas.setFont("Helvetica-Bold", 8)
        canvas.drawString(margin + 4, y - 14, "CUSTOMS DECLARATION - RETURNED GOODS")
        canvas.setFont("Helvetica", 7.5)
        rows = [
            f"Contents: {_latin(label.product)[:48]}",
            f"HS code: {label.hs_code}    Quantity: 1    Weight: {label.weight_g} g",
            f"Declared value: {label.declared_value} {label.currency}    "
            f"From {label.origin_region} to {label.destination_region}",
            "Reason for export: return of goods (no commercial value change)",
        ]
        for index, row in enumerate(rows):
            canvas.drawString(margin + 4, y - 25 - index * 9, row)


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break text into lines that fit `width` (by words, or by characters for Japanese)."""
    words = list(text) if " " not in text else text.split(" ")
    joiner = "" if " " not in text else " "
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current}{joiner}{word}" if current else word
        if pdfmetrics.stringWidth(candidate, font, size) <= width:
            current = candidate
        else:
            if current:
                lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def _instructions_page(canvas: Canvas, label: LabelData) -> None:
    _ = i18n.translator(label.locale)
    regular, bold = _font(label.locale)
    width, height = PAGE
    margin = 0.25 * inch
    text_width = width - 2 * margin
    y = height - 0.5 * inch
    canvas.setFont(bold, 13)
    canvas.drawString(margin, y, _("Your return %(rma)s", rma=label.rma))
    y -= 18
    steps = [
        _("Sign out of the app and remove %(product)s from your account.", product=label.product),
        _("Pack the device and its accessories in a sturdy box."),
        _("Print the first page and stick it on the box, covering any old labels."),
        _("Take the parcel to any drop-off point of the carrier.")
        if label.shipping_method != "pickup"
        else _("The carrier will collect the parcel at your address."),
    ]
    if label.ground_only:
        steps.append(
            _(
                "The battery may be damaged: put the device in a bag, do not charge it, and use "
                "ground transport only."
            )
        )
    canvas.setFont(regular, 9)
    for number, step in enumerate(steps, start=1):
        lines = _wrap(f"{number}. {step}", regular, 9, text_width)
        for line in lines:
            canvas.drawString(margin, y, line)
            y -= 12
        y -= 4
    y -= 6
    canvas.setFont(bold, 9)
    canvas.drawString(margin, y, _("Follow your return:"))
    y -= 12
    canvas.setFont("Helvetica", 6.5)
    url = label.status_url
    while url:
        canvas.drawString(margin, y, url[:70])
        url = url[70:]
        y -= 9
