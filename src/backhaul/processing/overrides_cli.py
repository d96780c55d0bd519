"""`backhaul overrides list` and `backhaul overrides decide ID`: work through the override
requests technicians raised, from the shell."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from backhaul.kit.cli import fail, out, parse, transaction

app = typer.Typer(
    help="Override requests: list them, approve or reject them.", no_args_is_help=True
)
STATUSES = ("pending", "approved", "rejected", "all")


@app.command("list")
def list_requests(
    site: Annotated[str | None, typer.Option(help="Only this site's requests")] = None,
    status: Annotated[str, typer.Option(help="pending, approved, rejected or all")] = "pending",
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many")] = 100,
) -> None:
    """List override requests, oldest first (pending ones unless --status says otherwise)."""
    from backhaul.processing import overrides
    from backhaul.processing.models import OverrideStatus

    if status not in STATUSES:
        fail(f"--status: '{status}' is not one of {', '.join(STATUSES)}")
    wanted = None if status == "all" else OverrideStatus(status)
    with transaction(write=False) as (session, actor):
        views = overrides.list_requests(session, actor, site=site, status=wanted, limit=limit)
    table = Table("id")
    for name in ("serial", "site", "asks for"):  # never wrapped: the reason and decision wrap
        table.add_column(name, no_wrap=True)
    table.add_column("reason, by, at")
    table.add_column("decision")
    for view in views:
        request = view.request
        asks = (
            f"route {request.route.value}"
            if request.route is not None
            else f"failed {request.step} → pass"
        )
        decision = request.status.value
        if request.status.value == "pending" and view.stale:
            decision += " (the unit moved on since)"
        if request.decided_by:
            decision += f"\n{request.decided_by}: {request.decision_note or 'no note'}"
        table.add_row(
            str(request.id),
            view.serial,
            view.site or "—",
            asks,
            f"{request.reason}\n{request.requested_by}, {request.requested_at:%Y-%m-%d %H:%M}",
            decision,
        )
    out.print(table)


@app.command("decide")
def decide(
    request_id: Annotated[int, typer.Argument(help="The request's id (see `overrides list`)")],
    approve: Annotated[
        bool | None,
        typer.Option("--approve/--reject", help="Approve (apply the override) or reject"),
    ] = None,
    note: Annotated[str | None, typer.Option(help="Why; required to reject")] = None,
) -> None:
    """Approve a request (the override is applied as a step of its own) or reject it."""
    from backhaul.processing import lifecycle, overrides
    from backhaul.processing.schemas import OverrideDecisionIn

    if approve is None:
        fail("say --approve or --reject")
    data = parse(OverrideDecisionIn, {"approve": approve, "note": note})
    with transaction() as (session, actor):
        view, performed = overrides.decide(session, actor, request_id, data)
        status = view.request.status.value
        now = lifecycle.position(performed.unit.state, performed.unit.route) if performed else None
    message = f"request {request_id} for {view.serial} {status}"
    out.print(message + (f"; the unit is now {now}" if now else ""))
