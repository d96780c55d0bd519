"""The procedure as Markdown and as PDF (reportlab, like certificates and labels): the same
document model written two ways."""

from __future__ import annotations

import io
import re
from typing import Any
from xml.sax.saxutils import escape

from backhaul.sop.procedure import Block, Bullets, Grid, Para, Procedure

# --- Markdown ----------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown_block(block: Block) -> list[str]:
    if isinstance(block, Para):
        return [block.text, ""]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items] + [""]
    lines = [
        "| " + " | ".join(_cell(h) for h in block.header) + " |",
        "|" + "---|" * len(block.header),
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
    return [*lines, ""]


def markdown(procedure: Procedure) -> str:
    """The procedure as a Markdown document."""
    lines = [f"# {procedure.title}", ""]
    for text in procedure.intro:
        lines += [text, ""]
    for section in procedure.sections:
        lines += [f"{'#' * section.level} {section.title}", ""]
        for block in section.blocks:
            lines += _markdown_block(block)
    return "\n".join(lines).rstrip("\n") + "\n"


# --- PDF ---------------------------------------------------------------------------------

# The PDF's built-in fonts cover Windows-1252; say the rest in ASCII rather than as boxes.
_PLAIN = str.maketrans({"≥": ">=", "≤": "<=", "−": "-", "→": "->", "✓": "yes"})
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def _latin(text: str) -> str:
    return text.translate(_PLAIN).encode("cp1252", "replace").decode("cp1252")


def _inline(text: str) -> str:
    """Markdown's inline marks (`code`, **bold**) as reportlab paragraph markup."""
    marked = escape(_latin(text))
    marked = _CODE.sub(r"<font face='Courier'>\1</font>", marked)
    return _BOLD.sub(r"<b>\1</b>", marked)


def pdf(procedure: Procedure) -> bytes:
    """The procedure as an A4 PDF."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        ListFlowable,
        ListItem,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    body = styles["BodyText"].clone("sop_body", fontSize=9, leading=11.5)
    cell = styles["BodyText"].clone("sop_cell", fontSize=8, leading=10)
    buffer = io.BytesIO()
    width = A4[0] - 32 * mm
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=_latin(procedure.title),
        author="Backhaul",
    )
    story: list[Any] = [Paragraph(_inline(procedure.title), styles["Title"])]
    story += [Paragraph(_inline(text), body) for text in procedure.intro]
    for section in procedure.sections:
        heading = styles["Heading2"] if section.level <= 2 else styles["Heading3"]
        story.append(Paragraph(_inline(section.title), heading))
        for block in section.blocks:
            if isinstance(block, Para):
                story.append(Paragraph(_inline(block.text), body))
            elif isinstance(block, Bullets):
                story.append(
                    ListFlowable(
                        [ListItem(Paragraph(_inline(item), body)) for item in block.items],
                        bulletType="bullet",
                        leftIndent=10,
                    )
                )
            elif isinstance(block, Grid):
                rows = [[Paragraph(f"<b>{_inline(h)}</b>", cell) for h in block.header]]
                rows += [[Paragraph(_inline(c), cell) for c in row] for row in block.rows]
                table = Table(rows, colWidths=[width / len(block.header)] * len(block.header))
                table.setStyle(
                    TableStyle(
                        [
                            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f5")),
                            ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ]
                    ),
                )
                table.repeatRows = 1
                story.append(table)
            story.append(Spacer(1, 2 * mm))
    document.build(story)
    return buffer.getvalue()
