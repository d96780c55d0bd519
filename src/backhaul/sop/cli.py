"""`backhaul sop --product SKU --site HUB [--out DIR]`: write a product's standard operating
procedure at a hub (Markdown and PDF) and check the hub's capabilities against it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from backhaul.kit.cli import err, fail, out, transaction


def sop(
    product: Annotated[str, typer.Option(help="The product's SKU")],
    site: Annotated[str, typer.Option(help="The hub's code")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder to write `SOP-<SKU>-<HUB>.md` and `.pdf` into")
    ] = Path("."),
) -> None:
    """Write a product's standard operating procedure at a hub, as Markdown and PDF.

    Built from the configuration. Also checks the hub's capabilities: exit 1 when it lacks any
    (the files are written all the same)."""
    from backhaul.sop import render, service

    with transaction(write=False) as (session, actor):
        built = service.procedure_for(session, actor, product, site)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        markdown = out_dir / f"{built.file_stem}.md"
        markdown.write_text(render.markdown(built), encoding="utf-8")
        pdf = out_dir / f"{built.file_stem}.pdf"
        pdf.write_bytes(render.pdf(built))
    except OSError as error:
        fail(f"--out: {error}")
    out.print(f"wrote {markdown}", soft_wrap=True)
    out.print(f"wrote {pdf}", soft_wrap=True)
    check = built.check
    table = Table("capability", "needed for", check.site, title="Capability check")
    for need in check.needs:
        has = need.capability not in {n.capability for n in check.missing}
        table.add_row(need.capability, need.why, "[green]yes[/]" if has else "[bold red]MISSING[/]")
    out.print(table)
    for gap in check.configuration_gaps:
        err.print(f"[bold red]configuration:[/] {gap}", soft_wrap=True)
    if check.missing:
        err.print(
            f"[bold red]{check.site} lacks what this procedure needs:[/] "
            + ", ".join(n.capability for n in check.missing),
            soft_wrap=True,
        )
    if not check.ok:
        raise typer.Exit(1)
    out.print(f"{check.site} has every capability this procedure needs", soft_wrap=True)
