"""The `backhaul` command: serve, migrate, load the demo, manage catalog, users, keys and audit."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.table import Table

from backhaul.catalog import cli as catalog_cli
from backhaul.devices import cli as station_cli
from backhaul.kit.auth import Role
from backhaul.kit.cli import err, fail, out, parse, progress_bar, transaction
from backhaul.planning import cli as planning_cli
from backhaul.processing import certificates_cli, overrides_cli, reverification_cli
from backhaul.returns import cli as returns_cli
from backhaul.sop import cli as sop_cli

app = typer.Typer(
    help="Backhaul: returns, repair and refurbishment of connected hardware.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (tokens for machines and stations).", no_args_is_help=True)
users_app = typer.Typer(help="People who sign in to the pages.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
brands_app = typer.Typer(help="Brands (an installation may serve several).", no_args_is_help=True)
products_app = typer.Typer(help="Products in the catalog.", no_args_is_help=True)
sites_app = typer.Typer(help="Hubs, repair partners and recyclers.", no_args_is_help=True)
units_app = typer.Typer(help="The serial registry: sold units.", no_args_is_help=True)
firmware_app = typer.Typer(help="Firmware releases per product.", no_args_is_help=True)
plans_app = typer.Typer(help="Functional test plans per product.", no_args_is_help=True)
for sub, name in (
    (units_app, "units"),
    (firmware_app, "firmware"),
    (plans_app, "test-plans"),
    (db_app, "db"),
    (keys_app, "keys"),
    (users_app, "users"),
    (audit_app, "audit"),
    (brands_app, "brands"),
    (products_app, "products"),
    (sites_app, "sites"),
):
    app.add_typer(sub, name=name)
# Planning: `costmodel`, `forecast` and `history` (backhaul/planning/cli.py).
app.add_typer(planning_cli.app)
# Returns: `backhaul returns ...` and `backhaul worker` (backhaul/returns/cli.py).
app.add_typer(returns_cli.app, name="returns")
app.command("worker")(returns_cli.worker)
# Certificates of sanitization: `backhaul certificates verify` (processing/certificates_cli.py).
app.add_typer(certificates_cli.app, name="certificates")
# Override requests: `backhaul overrides list|decide` (processing/overrides_cli.py).
app.add_typer(overrides_cli.app, name="overrides")
# The station agent: `backhaul station run` (devices/cli.py).
app.add_typer(station_cli.app, name="station")
# Firmware images and test rigs (catalog/cli.py).
firmware_app.command("upload")(catalog_cli.firmware_upload)
firmware_app.command("download")(catalog_cli.firmware_download)
app.add_typer(catalog_cli.rigs_app, name="rigs")
# Re-verification of sampled wipes: `backhaul reverify` (processing/reverification_cli.py).
app.add_typer(reverification_cli.app, name="reverify")
# The standard operating procedure: `backhaul sop --product --site` (sop/cli.py).
app.command("sop")(sop_cli.sop)


def _pairs(assignments: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(f"--set takes FIELD=VALUE, got '{item}'")
        values[name.strip()] = json.loads(value) if value.startswith("[") else value
    return values


# --- serve and db ------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema and make sure a default brand exists."""
    from backhaul.catalog.service import ensure_default_brand
    from backhaul.migrate import upgrade

    upgrade()
    with transaction() as (session, actor):
        ensure_default_brand(session, actor)
    out.print("database is up to date")


