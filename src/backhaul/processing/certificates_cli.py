"""`backhaul certificates verify FILE`: check a certificate of sanitization offline with the public
key, and (with --record) against the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from backhaul.kit import signing
from backhaul.processing import certificates

app = typer.Typer(help="Certificates of sanitization.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _public_key(path: Path | None) -> bytes:
    if path is not None:
        return path.read_bytes()
    from backhaul.settings import get_settings

    installed = get_settings().keys_dir / signing.PUBLIC_KEY_FILE
    if not installed.exists():
        err.print(
            "[bold red]error:[/] no --public-key given and no installation key at "
            f"{installed}; fetch it from GET /api/v1/keys/certificates"
        )
        raise typer.Exit(2)
    return installed.read_bytes()


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="The certificate JSON (as the API returns it)")],
    public_key: Annotated[
        Path | None,
        typer.Option(help="PEM public key (default: this installation's key)"),
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record/--offline",
            help="Also check the content against the database record (BACKHAUL_DATABASE_URL)",
        ),
    ] = False,
) -> None:
    """Check a certificate's signature, and whether it is the one on record.

    The signature is checked offline, with only the public key; --record also checks it
    against the server's record. Exit 1 when any check fails."""
    try:
        content, signature = certificates.parse_document(file.read_text(encoding="utf-8"))
        key = signing.load_public_key(_public_key(public_key))
    except (OSError, ValueError) as error:
        err.print(f"[bold red]error:[/] {error}")
        raise typer.Exit(2) from None
    verdict = certificates.Verdict()
    certificates.verify_signature(content, signature, key, verdict)
    if record:
        from backhaul.db import session_scope

        with session_scope(write=False) as session:
            certificates.verify_record(session, content, signature, verdict)
    table = Table("check", "result", "detail", title=f"certificate {content.get('certificate_id')}")
    for name, passed, detail in verdict.checks:
        table.add_row(name, "[green]ok[/]" if passed else "[bold red]FAILED[/]", detail)
    out.print(table)
    if not verdict.ok:
        err.print(f"[bold red]certificate does NOT verify[/]: {file}")
        raise typer.Exit(1)
    out.print(f"certificate verifies: unit {content.get('serial')}, {content.get('method')}")
