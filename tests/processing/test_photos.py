"""Unit photos: uploaded at the unit's site, checked (decoded, not just sniffed) and kept
content-addressed; a refused upload stores nothing; listed and fetched by who may see the unit."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path
from typing import Any

import pytest

from backhaul.settings import get_settings
from tests.conftest import photo_bytes
from tests.processing.conftest import World, received

JPEG = photo_bytes("JPEG", "red")
PNG = photo_bytes("PNG", "blue")
# Starts like a JPEG (the magic bytes a sniffing check looks at), then garbage.
FAKE_JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"not really an image" * 50


def _post(world: World, serial: str, *files: tuple[str, bytes], role: str = "tech_a") -> Any:
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    return world.call(role, "POST", f"/api/v1/units/{serial}/photos", files=parts)


def _stored() -> list[Path]:
    folder = get_settings().uploads_dir / "photos"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _photos(world: World, serial: str, role: str = "tech_a") -> Any:
    return world.call(role, "GET", f"/api/v1/units/{serial}/photos")


def test_photos_are_kept_under_their_sha256_and_listed(world: World) -> None:
    received(world, "SPK000001")
    response = _post(world, "SPK000001", ("front.jpg", JPEG), ("back.png", PNG))
    assert response.status_code == 201, response.text
    listed = _photos(world, "SPK000001").json()
    assert [(p["sha256"], p["content_type"], p["size"]) for p in listed] == [
        (hashlib.sha256(JPEG).hexdigest(), "image/jpeg", len(JPEG)),
        (hashlib.sha256(PNG).hexdigest(), "image/png", len(PNG)),
    ]
    assert all(p["uploaded_by"] and p["uploaded_at"] for p in listed)
    image = world.call("tech_a", "GET", listed[1]["url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png" and image.content == PNG
    assert len(_stored()) == 2
    trail = world.call(
        "admin", "GET", "/api/v1/audit", params={"object_type": "unit", "object_id": "SPK000001"}
    ).json()
    assert [r["action"] for r in trail].count("unit.photo_added") == 2


@pytest.mark.parametrize(
    ("data", "status", "says"),
    [
        (FAKE_JPEG, 415, "not a readable JPEG or PNG image"),
        (b"GIF89a" + b"\x00" * 40, 415, "not a readable JPEG or PNG image"),
        (JPEG[: len(JPEG) // 2], 415, "not a readable JPEG or PNG image"),
        (b"", 422, "empty"),
    ],
)
def test_a_file_that_is_not_a_whole_photo_is_refused_and_nothing_is_stored(
    world: World, data: bytes, status: int, says: str
) -> None:
    received(world, "SPK000001")
    response = _post(world, "SPK000001", ("ok.jpg", JPEG), ("bad.jpg", data))
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "files.1"
    assert says in problem["detail"] and "'bad.jpg'" in problem["detail"]
    assert _photos(world, "SPK000001").json() == []
    assert _stored() == []


def test_a_photo_over_the_size_limit_is_refused_with_413(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    received(world, "SPK000001")
    big = photo_bytes("PNG", size=200)
    monkeypatch.setenv("BACKHAUL_MAX_PHOTO_BYTES", str(len(big) - 1))
    get_settings.cache_clear()
    response = _post(world, "SPK000001", ("big.png", big))
    assert response.status_code == 413
    problem = response.json()
    assert problem["errors"][0]["field"] == "files.0"
    assert problem["max_bytes"] == len(big) - 1
    assert _photos(world, "SPK000001").json() == [] and _stored() == []


def test_a_body_larger_than_any_upload_is_cut_off_before_the_route(world: World) -> None:
    received(world, "SPK000001")
    limit = 10 * get_settings().max_photo_bytes + 64 * 1024
    response = world.call(
        "tech_a",
        "POST",
        "/api/v1/units/SPK000001/photos",
        content=b"x" * 16,
        headers={"Content-Length": str(limit + 1), "Content-Type": "multipart/form-data; b=x"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


def test_too_many_or_no_files_are_refused(world: World) -> None:
    received(world, "SPK000001")
    many = [(f"{n}.png", photo_bytes("PNG", colour=f"#{n:06x}")) for n in range(11)]
    assert _post(world, "SPK000001", *many).status_code == 422
    none = world.call("tech_a", "POST", "/api/v1/units/SPK000001/photos", data={"x": "1"})
    assert none.status_code == 422
    assert none.json()["errors"][0]["field"] == "body.files"


def test_a_technician_sees_and_photographs_only_units_at_their_site(world: World) -> None:
    received(world, "SPK000001")  # at HUB-A
    refused = _post(world, "SPK000001", ("front.jpg", JPEG), role="tech_b")
    assert refused.status_code == 404
    assert _stored() == []
    assert _photos(world, "SPK000001", role="tech_b").status_code == 404
    assert _post(world, "SPK000001", ("front.jpg", JPEG)).status_code == 201
    sha = hashlib.sha256(JPEG).hexdigest()
    image = world.call("tech_b", "GET", f"/api/v1/units/SPK000001/photos/{sha}")
    assert image.status_code == 404
    assert _post(world, "SPK000001", ("front.jpg", JPEG), role="analyst").status_code == 403
    assert _photos(world, "SPK000001", role="analyst").status_code == 200


def test_a_photo_the_store_cannot_write_is_refused_with_507_and_no_row_is_left(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is written before the row: a full disk refuses the upload instead of leaving a
    photo record whose file is missing."""
    received(world, "SPK000001")

    def full_disk(*_args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("backhaul.kit.uploads.os.replace", full_disk)
    response = _post(world, "SPK000001", ("front.jpg", JPEG))
    assert response.status_code == 507, response.text
    assert "No space left on device" in response.json()["detail"]
    assert _photos(world, "SPK000001").json() == []
    assert _stored() == []  # and no partial file either
    monkeypatch.undo()
    again = _post(world, "SPK000001", ("front.jpg", JPEG))
    assert again.status_code == 201, again.text
    assert [p["sha256"] for p in _photos(world, "SPK000001").json()] == [
        hashlib.sha256(JPEG).hexdigest()
    ]
