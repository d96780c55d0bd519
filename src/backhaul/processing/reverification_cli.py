"""`backhaul reverify list|record|withdraw`: the queue of wipes drawn for re-verification,
recording a result on behalf of the person who re-verified (named with --by), and withdrawing
the draw of a written-off unit."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.table import Table

from backhaul.kit.cli import fail, out, parse, transaction
from backhaul.processing.models import ReverificationStatus

app = typer.Typer(
    help="Re-verification of wipes drawn at random (R2v3 sampling).", no_args_is_help=True
)


@app.command("list")
def list_command(
    site: Annotated[str | None, typer.Option(help="Only this site (code)")] = None,
    status: Annotated[
        str, typer.Option(help="pending, passed, failed, superseded, withdrawn or all")
    ] = "pending",
) -> None:
    """The wipes waiting for (or given) re-verification, oldest draw first."""
    from backhaul.processing import reverification

    if status != "all" and status not in {s.value for s in ReverificationStatus}:
        known = ", ".join([*(s.value for s in ReverificationStatus), "all"])
        fail(f"--status: '{status}' is not one of {known}")
    statuses = tuple(ReverificationStatus) if status == "all" else (ReverificationStatus(status),)
    with transaction(write=False) as (session, actor):
        rows = reverification.queue(session, actor, site=site, statuses=statuses, limit=1000)
    table = Table(title=f"Re-verification ({status})")
    table.add_column("serial", no_wrap=True)
    for name in ("sku", "site", "drawn at", "status", "wiped / verified by", "re-verified by"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            row.serial,
            row.sku,
            row.site or "—",
            row.drawn_at.strftime("%Y-%m-%d %H:%M"),
            row.status,
            f"{row.wiped_by} / {row.wipe_verified_by or '—'}",
            row.performed_by or "—",
        )
    out.print(table)
    out.print(f"{len(rows)} record(s)")


@app.command("record")
def record_command(
    serial: Annotated[str, typer.Argument(help="The unit's serial")],
    result: Annotated[str, typer.Option(help="passed or failed")],
    by: Annotated[
        str,
        typer.Option(
            help="User name of the technician or supervisor who re-verified (not the one who "
            "wiped or verified the wipe); their site scope applies"
        ),
    ],
    method: Annotated[str, typer.Option(help="full, sampling or forensic")] = "full",
    tool: Annotated[str, typer.Option(help="Tool name and version")] = "",
    notes: Annotated[str, typer.Option(help="What was found (required for a failure)")] = "",
) -> None:
    """Record a drawn wipe's re-verification.

    A failure quarantines the unit and raises an exception-queue item for the supervisors."""
    from sqlalchemy import select

    from backhaul.accounts.models import User
    from backhaul.accounts.service import actor_for
    from backhaul.processing import reverification
    from backhaul.processing.schemas import ReverificationIn

    data = parse(
        ReverificationIn,
        {"result": result, "method": method, "tool": tool or None, "notes": notes},
    )
    with transaction() as (session, operator):
        person = session.scalars(
            select(User).where(
                User.username == by.strip().lower(),
                User.is_service.is_(False),
                User.is_active.is_(True),
            )
        ).first()
        if person is None:
            fail(f"--by: no active person '{by}'")
        actor = dataclasses.replace(
            actor_for(person, via="system"),
            display_name=f"{person.display_name} (entered by {operator.username} at the CLI)",
        )
        recorded = reverification.record(session, actor, serial, data)
    out.print(
        f"{recorded.serial}: re-verification {recorded.status} by {recorded.performed_by} "
        f"({recorded.method}, {recorded.tool})"
    )
    if recorded.status == "failed":
        out.print(
            f"[bold red]escalated[/]: exception item {recorded.exception_id}; the unit is "
            "quarantined until it is wiped again"
        )


@app.command("withdraw")
def withdraw_command(
    serial: Annotated[str, typer.Argument(help="The unit's serial")],
    reason: Annotated[
        str, typer.Option(help="Why the draw is withdrawn (3 characters or more); audited")
    ],
) -> None:
    """Withdraw the pending re-verification of a written-off unit.

    A lost, stolen or destroyed unit can never be re-verified; a unit still in custody must
    be. Recorded as the operator at the shell."""
    from backhaul.processing import reverification

    with transaction() as (session, actor):
        withdrawn = reverification.withdraw(session, actor, serial, reason)
    out.print(
        f"{withdrawn.serial}: re-verification {withdrawn.status} by {withdrawn.performed_by} "
        f"(certificate {withdrawn.certificate_id}): {withdrawn.notes}"
    )
