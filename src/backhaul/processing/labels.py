"""Repackaging labels: the condition SKU, serial and grade, with a GS1-128 barcode carrying the
serial under application identifier 21, as PDF (reportlab) and as ZPL for Zebra printers."""

from __future__ import annotations

import io
from dataclasses import dataclass

from reportlab.graphics.barcode import code128
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy.orm import Session

from backhaul.kit.auth import Actor
from backhaul.kit.errors import IllegalTransition
from backhaul.processing import chain, grading, service
from backhaul.processing.states import State

PAGE = (4 * inch, 2 * inch)
FNC1 = "\xf1"  # reportlab's Code 128 writes this as FNC1: first, it makes the symbol GS1-128
AI_SERIAL = "21"
# A unit keeps its label from repackaging until it leaves the shelf.
LABELLED = frozenset({State.available})


@dataclass(frozen=True, slots=True)
class Label:
    """What a repackaging label prints."""

    serial: str
    sku: str
    condition: str
    condition_sku: str
    grade: str
    site: str

    @property
    def condition_text(self) -> str:
        """New or refurbished, in words (a refurbished label never reads as new)."""
        return "NEW" if self.condition == grading.NEW else f"REFURBISHED - GRADE {self.grade}"

    @property
    def gs1_text(self) -> str:
        """The barcode's human-readable line."""
        return f"({AI_SERIAL}){self.serial}"


def label_for(session: Session, actor: Actor, serial: str) -> Label:
    """The label of a repackaged unit in the actor's scope; 409 before repackaging."""
    unit, steps = service.get_unit(session, actor, serial)
    if unit.state not in LABELLED:
        raise IllegalTransition(
            f"unit {unit.serial} is {unit.state.value}: it gets a label when it is repackaged",
            missing="repackage",
        )
    current = chain.since_latest_receipt(
        [chain.StepFact(row.step, row.outcome, row.evidence) for row in steps]
    )
    graded = next((f for f in reversed(current) if f.step == "grade"), None)
    condition = unit.condition or grading.NEW
    return Label(
        serial=unit.serial,
        sku=unit.sku,
        condition=condition,
        condition_sku=grading.condition_sku(unit.sku, condition),
        grade=str(graded.evidence.get("cosmetic")) if graded else "-",
        site=unit.site or "",
    )


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def render_pdf(label: Label) -> bytes:
    """A 4 x 2 inch label as PDF bytes."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=PAGE, pageCompression=0)
    canvas.setTitle(f"Label {label.serial}")
    canvas.setAuthor("Backhaul")
    width, height = PAGE
    margin = 0.12 * inch
    canvas.setFont("Helvetica-Bold", 16)
    canvas.drawString(margin, height - 0.3 * inch, _ascii(label.condition_sku))
    canvas.setFont("Helvetica-Bold", 9)
    canvas.drawRightString(width - margin, height - 0.28 * inch, label.condition_text)
    canvas.setFont("Helvetica", 9)
    canvas.drawString(margin, height - 0.48 * inch, f"SN {_ascii(label.serial)}")
    canvas.drawRightString(width - margin, height - 0.48 * inch, _ascii(label.site))
    barcode = code128.Code128(
        FNC1 + AI_SERIAL + label.serial, barWidth=0.012 * inch, barHeight=0.85 * inch
    )
    barcode.drawOn(canvas, (width - barcode.width) / 2, 0.32 * inch)
    canvas.setFont("Helvetica", 8)
    canvas.drawCentredString(width / 2, 0.15 * inch, _ascii(label.gs1_text))
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def render_zpl(label: Label) -> str:
    """The same label in ZPL II for a 203 dpi Zebra printer (4 x 2 inch)."""
    return "\n".join(
        [
            "^XA",
            "^CI28",
            "^PW812",
            "^LL406",
            f"^FO30,25^A0N,44,44^FD{_ascii(label.condition_sku)}^FS",
            f"^FO450,30^A0N,24,24^FB340,1,0,R^FD{_ascii(label.condition_text)}^FS",
            f"^FO30,80^A0N,26,26^FDSN {_ascii(label.serial)}^FS",
            f"^FO450,80^A0N,26,26^FB340,1,0,R^FD{_ascii(label.site)}^FS",
            # Mode D (GS1): FNC1 first; the AI in parentheses is printed, not encoded.
            f"^FO60,130^BY2,3^BCN,180,Y,N,N,D^FD{label.gs1_text}^FS",
            "^XZ",
            "",
        ]
    )