def _checkpoint_loop(stop: threading.Event, every: float) -> None:
    from backhaul.db import session_scope
    from backhaul.kit import audit

    while not stop.wait(every):
        try:
            with session_scope() as session:
                audit.checkpoint(session)
        except Exception as error:
            err.print(f"[yellow]audit checkpoint skipped:[/] {error}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    no_migrate: Annotated[bool, typer.Option("--no-migrate", help="Do not migrate first")] = False,
    checkpoint_seconds: Annotated[
        float, typer.Option(help="Sign an audit checkpoint this often (0: never)")
    ] = 60.0,
    dispatch_seconds: Annotated[
        float, typer.Option(help="Run the outbox dispatcher this often (0: leave it to a worker)")
    ] = 2.0,
) -> None:
    """Serve the API and the pages."""
    import uvicorn

    if not no_migrate:
        db_upgrade()
    stop = threading.Event()
    if checkpoint_seconds > 0:
        threading.Thread(
            target=_checkpoint_loop, args=(stop, checkpoint_seconds), daemon=True
        ).start()
    if dispatch_seconds > 0:
        from backhaul.integrations import notifications

        dispatcher = notifications.start_thread(dispatch_seconds)
    else:
        dispatcher = threading.Event()
    try:
        uvicorn.run(
            "backhaul.app:create_app",
            factory=True,
            host=host,
            port=port,
            log_level="info",
            access_log=False,
        )
    finally:
        stop.set()
        dispatcher.set()


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same world")] = 7,
    units: Annotated[int, typer.Option(help="Sold units to create", min=0)] = 40_000,
) -> None:
    """Load the demo world (idempotent): a brand, products, hubs, users and sold units."""
    from backhaul.demo.world import DEMO_PASSWORD, load_demo

    with transaction() as (session, actor), progress_bar(units) as bar:
        task = bar.add_task("sold units", total=units)
        report = load_demo(
            session, actor, seed=seed, units=units, progress=lambda n: bar.advance(task, n)
        )
    if report.already_loaded:
        out.print("The demo world was already loaded; nothing changed.")
    else:
        out.print(
            f"Demo world loaded: {report.products} products, {report.sites} sites, "
            f"{report.units:,} sold units."
        )
        out.print(f"Planning: {report.returns_history:,} returns of history (two years).")
    table = Table("user", "role", "password", title="Demo logins")
    for username, role in report.logins:
        table.add_row(username, role, DEMO_PASSWORD)
    out.print(table)


@app.command()
def lifecycle(
    markdown: Annotated[bool, typer.Option(help="Print the Markdown document instead")] = False,
) -> None:
    """Print the lifecycle table: every step, where it may start, and where it leads."""
    from backhaul.processing import lifecycle as table

    if markdown:
        sys.stdout.write(table.render_document())
        return
    view = Table("step", "from", "to (pass)", "to (fail)", "to (hazard)", title="Unit lifecycle")
    for row in table.TABLE:
        view.add_row(
            row.step.value,
            ", ".join(str(s) for s in row.sources),
            row.on_pass.value if row.on_pass else "by route",
            row.on_fail.value if row.on_fail else "",
            row.on_hazard.value if row.on_hazard else "",
        )
    out.print(view)


# --- keys and users ----------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="Role the key acts with")],
    site: Annotated[
        list[str] | None, typer.Option(help="Limit to this site code (repeatable)")
    ] = None,
    brand: Annotated[
        list[str] | None, typer.Option(help="Limit to this brand code (repeatable)")
    ] = None,
    name: Annotated[str, typer.Option(help="What the key is for")] = "API key",
) -> None:
    """Create an API key and print its token, alone, on standard output (it is shown once)."""
    from backhaul.accounts.schemas import ApiKeyIn
    from backhaul.accounts.service import create_api_key

    data = parse(ApiKeyIn, {"name": name, "role": role, "sites": site or [], "brands": brand or []})
    with transaction() as (session, actor):
        key, token = create_api_key(session, actor, data)
    err.print(f"key {key.prefix} created with role {role.value}; keep the token safe")
    sys.stdout.write(token + "\n")


@keys_app.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix")]) -> None:
    """Revoke an API key for good."""
    from backhaul.accounts.service import revoke_api_key

    with transaction() as (session, actor):
        revoke_api_key(session, actor, prefix)
    out.print(f"key {prefix} revoked")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Sign-in name")],
    role: Annotated[Role, typer.Option(help="Role")],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    email: Annotated[str | None, typer.Option(help="Email address")] = None,
    site: Annotated[list[str] | None, typer.Option(help="Limit to this site (repeatable)")] = None,
    brand: Annotated[
        list[str] | None, typer.Option(help="Limit to this brand (repeatable)")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(help="Password (prompted when left out; or set BACKHAUL_NEW_PASSWORD)"),
    ] = None,
) -> None:
    """Add a person who signs in to the pages."""
    from backhaul.accounts.schemas import UserIn
    from backhaul.accounts.service import create_user

    password = (
        password
        or os.environ.get("BACKHAUL_NEW_PASSWORD")
        or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    )
    data = parse(
        UserIn,
        {
            "username": username,
            "display_name": name or username,
            "email": email,
            "role": role,
            "password": password,
            "sites": site or [],
            "brands": brand or [],
        },
    )
    with transaction() as (session, actor):
        user = create_user(session, actor, data)
    out.print(f"user {user.username} created with role {user.role.value}")


