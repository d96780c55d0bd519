"""`backhaul station run`: the station agent at the shell, with a progress bar and a summary."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from backhaul.devices.adapter import load_adapter
from backhaul.devices.cloud import HttpDeviceCloud, RetryPolicy
from backhaul.devices.simulated import FaultRates
from backhaul.devices.station import ApiError, NoRig, StationAgent, UnitReport

app = typer.Typer(
    help="The station agent: sanitize, flash and test on devices.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)


def ended(report: UnitReport) -> str:
    """Where a unit ended: its state, or `error` when the run could not finish it."""
    return "error" if report.error else report.state


def summary(reports: list[UnitReport]) -> Table:
    """Units by the state they ended in, and the reason for each that did not pass."""
    table = Table("ended in", "units", "examples", title=f"station run: {len(reports)} units")
    by_state = Counter(ended(report) for report in reports)
    for state, count in sorted(by_state.items()):
        examples = [r for r in reports if ended(r) == state][:3]
        detail = "; ".join(
            f"{r.serial}: {r.error or ', '.join(f['reason'] for f in r.failures) or 'ok'}"
            for r in examples
        )
        table.add_row(state, str(count), detail)
    return table


def cloud_token_for(brand: str, default: str | None) -> str | None:
    """The token a station sends to this brand's device cloud: the brand's own, from
    `BACKHAUL_DEVICE_CLOUD_TOKEN_<BRAND>` (the code upper-cased, other characters as `_`),
    else the one for every brand. Tokens stay on the station: the server never holds them."""
    name = re.sub(r"[^A-Z0-9]", "_", brand.upper())
    return os.environ.get(f"BACKHAUL_DEVICE_CLOUD_TOKEN_{name}") or default


@app.command("run")
def run(
    site: Annotated[str, typer.Option(help="The hub this station is at")],
    adapter: Annotated[
        str, typer.Option(help="`simulated`, or package.module:Class for your own adapter")
    ] = "simulated",
    serial: Annotated[str | None, typer.Option(help="Process just this unit")] = None,
    batch: Annotated[int | None, typer.Option(help="Process up to N waiting units", min=1)] = None,
    verifier: Annotated[
        str | None, typer.Option(help="User name of the second person verifying wipes")
    ] = None,
    rig: Annotated[
        str | None,
        typer.Option(
            help="The test rig this station uses (default: the site's only calibrated rig)"
        ),
    ] = None,
    image_cache: Annotated[
        Path,
        typer.Option(
            envvar="BACKHAUL_STATION_CACHE", help="Where verified firmware images are kept"
        ),
    ] = Path(".backhaul-station-cache"),
    seed: Annotated[int, typer.Option(help="Simulated adapter: seed for its faults")] = 0,
    fault_rate: Annotated[
        float, typer.Option(help="Simulated adapter: chance of each fault per device", min=0, max=1)
    ] = 0.0,
    api_url: Annotated[
        str, typer.Option(envvar="BACKHAUL_API_URL", help="The Backhaul server")
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(envvar="BACKHAUL_API_TOKEN", help="The station's API token")
    ] = None,
    device_cloud_token: Annotated[
        str | None,
        typer.Option(
            envvar="BACKHAUL_DEVICE_CLOUD_TOKEN",
            help=(
                "Bearer token for the brands' device clouds (account deactivation); a brand's "
                "own token, from `BACKHAUL_DEVICE_CLOUD_TOKEN_<BRAND>`, takes precedence"
            ),
        ),
    ] = None,
    device_cloud_attempts: Annotated[
        int,
        typer.Option(
            help="Calls to a device cloud before a deactivation counts as failed", min=1, max=20
        ),
    ] = 4,
) -> None:
    """Take the inspected units waiting at SITE through sanitize, flash and test, by the API."""
    if not token:
        err.print("[bold red]error:[/] set BACKHAUL_API_TOKEN (or --token) to a station API key")
        raise typer.Exit(2)
    options = (
        {"seed": seed, "rates": FaultRates.uniform(fault_rate)} if adapter == "simulated" else {}
    )
    try:
        device_adapter = load_adapter(adapter, **options)
    except (ValueError, ImportError, AttributeError) as error:
        err.print(f"[bold red]error:[/] {error}")
        raise typer.Exit(2) from None
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as client:
        policy = RetryPolicy(max_attempts=device_cloud_attempts)
        agent = StationAgent(
            client,
            device_adapter,
            site,
            verifier=verifier,
            rig=rig,
            image_cache=image_cache,
            device_cloud=lambda brand, url: HttpDeviceCloud(
                url, cloud_token_for(brand, device_cloud_token), policy=policy
            ),
        )
        try:
            serials = [serial] if serial else agent.waiting(batch)
        except Exception as error:  # the message is what the operator needs
            err.print(f"[bold red]error:[/] cannot list the units waiting at {site}: {error}")
            raise typer.Exit(2) from None
        try:
            rig_code = agent.test_rig()
        except (NoRig, ApiError, httpx.HTTPError) as error:
            err.print(f"[bold red]error:[/] {error}")
            raise typer.Exit(2) from None
        err.print(f"testing on rig {rig_code}")
        reports: list[UnitReport] = []
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as bar:
            task = bar.add_task(f"station {site.upper()}", total=len(serials))
            try:
                for report in agent.run(serials, progress=lambda _r: bar.advance(task)):
                    reports.append(report)
            finally:
                agent.close()
    out.print(summary(reports))
    if any(report.error for report in reports):
        raise typer.Exit(1)
