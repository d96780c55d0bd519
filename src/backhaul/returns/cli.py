"""The returns commands: `backhaul returns cases|show|resolve|cancel|policies|reasons|dispatch`
and `backhaul worker` (the outbox dispatcher, standalone)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from backhaul.kit.cli import err, fail, out, transaction

app = typer.Typer(help="Return cases, policies and reason codes.", no_args_is_help=True)
policies_app = typer.Typer(help="Return policies per region (TOML).", no_args_is_help=True)
app.add_typer(policies_app, name="policies")


@app.command("cases")
def cases(
    status: Annotated[str | None, typer.Option(help="Only this status")] = None,
    region: Annotated[str | None, typer.Option(help="Only this region")] = None,
    site: Annotated[str | None, typer.Option(help="Only cases going to this hub")] = None,
    breached: Annotated[bool, typer.Option(help="Only cases with a breached SLA clock")] = False,
    limit: Annotated[int, typer.Option(min=1, max=5000)] = 50,
) -> None:
    """List return cases, newest first, with their breached SLA clocks."""
    from backhaul.db import utcnow
    from backhaul.returns import service

    filters = service.Filters(
        status=status, region=region, site=site, breached=True if breached else None, limit=limit
    )
    with transaction(write=False) as (session, actor):
        now = utcnow()
        table = Table("rma", "status", "serial", "sku", "region", "reason", "to", "breached")
        for case in service.list_cases(session, actor, filters):
            table.add_row(
                case.rma,
                case.status.value,
                case.serial,
                case.sku,
                case.region,
                case.reason,
                case.destination.code if case.destination else "—",
                ", ".join(service.breached_clocks(session, case, now)),
            )
    out.print(table)


@app.command("show")
def show(rma: Annotated[str, typer.Argument(help="The RMA number")]) -> None:
    """One case: decision, routing, SLA clocks and timeline."""
    import json

    from backhaul.kit.jsonable import jsonable
    from backhaul.returns import service

    with transaction(write=False) as (session, actor):
        view = service.case_view(session, service.get_case(session, actor, rma))
    out.print_json(json.dumps(jsonable(view)))


@app.command("resolve")
def resolve(
    rma: Annotated[str, typer.Argument(help="The RMA number")],
    outcome: Annotated[str, typer.Option(help="What the customer got, e.g. 'refund issued'")],
) -> None:
    """Resolve a received case; the customer gets the outcome and the survey by email."""
    from backhaul.returns import service

    with transaction() as (session, actor):
        service.resolve_case(session, actor, service.get_case(session, actor, rma), outcome)
    out.print(f"{rma.upper()} resolved")


@app.command("cancel")
def cancel(
    rma: Annotated[str, typer.Argument(help="The RMA number")],
    reason: Annotated[str, typer.Option(help="Why")],
) -> None:
    """Cancel a case that has not shipped."""
    from backhaul.returns import service

    with transaction() as (session, actor):
        service.cancel_case(session, actor, service.get_case(session, actor, rma), reason)
    out.print(f"{rma.upper()} cancelled")


@app.command("reasons")
def reasons_list(
    language: Annotated[str, typer.Option(help="en, de, fr, es or ja")] = "en",
) -> None:
    """The reason-code taxonomy."""
    from backhaul.returns import reasons

    table = Table("code", "label", "warranty", "change of mind")
    for reason in reasons.taxonomy().reasons.values():
        table.add_row(
            reason.code,
            reason.in_language(language),
            "yes" if reason.warranty else "",
            "yes" if reason.change_of_mind else "",
        )
    out.print(table)


@policies_app.command("check")
def policies_check(file: Annotated[Path, typer.Argument(help="A policy TOML file")]) -> None:
    """Check a policy file: exit 2 naming the file, line and field of the first mistake."""
    from backhaul.returns import policy
    from backhaul.returns.config import ConfigError

    if not file.is_file():
        fail(f"{file}: no such file")
    try:
        parsed = policy.parse(file.read_text(encoding="utf-8"), str(file))
    except ConfigError as error:
        fail(error.detail)
    out.print(
        f"{file}: policy {parsed.policy_version} is valid ({parsed.return_window_days}-day "
        f"window, {parsed.legal_warranty_months}-month legal warranty)"
    )


@policies_app.command("publish")
def policies_publish(file: Annotated[Path, typer.Argument(help="A policy TOML file")]) -> None:
    """Publish a new version of a region's policy; it decides every request from now on."""
    from backhaul.returns import service

    if not file.is_file():
        fail(f"{file}: no such file")
    with transaction() as (session, actor):
        published = service.publish_policy(
            session, actor, file.read_text(encoding="utf-8"), source=str(file)
        )
    out.print(f"published {published.policy.policy_version} (sha256 {published.sha256[:12]}…)")


@policies_app.command("list")
def policies_list() -> None:
    """The policy in force for each region."""
    from backhaul.returns import service

    with transaction(write=False) as (session, actor):
        table = Table("region", "version", "window", "legal warranty", "fee", "source")
        for item in service.list_policies(session, actor):
            rules = item.policy
            table.add_row(
                rules.region,
                rules.version,
                f"{rules.return_window_days} days",
                f"{rules.legal_warranty_months} months",
                f"{rules.restocking_fee_percent:g}%",
                item.source if item.published_by is None else f"published by {item.published_by}",
            )
    out.print(table)


@app.command("dispatch")
def dispatch() -> None:
    """One round of the dispatcher: sync cases with their units, send pending emails."""
    from backhaul.integrations import notifications

    changed = notifications.sync_cases()
    sent = notifications.dispatch_once(limit=500)
    out.print(f"{changed} cases moved on, {sent} emails delivered")


def worker(
    every: Annotated[float, typer.Option(help="Seconds between rounds", min=0.1)] = 2.0,
) -> None:
    """Run the outbox dispatcher (customer emails, case milestones) until interrupted."""
    from backhaul.integrations import notifications

    stop = threading.Event()
    err.print(f"dispatcher running every {every:g}s; Ctrl-C to stop")
    try:
        notifications.run(stop, every)
    except KeyboardInterrupt:
        stop.set()