@users_app.command("list")
def users_list() -> None:
    """List users and key service users."""
    from backhaul.accounts.service import list_users

    with transaction(write=False) as (session, actor):
        table = Table("username", "name", "role", "brands", "sites", "kind")
        for user in list_users(session, actor):
            snap = user.snapshot()
            table.add_row(
                user.username,
                user.display_name,
                user.role.value,
                ", ".join(snap["brands"]) or "all",  # type: ignore[arg-type]
                ", ".join(snap["sites"]) or "all",  # type: ignore[arg-type]
                "key" if user.is_service else "person",
            )
    out.print(table)


# --- audit -------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every chain and signed checkpoint; exit 1 naming the first bad record and why."""
    from backhaul.kit import audit

    with transaction(write=False) as (session, _actor):
        total = audit.count_records(session)
        with progress_bar(total) as bar:
            task = bar.add_task("verifying audit records", total=total)
            report = audit.verify(session, progress=lambda n: bar.advance(task, n))
    if report.finding is not None:
        err.print(f"[bold red]audit trail NOT intact[/]: {report.finding}")
        raise typer.Exit(1)
    out.print(
        f"audit trail intact: {report.records:,} records in {report.streams:,} chains, "
        f"{report.checkpoints} signed checkpoints"
        + (
            f", {report.unsigned_tail:,} records newer than the last checkpoint"
            if report.unsigned_tail
            else ""
        )
    )


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint over every audit record written since the last one."""
    from backhaul.kit import audit

    with transaction() as (session, _actor):
        cp = audit.checkpoint(session)
    if cp is None:
        out.print("nothing new to sign")
    else:
        out.print(
            f"checkpoint {cp.seq} signed: {cp.record_count:,} records up to #{cp.last_record_id}"
        )


# --- catalog -----------------------------------------------------------------------------


def _print_rows(rows: list[BaseModel], columns: list[str]) -> None:
    table = Table(*columns)
    for row in rows:
        data = row.model_dump(mode="json")
        table.add_row(
            *(", ".join(data[c]) if isinstance(data[c], list) else str(data[c]) for c in columns)
        )
    out.print(table)


@brands_app.command("create")
def brands_create(
    code: Annotated[str, typer.Option(help="Short code, e.g. lumen")],
    name: Annotated[str, typer.Option(help="Display name")],
    device_cloud_url: Annotated[
        str | None,
        typer.Option(help="Base URL of the brand's device cloud (account deactivation)"),
    ] = None,
) -> None:
    """Add a brand."""
    from backhaul.catalog.schemas import BrandIn
    from backhaul.catalog.service import create_brand

    data = parse(BrandIn, {"code": code, "name": name, "device_cloud_url": device_cloud_url})
    with transaction() as (session, actor):
        create_brand(session, actor, data)
    out.print(f"brand {data.code} created")


@brands_app.command("update")
def brands_update(
    code: Annotated[str, typer.Argument(help="The brand's code")],
    name: Annotated[str | None, typer.Option(help="New display name")] = None,
    device_cloud_url: Annotated[
        str | None,
        typer.Option(help="Base URL of the brand's device cloud (account deactivation)"),
    ] = None,
    no_device_cloud: Annotated[
        bool,
        typer.Option(
            "--no-device-cloud", help="Remove the device cloud: stations use their adapter"
        ),
    ] = False,
) -> None:
    """Change a brand's name or device cloud, e.g. `--device-cloud-url https://cloud.example/v1`."""
    from backhaul.catalog.schemas import BrandPatch
    from backhaul.catalog.service import update_brand

    if no_device_cloud and device_cloud_url is not None:
        fail("give either --device-cloud-url or --no-device-cloud, not both")
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if device_cloud_url is not None or no_device_cloud:
        changes["device_cloud_url"] = device_cloud_url
    if not changes:
        fail("nothing to change: give --name, --device-cloud-url or --no-device-cloud")
    patch = parse(BrandPatch, changes)
    with transaction() as (session, actor):
        brand = update_brand(session, actor, code, patch)
        version, cloud = brand.version, brand.device_cloud_url
    out.print(f"brand {code.lower()} updated (version {version}); device cloud: {cloud or 'none'}")


