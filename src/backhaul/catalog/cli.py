"""Catalog commands with files and calendars: `backhaul firmware upload|download` (images in the
content-addressed store) and `backhaul rigs add|calibrate|list|set-active` (test rigs)."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from backhaul.kit.cli import err, fail, out, parse, progress_bar, transaction
from backhaul.kit.errors import DomainError

rigs_app = typer.Typer(
    help="Test rigs at sites and their calibrations (tests need a calibrated rig).",
    no_args_is_help=True,
)


# --- firmware images ---------------------------------------------------------------------


def firmware_upload(
    sku: Annotated[str, typer.Argument(help="Product SKU")],
    version: Annotated[str, typer.Argument(help="Release version, e.g. 2.4.1")],
    file: Annotated[Path, typer.Argument(help="The image file")],
    status: Annotated[
        str | None,
        typer.Option(help="For a new version: current, supported (default), deprecated, blocked"),
    ] = None,
) -> None:
    """Store a release's firmware image.

    Its sha256 and size must match the registered release; a new version is registered from
    the image. Uploading the same image again changes nothing."""
    from backhaul.catalog import firmware_images
    from backhaul.catalog.models import ReleaseStatus
    from backhaul.catalog.service import store_firmware_image
    from backhaul.settings import get_settings

    if not file.is_file():
        fail(f"{file}: no such file")
    release_status = None
    if status is not None:
        try:
            release_status = ReleaseStatus(status)
        except ValueError:
            fail(f"status: '{status}' is not one of {', '.join(ReleaseStatus)}")
    size = file.stat().st_size
    limit = get_settings().firmware_max_bytes
    if size > limit:
        fail(f"{file} is {size:,} bytes; images may be at most {limit:,} (FIRMWARE_MAX_BYTES)")
    with progress_bar(size) as bar, file.open("rb") as handle:
        task = bar.add_task(f"storing {file.name}", total=size)
        try:
            staged = firmware_images.stage(
                firmware_images.read_file(handle, lambda n: bar.advance(task, n))
            )
        except DomainError as error:
            fail(error.detail)
    try:
        with transaction() as (session, actor):
            upload = store_firmware_image(session, actor, sku, version, staged, release_status)
            release = upload.release.snapshot()
    finally:
        staged.discard()
    what = "registered and stored" if upload.created else "stored"
    if not upload.newly_stored:
        what = "already stored; nothing changed"
    out.print(
        f"{release['sku']} firmware {release['version']} ({release['status']}): {what}\n"
        f"sha256 {release['sha256']}, {release['size']:,} bytes"
    )


def firmware_download(
    sku: Annotated[str, typer.Argument(help="Product SKU")],
    version: Annotated[str, typer.Argument(help="Release version")],
    to: Annotated[Path, typer.Option("--out", help="Where to write the image")],
) -> None:
    """Copy a release's image out of the store, checking its sha256 on the way."""
    from backhaul.catalog.firmware_images import CHUNK
    from backhaul.catalog.service import firmware_image

    with transaction(write=False) as (session, actor):
        release, path = firmware_image(session, actor, sku, version)
        sha256, size = release.sha256, release.size
    partial = to.with_name(f".{to.name}.{uuid.uuid4().hex}.part")
    digest = hashlib.sha256()
    try:
        with (
            progress_bar(size) as bar,
            path.open("rb") as source,
            partial.open("xb") as target,
        ):
            task = bar.add_task(f"writing {to.name}", total=size)
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                target.write(chunk)
                bar.advance(task, len(chunk))
        if digest.hexdigest() != sha256:
            fail(
                f"the stored image of {sku} {version} is damaged (its sha256 differs); re-upload it"
            )
        os.replace(partial, to)
    except OSError as error:
        fail(f"{to}: {error.strerror or error}")
    finally:
        partial.unlink(missing_ok=True)
    out.print(f"{to}: {size:,} bytes, sha256 {sha256}")


# --- test rigs ---------------------------------------------------------------------------


def _when(value: date | None) -> str:
    return value.isoformat() if value is not None else "—"


@rigs_app.command("add")
def rigs_add(
    site: Annotated[str, typer.Argument(help="Site code, e.g. HUB-US")],
    code: Annotated[str, typer.Argument(help="Rig code, unique at the site, e.g. RIG-1")],
    name: Annotated[str, typer.Option(help="What people call it")],
    kind: Annotated[str, typer.Option(help="What it is, e.g. 'audio bench'")],
) -> None:
    """Add a test rig to a site (record a calibration before testing on it)."""
    from backhaul.catalog.schemas import TestRigIn
    from backhaul.catalog.service import create_rig

    data = parse(TestRigIn, {"code": code, "name": name, "kind": kind})
    with transaction() as (session, actor):
        rig = create_rig(session, actor, site, data)
        label = f"{rig.site.code}/{rig.code}"
    out.print(f"rig {label} added; record its calibration with `backhaul rigs calibrate`")


@rigs_app.command("calibrate")
def rigs_calibrate(
    site: Annotated[str, typer.Argument(help="Site code")],
    code: Annotated[str, typer.Argument(help="Rig code")],
    calibrated_on: Annotated[str, typer.Option(help="Calibration date, YYYY-MM-DD")],
    due_on: Annotated[str, typer.Option(help="When the next calibration is due, YYYY-MM-DD")],
    certificate: Annotated[str, typer.Option(help="The calibration certificate's reference")],
) -> None:
    """Record a calibration of a rig from its certificate."""
    from backhaul.catalog.schemas import CalibrationIn
    from backhaul.catalog.service import record_calibration

    data = parse(
        CalibrationIn,
        {"calibrated_on": calibrated_on, "due_on": due_on, "certificate_ref": certificate},
    )
    with transaction() as (session, actor):
        record_calibration(session, actor, site, code, data)
    out.print(
        f"{site.upper()}/{code.upper()} calibrated on {data.calibrated_on.isoformat()} "
        f"(certificate {data.certificate_ref}), due on {data.due_on.isoformat()}"
    )


@rigs_app.command("set-active")
def rigs_set_active(
    site: Annotated[str, typer.Argument(help="Site code")],
    code: Annotated[str, typer.Argument(help="Rig code")],
    active: Annotated[bool, typer.Option("--active/--inactive", help="In service or not")],
) -> None:
    """Take a rig out of service (no test is recorded on it) or back into service."""
    from backhaul.catalog.schemas import TestRigPatch
    from backhaul.catalog.service import update_rig

    with transaction() as (session, actor):
        update_rig(session, actor, site, code, TestRigPatch(active=active))
    out.print(f"{site.upper()}/{code.upper()} is {'in' if active else 'out of'} service")


@rigs_app.command("list")
def rigs_list(site: Annotated[str, typer.Argument(help="Site code")]) -> None:
    """A site's rigs: whether each may be tested on today, and its current calibration."""
    from backhaul.catalog.service import list_rigs, rig_verdict
    from backhaul.db import utcnow

    table = Table("rig", "name", "kind", "status", "calibrated on", "due on", "certificate")
    refusals: list[str] = []
    with transaction(write=False) as (session, actor):
        now = utcnow()
        for rig in list_rigs(session, actor, site):
            verdict, latest = rig_verdict(session, rig, now)
            table.add_row(
                rig.code,
                rig.name,
                rig.kind,
                verdict.status.value,
                _when(latest.calibrated_on if latest else None),
                _when(latest.due_on if latest else None),
                latest.certificate_ref if latest else "—",
            )
            if verdict.refusal:
                refusals.append(verdict.refusal)
    out.print(table)
    for refusal in refusals:
        err.print(f"[yellow]{refusal}[/]")
