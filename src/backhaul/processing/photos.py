"""Unit photos: uploaded at the unit's site into the shared photo store, listed and fetched by
whoever may see the unit. Photos uploaded since the unit's latest receipt and not yet part of an
inspection count toward the inspection checklist's requirement, and join that inspection's step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from backhaul.db import utcnow
from backhaul.kit import uploads
from backhaul.kit.auth import Actor
from backhaul.kit.changes import record_change
from backhaul.kit.errors import NotFound, ValidationFailed
from backhaul.kit.prepared import Prepared
from backhaul.kit.visibility import visible
from backhaul.processing import store
from backhaul.processing.models import UnitPhoto, UnitStep
from backhaul.processing.store import UnitState
from backhaul.units.registry import normalise_serial

MAX_PHOTOS_PER_UPLOAD = 10
_PHOTOS = cast(Table, UnitPhoto.__table__)


@dataclass(frozen=True)
class IncomingFile:
    """One file of an upload: the name the client gave it and its bytes."""

    filename: str
    data: bytes


def _unit(session: Session, actor: Actor, serial: str) -> UnitState:
    unit = store.load_unit(session, actor, normalise_serial(serial))
    if unit is None:
        raise NotFound(f"no unit with serial '{serial}' at your sites")
    return unit


def upload(
    session: Session, actor: Actor, serial: str, files: Sequence[IncomingFile]
) -> tuple[str, list[UnitPhoto]]:
    """Keep photos of a unit at the actor's site. Every file is checked before any is kept: one
    bad file refuses the whole upload. The files are written to the store before the rows: a
    committed row always has its file, and a transaction that rolls back leaves at most a file
    nobody refers to (the store is content-addressed, so the same bytes later reuse it)."""
    actor.require("steps.process")
    unit = _unit(session, actor, serial)
    if not files:
        raise ValidationFailed("send at least one photo (multipart field 'files')", field="files")
    if len(files) > MAX_PHOTOS_PER_UPLOAD:
        raise ValidationFailed(
            f"send at most {MAX_PHOTOS_PER_UPLOAD} photos at a time ({len(files)} sent)",
            field="files",
        )
    checked = [
        uploads.check_photo(item.data, field=f"files.{index}", name=f"'{item.filename[:80]}'")
        for index, item in enumerate(files)
    ]
    for photo in checked:
        uploads.keep_photo(photo)
    now = utcnow()
    rows = [
        UnitPhoto(
            unit_id=unit.id,
            brand_id=unit.brand_id,
            site_id=unit.site_id,
            sha256=photo.sha256,
            content_type=photo.content_type,
            size=photo.size,
            uploaded_by=actor.username,
            uploaded_at=now,
        )
        for photo in checked
    ]
    session.add_all(rows)
    session.flush()
    for row in rows:
        record_change(session, actor, "unit.photo_added", "unit", unit.serial, None, row.snapshot())
    return unit.serial, rows


@dataclass(frozen=True)
class PhotoView:
    """A photo and the seq of the step (in the unit's history) it is evidence for, if any."""

    photo: UnitPhoto
    step_seq: int | None


def list_photos(session: Session, actor: Actor, serial: str) -> tuple[str, list[PhotoView]]:
    """The unit's serial and its photos, oldest first."""
    actor.require("units.read")
    unit = _unit(session, actor, serial)
    rows = session.execute(
        visible(actor, select(UnitPhoto, UnitStep.seq), UnitPhoto, by_site=False)
        .outerjoin(UnitStep, UnitStep.id == UnitPhoto.step_id)
        .where(UnitPhoto.unit_id == unit.id)
        .order_by(UnitPhoto.uploaded_at, UnitPhoto.id)
    )
    return unit.serial, [PhotoView(photo, seq) for photo, seq in rows]


def photo_file(session: Session, actor: Actor, serial: str, sha256: str) -> tuple[UnitPhoto, Path]:
    """One photo of the unit by its SHA-256, and where its file is."""
    found_serial, views = list_photos(session, actor, serial)
    row = next((v.photo for v in views if v.photo.sha256 == sha256.lower()), None)
    if row is None:
        raise NotFound(f"unit {found_serial} has no photo with sha256 {sha256[:64]}")
    path = uploads.photo_path(row.sha256, row.content_type)
    if not path.is_file():
        raise NotFound(f"the file of photo {row.sha256} is missing from the photo store")
    return row, path


_RECEIVED_AT = (
    select(func.max(UnitStep.at))
    .where(UnitStep.unit_id == bindparam("unit_id"), UnitStep.step == "receive")
    .scalar_subquery()
)
# Read at every inspection: on the driver (kit/prepared.py).
_AWAITING_INSPECTION = Prepared(
    select(UnitPhoto.id, UnitPhoto.sha256)
    .where(
        UnitPhoto.unit_id == bindparam("unit_id"),
        UnitPhoto.step_id.is_(None),
        UnitPhoto.uploaded_at >= _RECEIVED_AT,
    )
    .order_by(UnitPhoto.id)
)


@dataclass(frozen=True, slots=True)
class AwaitingPhoto:
    """A photo an inspection will take as its evidence."""

    id: int
    sha256: str


def for_current_inspection(session: Session, unit_id: int) -> list[AwaitingPhoto]:
    """Photos uploaded since the unit's latest receipt that no inspection has taken yet."""
    return [AwaitingPhoto(*row) for row in _AWAITING_INSPECTION.rows(session, {"unit_id": unit_id})]


def attach(session: Session, photo_ids: Sequence[int], step_id: int) -> None:
    """Make the photos part of the step they were evidence for."""
    if photo_ids:
        session.connection().execute(
            update(_PHOTOS).where(_PHOTOS.c.id.in_(list(photo_ids))).values(step_id=step_id)
        )