@brands_app.command("list")
def brands_list() -> None:
    """List brands and the device cloud each one's accounts are deactivated through."""
    from backhaul.catalog.service import list_brands

    table = Table("code", "name", "device cloud")
    with transaction(write=False) as (session, actor):
        for brand in list_brands(session, actor):
            table.add_row(brand.code, brand.name, brand.device_cloud_url or "— (station adapter)")
    out.print(table)


def _set_option(help_text: str) -> Any:
    return typer.Option("--set", help=help_text)


@products_app.command("create")
def products_create(
    sku: Annotated[str, typer.Option(help="Stock-keeping unit, e.g. SPK-100")],
    name: Annotated[str, typer.Option(help="Product name")],
    family: Annotated[str, typer.Option(help="Product family, e.g. audio")],
    category: Annotated[str, typer.Option(help="Category, e.g. smart speaker")],
    serial_pattern: Annotated[str, typer.Option(help="Regular expression serials must match")],
    weight_g: Annotated[int, typer.Option(help="Weight in grams")],
    msrp: Annotated[str, typer.Option(help="List price, e.g. 199.00")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code of the list price")],
    hs_code: Annotated[str, typer.Option(help="Harmonized System code for customs")],
    brand: Annotated[str | None, typer.Option(help="Brand code (optional with one brand)")] = None,
    regulated: Annotated[str, typer.Option(help="none, health, biometric or children")] = "none",
    battery: Annotated[str, typer.Option(help="none, li_ion, li_metal or other")] = "li_ion",
    warranty_months: Annotated[int, typer.Option(help="Manufacturer warranty")] = 12,
) -> None:
    """Add a product."""
    from backhaul.catalog.schemas import ProductIn
    from backhaul.catalog.service import create_product

    data = parse(
        ProductIn,
        {
            "brand": brand,
            "sku": sku,
            "name": name,
            "family": family,
            "category": category,
            "serial_pattern": serial_pattern,
            "regulated": regulated,
            "battery": battery,
            "weight_g": weight_g,
            "msrp": msrp,
            "currency": currency,
            "hs_code": hs_code,
            "warranty_months": warranty_months,
        },
    )
    with transaction() as (session, actor):
        create_product(session, actor, data)
    out.print(f"product {data.sku} created")


@products_app.command("update")
def products_update(
    sku: Annotated[str, typer.Argument(help="The product's SKU")],
    assignments: Annotated[list[str], _set_option("FIELD=VALUE to change (repeatable)")],
) -> None:
    """Change fields of a product, e.g. `--set msrp=179.00 --set warranty_months=24`."""
    from backhaul.catalog.schemas import ProductPatch
    from backhaul.catalog.service import update_product

    patch = parse(ProductPatch, _pairs(assignments))
    with transaction() as (session, actor):
        product = update_product(session, actor, sku, patch)
        version = product.version
    out.print(f"product {sku.upper()} updated (version {version})")


@products_app.command("list")
def products_list(
    brand: Annotated[str | None, typer.Option(help="Only this brand")] = None,
) -> None:
    """List products."""
    from backhaul.catalog.schemas import ProductOut
    from backhaul.catalog.service import list_products

    with transaction(write=False) as (session, actor):
        rows: list[BaseModel] = [
            ProductOut.model_validate(p) for p in list_products(session, actor, brand=brand)
        ]
    _print_rows(rows, ["sku", "name", "brand", "family", "regulated", "msrp", "currency"])


@products_app.command("checklist")
def products_checklist(
    sku: Annotated[str, typer.Argument(help="The product's SKU")],
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="JSON or TOML with the new checklist: accessories and cosmetic_points (lists "
            "of names), packaging_check and battery_check (true/false), photos_required "
            "(0-10), cosmetic_criteria (grade A-D -> wording). Publishes the next version.",
        ),
    ] = None,
) -> None:
    """Show a product's inspection checklist, or publish a new version of it with --file.

    Example file: {"accessories": ["power adapter", "quick start guide"],
    "cosmetic_points": ["display", "hinge"], "photos_required": 2,
    "cosmetic_criteria": {"A": "no marks under the booth light"}}
    """
    from backhaul.catalog.schemas import InspectionChecklistIn
    from backhaul.catalog.service import get_inspection_checklist, set_inspection_checklist

    if file is not None:
        data = parse(InspectionChecklistIn, _read_config(file))
        with transaction() as (session, actor):
            set_inspection_checklist(session, actor, sku, data)
    with transaction(write=False) as (session, actor):
        product, checklist, _row = get_inspection_checklist(session, actor, sku)
        label = product.sku
    version = f"version {checklist.version}" if checklist.version else "default (none set)"
    if file is not None:
        out.print(f"{label} inspection checklist {version} published")
    table = Table("item", "value", title=f"{label} inspection checklist, {version}")
    table.add_row("accessories", ", ".join(checklist.accessories) or "—")
    table.add_row("cosmetic points", ", ".join(checklist.cosmetic_points) or "—")
    table.add_row("packaging check", "yes" if checklist.packaging_check else "no")
    table.add_row("battery check", "yes" if checklist.battery_check else "no")
    table.add_row("photos required", str(checklist.photos_required))
    for grade, meaning in checklist.criteria().items():
        table.add_row(f"cosmetic {grade.value}", meaning)
    out.print(table)


