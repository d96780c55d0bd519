"""The photo store, shared by the returns portal (customers' damage photos) and inspections
(unit photos): every file is size-checked and decoded to prove it is a JPEG or PNG image, then
kept on disk under its SHA-256, so the same photo sent twice is one file."""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from backhaul.kit.errors import (
    InsufficientStorage,
    TooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from backhaul.settings import get_settings

# What Pillow calls the formats we accept -> (content type, file extension).
PHOTO_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}
EXTENSIONS = {content_type: extension for content_type, extension in PHOTO_FORMATS.values()}
# Room for a multipart body's boundaries, part headers and small form fields beside its files.
FORM_OVERHEAD = 64 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PhotoTooLarge(TooLarge):
    """A photo over `BACKHAUL_MAX_PHOTO_BYTES`."""

    title = "Photo too large"


@dataclass(frozen=True)
class CheckedPhoto:
    """A photo that passed the checks, with what the server found it to be."""

    sha256: str
    content_type: str
    size: int
    data: bytes = field(repr=False)

    def describe(self) -> dict[str, str | int]:
        """How a case records the photo: hash, type and size."""
        return {"sha256": self.sha256, "type": self.content_type, "size": self.size}


def max_photo_bytes() -> int:
    """The largest photo accepted (BACKHAUL_MAX_PHOTO_BYTES)."""
    return get_settings().max_photo_bytes


def body_limit(files: int) -> int:
    """The largest multipart body that carries `files` photos of the largest size allowed."""
    return files * max_photo_bytes() + FORM_OVERHEAD


def check_photo(data: bytes, field: str, name: str = "the photo") -> CheckedPhoto:
    """Accept a JPEG or PNG image no larger than the limit: it is decoded in full, so a file
    that only starts like an image is refused. Errors name `field` and say what to send."""
    limit = max_photo_bytes()
    if not data:
        raise ValidationFailed(f"{name} is empty: choose a photo file", field=field)
    if len(data) > limit:
        raise PhotoTooLarge(
            f"{name} is larger than the {limit:,} bytes allowed per photo: send a smaller one "
            "(lower the camera's resolution)",
            field=field,
            max_bytes=limit,
        )
    try:
        with Image.open(io.BytesIO(data), formats=list(PHOTO_FORMATS)) as image:
            found = image.format or ""
            image.verify()  # checksums and structure
        with Image.open(io.BytesIO(data), formats=list(PHOTO_FORMATS)) as image:
            image.load()  # every pixel: a truncated or corrupt image fails here
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UnsupportedMediaType(
            f"{name} is not a readable JPEG or PNG image: send a photo in one of those formats",
            field=field,
        ) from None
    content_type, _extension = PHOTO_FORMATS[found]
    return CheckedPhoto(hashlib.sha256(data).hexdigest(), content_type, len(data), data)


def photo_path(sha256: str, content_type: str) -> Path:
    """Where the photo with this SHA-256 is (or would be) stored."""
    if not _SHA256.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    extension = EXTENSIONS.get(content_type, "jpg")
    return get_settings().uploads_dir / "photos" / f"{sha256}.{extension}"


def keep_photo(photo: CheckedPhoto) -> Path:
    """Write a checked photo to its content-addressed place (atomic; same bytes twice: one
    file)."""
    target = photo_path(photo.sha256, photo.content_type)
    if target.is_file():
        return target
    partial = target.with_name(f".{uuid.uuid4().hex}.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(photo.data)
        os.replace(partial, target)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise InsufficientStorage(
            f"the photo store ({target.parent}) could not keep a photo: "
            f"{error.strerror or error}; nothing was kept: free space there, then send it again"
        ) from error
    return target
