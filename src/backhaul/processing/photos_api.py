"""Unit photos over HTTP: upload (multipart), list, and fetch one by its SHA-256."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from backhaul.accounts.deps import CurrentActor
from backhaul.kit import uploads
from backhaul.kit.http import PROBLEM, DbSession
from backhaul.kit.schemas import Output
from backhaul.processing import photos
from backhaul.processing.photos import IncomingFile, PhotoView

router = APIRouter(prefix="/api/v1", tags=["units"])
# The upload route, for the body-size middleware (which runs before routing).
UPLOAD_PATH = re.compile(r"/api/v1/units/[^/]+/photos")


def upload_body_limit() -> int:
    """The largest upload body: the most photos at once, each of the largest size allowed."""
    return uploads.body_limit(photos.MAX_PHOTOS_PER_UPLOAD)


class UnitPhotoOut(Output):
    """A photo of a unit; `step_seq` is the history entry (an inspection) it is evidence for."""

    sha256: str
    content_type: str
    size: int
    uploaded_by: str
    uploaded_at: datetime
    step_seq: int | None
    url: str


def _out(serial: str, view: PhotoView) -> UnitPhotoOut:
    photo = view.photo
    return UnitPhotoOut(
        sha256=photo.sha256,
        content_type=photo.content_type,
        size=photo.size,
        uploaded_by=photo.uploaded_by,
        uploaded_at=photo.uploaded_at,
        step_seq=view.step_seq,
        url=f"/api/v1/units/{serial}/photos/{photo.sha256}",
    )


@router.post(
    "/units/{serial}/photos",
    response_model=list[UnitPhotoOut],
    status_code=status.HTTP_201_CREATED,
    responses={
        413: {"description": "A photo over BACKHAUL_MAX_PHOTO_BYTES", "content": {PROBLEM: {}}},
        415: {"description": "A file that is not a JPEG or PNG image", "content": {PROBLEM: {}}},
        507: {
            "description": "The photo store could not write the files; nothing was kept",
            "content": {PROBLEM: {}},
        },
    },
)
async def upload_photos(
    serial: str,
    files: Annotated[list[UploadFile], File(description="One or more JPEG or PNG photos")],
    session: DbSession,
    actor: CurrentActor,
) -> list[UnitPhotoOut]:
    """Upload photos of a unit at your site (they count toward the inspection checklist's
    photos until the unit is inspected). One bad file refuses the whole upload."""
    limit = uploads.max_photo_bytes()
    incoming = [
        IncomingFile(item.filename or f"file {index + 1}", await item.read(limit + 1))
        for index, item in enumerate(files[: photos.MAX_PHOTOS_PER_UPLOAD + 1])
    ]
    found, rows = await run_in_threadpool(photos.upload, session, actor, serial, incoming)
    return [_out(found, PhotoView(row, None)) for row in rows]


@router.get("/units/{serial}/photos", response_model=list[UnitPhotoOut])
def list_photos(serial: str, session: DbSession, actor: CurrentActor) -> list[UnitPhotoOut]:
    """The unit's photos, oldest first, each with the inspection it is evidence for (if any)."""
    found, views = photos.list_photos(session, actor, serial)
    return [_out(found, view) for view in views]


@router.get(
    "/units/{serial}/photos/{sha256}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "The photo"}},
)
def photo(serial: str, sha256: str, session: DbSession, actor: CurrentActor) -> FileResponse:
    """One photo of the unit, by its SHA-256."""
    row, path = photos.photo_file(session, actor, serial, sha256)
    return FileResponse(path, media_type=row.content_type, headers={"ETag": f'"{row.sha256}"'})