def _read_config(file: Path) -> Any:
    """A JSON or TOML file's content (by its suffix); a syntax error names the line."""
    import tomllib

    if not file.is_file():
        fail(f"{file}: no such file")
    text = file.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text) if file.suffix.lower() == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as error:
        fail(f"{file}: {error}")
    except json.JSONDecodeError as error:
        fail(f"{file}: line {error.lineno}, column {error.colno}: {error.msg}")


@sites_app.command("create")
def sites_create(
    code: Annotated[str, typer.Option(help="Short code, e.g. HUB-US")],
    name: Annotated[str, typer.Option(help="Site name")],
    region: Annotated[str, typer.Option(help="Region code, e.g. US, EU, UK, JP")],
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. America/Chicago")],
    labour_rate: Annotated[str, typer.Option(help="Labour cost per hour")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code of the labour rate")],
    kind: Annotated[str, typer.Option(help="hub, repair_partner or recycler")] = "hub",
    capability: Annotated[list[str] | None, typer.Option(help="A capability (repeatable)")] = None,
) -> None:
    """Add a site."""
    from backhaul.catalog.schemas import SiteIn
    from backhaul.catalog.service import create_site

    data = parse(
        SiteIn,
        {
            "code": code,
            "name": name,
            "region": region,
            "timezone": timezone,
            "kind": kind,
            "capabilities": capability or [],
            "labour_rate": labour_rate,
            "currency": currency,
        },
    )
    with transaction() as (session, actor):
        create_site(session, actor, data)
    out.print(f"site {data.code} created")


@sites_app.command("update")
def sites_update(
    code: Annotated[str, typer.Argument(help="The site's code")],
    assignments: Annotated[
        list[str] | None, _set_option("FIELD=VALUE to change (repeatable)")
    ] = None,
    wait_target: Annotated[
        list[str] | None,
        typer.Option(
            help="Wait target in hours: HOURS for the default, STEP=HOURS for one step, "
            "STEP=default to drop a step's own target (repeatable)"
        ),
    ] = None,
) -> None:
    """Change fields of a site, or its wait targets.

    Fields: e.g. `--set labour_rate=41.50 --set capabilities='["wipe"]'`; wait targets: e.g.
    `--wait-target 24 --wait-target inspect=4`."""
    from backhaul.catalog.schemas import SitePatch
    from backhaul.catalog.service import get_site, update_site
    from backhaul.processing.wait_targets import apply_assignments

    if not assignments and not wait_target:
        fail("nothing to change: give --set FIELD=VALUE or --wait-target")
    fields = _pairs(assignments or [])
    with transaction() as (session, actor):
        if wait_target:
            site = get_site(session, actor, code)
            try:
                default, steps = apply_assignments(
                    site.wait_target_hours, site.step_wait_targets or {}, wait_target
                )
            except ValueError as error:
                fail(f"--wait-target: {error}")
            fields |= {"wait_target_hours": default, "step_wait_targets": steps}
        site = update_site(session, actor, code, parse(SitePatch, fields))
        version = site.version
        targets = _wait_targets_text(site.wait_target_hours, site.step_wait_targets)
    out.print(f"site {code.upper()} updated (version {version}); wait targets: {targets}")


def _wait_targets_text(default: float, steps: dict[str, float] | None) -> str:
    parts = [f"{default:g} h"] + [
        f"{step} {hours:g} h" for step, hours in sorted((steps or {}).items())
    ]
    return ", ".join(parts)


@sites_app.command("list")
def sites_list() -> None:
    """List sites."""
    from backhaul.catalog.schemas import SiteOut
    from backhaul.catalog.service import list_sites

    with transaction(write=False) as (session, actor):
        sites = list_sites(session, actor)
        rows: list[BaseModel] = [SiteOut.model_validate(s) for s in sites]
        targets = [_wait_targets_text(s.wait_target_hours, s.step_wait_targets) for s in sites]
    columns = ["code", "name", "kind", "region", "timezone", "capabilities", "labour_rate"]
    table = Table(*columns, "currency", "wait targets")
    for row, target in zip(rows, targets, strict=True):
        data = row.model_dump(mode="json")
        cells = [", ".join(data[c]) if c == "capabilities" else str(data[c]) for c in columns]
        table.add_row(*cells, data["currency"], target)
    out.print(table)


# --- units, firmware, test plans ---------------------------------------------------------


def _read_rows(path: Path) -> tuple[Iterator[Any], int]:
    """Rows from CSV (header row), JSON (a list) or JSON Lines, and how many there are."""
    import csv

    if not path.is_file():
        fail(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig") as handle:
            total = max(sum(1 for _ in handle) - 1, 0)

        def csv_rows() -> Iterator[Any]:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                yield from csv.DictReader(handle)

        return csv_rows(), total
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            total = sum(1 for line in handle if line.strip())

        def jsonl_rows() -> Iterator[Any]:
            with path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        try:
                            yield json.loads(line)
                        except json.JSONDecodeError as error:
                            yield {"_error": f"line {number}: not JSON ({error.msg})"}

        return jsonl_rows(), total
    if suffix == ".json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            fail(f"{path}: line {error.lineno}, column {error.colno}: {error.msg}")
        if not isinstance(rows, list):
            fail(f"{path}: expected a JSON list of rows")
        return iter(rows), len(rows)
    fail(f"{path}: use a .csv, .json or .jsonl file")


@units_app.command("import")
def units_import(
    file: Annotated[Path, typer.Argument(help="CSV (with header), JSON list or JSON Lines")],
) -> None:
    """Register sold units from a CSV or JSON export of the shop's orders.

    Columns: serial, sku, order_ref, customer_email, sold_at, region, channel, price, currency.
    Bad rows are refused with their reason (and kept in the exception queue); importing the
    same file twice adds nothing."""
    from backhaul.units.service import import_units

    rows, total = _read_rows(file)
    with transaction() as (session, actor), progress_bar(total) as bar:
        task = bar.add_task(f"importing {file.name}", total=total)
        summary = import_units(
            session, actor, rows, source=str(file), progress=lambda n: bar.advance(task, n)
        )
    out.print(
        f"[green]{summary.added:,} added[/], {summary.duplicates:,} already registered "
        f"(skipped), [red]{summary.rejected:,} rejected[/]"
    )
    if summary.rejections:
        table = Table("row", "serial", "field", "reason", title="Rejected rows (first 20)")
        for rejection in summary.rejections[:20]:
            table.add_row(
                str(rejection.row), rejection.serial or "", rejection.field, rejection.reason
            )
        out.print(table)


@firmware_app.command("add")
def firmware_add(
    sku: Annotated[str, typer.Argument(help="Product SKU")],
    version: Annotated[str, typer.Option(help="Release version, e.g. 2.4.1")],
    sha256: Annotated[str, typer.Option(help="SHA-256 of the image")],
    size: Annotated[int, typer.Option(help="Image size in bytes")],
    status: Annotated[str, typer.Option(help="current, supported, deprecated or blocked")] = (
        "supported"
    ),
) -> None:
    """Register a firmware release by its image hash (current demotes the old current)."""
    from backhaul.catalog.schemas import FirmwareIn
    from backhaul.catalog.service import add_firmware

    data = parse(FirmwareIn, {"version": version, "sha256": sha256, "size": size, "status": status})
    with transaction() as (session, actor):
        add_firmware(session, actor, sku, data)
    out.print(f"{sku.upper()} firmware {data.version} registered as {data.status.value}")


@firmware_app.command("set-status")
def firmware_set_status(
    sku: Annotated[str, typer.Argument(help="Product SKU")],
    version: Annotated[str, typer.Argument(help="Release version")],
    status: Annotated[str, typer.Argument(help="current, supported, deprecated or blocked")],
) -> None:
    """Change a release's status; exactly one release per product stays current."""
    from backhaul.catalog.schemas import FirmwarePatch
    from backhaul.catalog.service import set_firmware_status

    data = parse(FirmwarePatch, {"status": status})
    with transaction() as (session, actor):
        set_firmware_status(session, actor, sku, version, data)
    out.print(f"{sku.upper()} firmware {version} is now {data.status.value}")


@firmware_app.command("list")
def firmware_list(sku: Annotated[str, typer.Argument(help="Product SKU")]) -> None:
    """List a product's releases, newest first."""
    from backhaul.catalog.firmware_images import is_stored
    from backhaul.catalog.schemas import FirmwareOut
    from backhaul.catalog.service import list_firmware

    with transaction(write=False) as (session, actor):
        rows: list[BaseModel] = [
            FirmwareOut.model_validate(r.snapshot() | {"image_stored": is_stored(r.sha256)})
            for r in list_firmware(session, actor, sku)
        ]
    _print_rows(rows, ["sku", "version", "status", "sha256", "size", "image_stored"])


@plans_app.command("add")
def test_plans_add(
    sku: Annotated[str, typer.Argument(help="Product SKU")],
    file: Annotated[Path, typer.Argument(help="TOML or JSON: version = N and [[tests]] tables")],
) -> None:
    """Publish a new test plan version from a file; it becomes the current plan."""
    from backhaul.catalog.schemas import TestPlanIn
    from backhaul.catalog.service import add_test_plan

    data = parse(TestPlanIn, _read_config(file))
    with transaction() as (session, actor):
        add_test_plan(session, actor, sku, data)
    out.print(f"{sku.upper()} test plan version {data.version} published ({len(data.tests)} tests)")


@plans_app.command("list")
def test_plans_list(sku: Annotated[str, typer.Argument(help="Product SKU")]) -> None:
    """List a product's test plan versions with their tests."""
    from backhaul.catalog.service import list_test_plans

    with transaction(write=False) as (session, actor):
        plans = list_test_plans(session, actor, sku)
        table = Table("version", "test", "unit", "limits", "required")
        for plan in plans:
            for test in plan.tests:
                limits = (
                    f"= {test['equals']!r}"
                    if test.get("equals") is not None
                    else " … ".join(
                        "" if test.get(end) is None else str(test[end]) for end in ("min", "max")
                    )
                )
                table.add_row(
                    str(plan.version),
                    test["id"],
                    test.get("unit", ""),
                    limits,
                    "yes" if test.get("required", True) else "no",
                )
    out.print(table)


if __name__ == "__main__":
    app()
