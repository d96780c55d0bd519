"""Firmware images: uploaded into a store addressed by their sha256, downloaded by stations."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backhaul.app import create_app
from backhaul.catalog import firmware_images
from backhaul.cli import app as cli
from backhaul.settings import get_settings
from tests.conftest import TokenFactory, bearer, product_payload, site_payload

IMAGE = b"".join(hashlib.sha256(str(n).encode()).digest() for n in range(40_000))  # 1.2 MiB
SHA = hashlib.sha256(IMAGE).hexdigest()
OCTETS = {"Content-Type": "application/octet-stream"}
URL = "/api/v1/products/SPK-100/firmware/{version}/image"


@pytest.fixture
def tokens(client: TestClient, admin_token: str, make_token: TokenFactory) -> dict[str, str]:
    """A hub, a product of the default brand and one of another brand, and a token per role."""
    admin = bearer(admin_token)
    assert client.post("/api/v1/sites", json=site_payload(), headers=admin).status_code == 201
    assert client.post("/api/v1/products", json=product_payload(), headers=admin).status_code == 201
    assert (
        client.post("/api/v1/brands", json={"code": "other", "name": "Other"}, headers=admin)
    ).status_code == 201
    other = product_payload(sku="OTH-1", brand="other", serial_pattern="OTH[0-9]{6}")
    assert client.post("/api/v1/products", json=other, headers=admin).status_code == 201
    return {
        "admin": admin_token,
        "supervisor": make_token("supervisor"),
        "technician": make_token("technician", sites=["HUB-A"]),
        "analyst": make_token("analyst"),
        "other_brand_technician": make_token("technician", sites=["HUB-A"], brands=["other"]),
    }


def register(
    client: TestClient, token: str, version: str, sha: str, size: int, **extra: Any
) -> None:
    body = {"version": version, "sha256": sha, "size": size, "status": "supported"} | extra
    response = client.post("/api/v1/products/SPK-100/firmware", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text


def upload(client: TestClient, token: str, version: str, data: Any = IMAGE, **params: str) -> Any:
    return client.post(
        URL.format(version=version),
        content=data,
        params=params,
        headers=bearer(token) | OCTETS,
    )


def stored_files() -> list[Path]:
    """Every file in the image store, temporary ones included."""
    root = get_settings().firmware_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def audit(client: TestClient, token: str, object_id: str) -> list[str]:
    response = client.get(
        "/api/v1/audit",
        params={"object_type": "firmware", "object_id": object_id},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return [record["action"] for record in response.json()]


def test_an_uploaded_image_downloads_byte_for_byte_with_its_hash(
    client: TestClient, tokens: dict[str, str]
) -> None:
    register(client, tokens["admin"], "2.0.0", SHA, len(IMAGE))
    listed = client.get("/api/v1/products/SPK-100/firmware/2.0.0", headers=bearer(tokens["admin"]))
    assert listed.json()["image_stored"] is False

    response = upload(client, tokens["supervisor"], "2.0.0")
    assert response.status_code == 200, response.text
    assert (response.json()["sha256"], response.json()["image_stored"]) == (SHA, True)
    assert stored_files() == [get_settings().firmware_dir / SHA[:2] / SHA]

    download = client.get(URL.format(version="2.0.0"), headers=bearer(tokens["technician"]))
    assert download.status_code == 200
    assert download.content == IMAGE
    assert download.headers["etag"] == f'"{SHA}"'
    assert download.headers["repr-digest"].startswith("sha-256=:")
    assert download.headers["content-type"] == "application/octet-stream"
    release = client.get("/api/v1/products/SPK-100/firmware", headers=bearer(tokens["technician"]))
    assert release.json()[0]["image_stored"] is True
    assert audit(client, tokens["admin"], "SPK-100@2.0.0") == [
        "firmware.created",
        "firmware.image_stored",
    ]


def test_the_same_image_twice_changes_nothing(client: TestClient, tokens: dict[str, str]) -> None:
    register(client, tokens["admin"], "2.0.0", SHA, len(IMAGE))
    assert upload(client, tokens["admin"], "2.0.0").status_code == 200
    again = upload(client, tokens["admin"], "2.0.0")
    assert again.status_code == 200, again.text
    assert again.json()["image_stored"] is True
    assert stored_files() == [get_settings().firmware_dir / SHA[:2] / SHA]
    assert audit(client, tokens["admin"], "SPK-100@2.0.0").count("firmware.image_stored") == 1


def test_an_image_that_is_not_the_registered_one_is_refused_and_not_kept(
    client: TestClient, tokens: dict[str, str]
) -> None:
    register(client, tokens["admin"], "2.0.0", "c" * 64, len(IMAGE))
    response = upload(client, tokens["admin"], "2.0.0")
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == "sha256"
    assert SHA in problem["detail"] and "c" * 64 in problem["detail"]
    assert stored_files() == []  # no temporary file left either
    assert audit(client, tokens["admin"], "SPK-100@2.0.0") == ["firmware.created"]


def test_a_registered_size_that_differs_is_refused(
    client: TestClient, tokens: dict[str, str]
) -> None:
    register(client, tokens["admin"], "2.0.0", SHA, len(IMAGE) + 1)
    response = upload(client, tokens["admin"], "2.0.0")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "size"
    assert stored_files() == []


def test_uploading_an_unknown_version_registers_it(
    client: TestClient, tokens: dict[str, str]
) -> None:
    register(client, tokens["admin"], "1.0.0", "a" * 64, 10, status="current")
    response = upload(client, tokens["admin"], "2.0.0", status="current")
    assert response.status_code == 201, response.text
    assert response.json() == {
        "sku": "SPK-100",
        "version": "2.0.0",
        "sha256": SHA,
        "size": len(IMAGE),
        "status": "current",
        "image_stored": True,
    }
    releases = client.get("/api/v1/products/SPK-100/firmware", headers=bearer(tokens["admin"]))
    assert {r["version"]: r["status"] for r in releases.json()} == {
        "2.0.0": "current",
        "1.0.0": "supported",  # still exactly one current
    }
    plain = upload(client, tokens["admin"], "2.1.0", IMAGE + b"more")
    assert plain.status_code == 201
    assert plain.json()["status"] == "supported"


def test_status_of_an_existing_release_is_not_changed_by_an_upload(
    client: TestClient, tokens: dict[str, str]
) -> None:
    register(client, tokens["admin"], "2.0.0", SHA, len(IMAGE))
    response = upload(client, tokens["admin"], "2.0.0", status="current")
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "status"
    assert stored_files() == []


def test_a_bad_version_or_body_is_named(client: TestClient, tokens: dict[str, str]) -> None:
    bad = upload(client, tokens["admin"], "not a version!")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "version"
    empty = upload(client, tokens["admin"], "3.0.0", b"")
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "image"
    form = client.post(
        URL.format(version="3.0.0"),
        files={"image": ("fw.bin", IMAGE)},
        headers=bearer(tokens["admin"]),
    )
    assert form.status_code == 415
    assert form.headers["content-type"] == "application/problem+json"
    assert stored_files() == []


def test_downloading_a_release_known_only_by_hash_says_to_upload_it(
    client: TestClient, tokens: dict[str, str]
) -> None:
    register(client, tokens["admin"], "2.0.0", SHA, len(IMAGE))
    response = client.get(URL.format(version="2.0.0"), headers=bearer(tokens["technician"]))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "only the hash" in response.json()["detail"]
    assert "upload the image" in response.json()["detail"]


def test_who_may_upload_and_download(client: TestClient, tokens: dict[str, str]) -> None:
    register(client, tokens["admin"], "2.0.0", SHA, len(IMAGE))
    for role in ("technician", "analyst"):
        refused = upload(client, tokens[role], "2.0.0")
        assert refused.status_code == 403, role
    # A supervisor may store the bytes of a registered release, not register a new one.
    assert upload(client, tokens["supervisor"], "9.0.0").status_code == 403
    assert stored_files() == []
    assert upload(client, tokens["supervisor"], "2.0.0").status_code == 200
    assert (
        client.get(URL.format(version="2.0.0"), headers=bearer(tokens["analyst"])).status_code
        == 403
    )
    # Another brand's technician does not see the product at all.
    other = client.get(
        URL.format(version="2.0.0"), headers=bearer(tokens["other_brand_technician"])
    )
    assert other.status_code == 404
    assert client.get(URL.format(version="2.0.0")).status_code == 401


@pytest.fixture
def small_limit_client(
    tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The app with firmware images limited to 100 kB (other bodies keep their 1 MB limit)."""
    monkeypatch.setenv("BACKHAUL_FIRMWARE_MAX_BYTES", "100000")
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as limited:
        yield limited


def test_an_oversize_image_is_refused_and_nothing_is_stored(
    small_limit_client: TestClient, tokens: dict[str, str]
) -> None:
    declared = upload(small_limit_client, tokens["admin"], "2.0.0")
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    # Sent without a length (chunked): counted as it arrives.
    chunks = (IMAGE[i : i + 65536] for i in range(0, len(IMAGE), 65536))
    streamed = upload(small_limit_client, tokens["admin"], "2.0.0", chunks)
    assert streamed.status_code == 413
    assert stored_files() == []
    releases = small_limit_client.get(
        "/api/v1/products/SPK-100/firmware", headers=bearer(tokens["admin"])
    )
    assert releases.json() == []


def test_images_above_the_json_body_limit_are_accepted(
    client: TestClient, tokens: dict[str, str]
) -> None:
    assert len(IMAGE) > get_settings().max_body_bytes
    assert upload(client, tokens["admin"], "2.0.0").status_code == 201
    assert firmware_images.is_stored(SHA)


def test_cli_uploads_and_downloads_an_image(
    client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "spk-2.0.0.bin"
    source.write_bytes(IMAGE)
    runner = CliRunner()
    uploaded = runner.invoke(cli, ["firmware", "upload", "SPK-100", "2.0.0", str(source)])
    assert uploaded.exit_code == 0, uploaded.output
    assert "registered and stored" in uploaded.output and SHA in uploaded.output
    again = runner.invoke(cli, ["firmware", "upload", "spk-100", "2.0.0", str(source)])
    assert again.exit_code == 0 and "nothing changed" in again.output

    target = tmp_path / "out.bin"
    downloaded = runner.invoke(
        cli, ["firmware", "download", "SPK-100", "2.0.0", "--out", str(target)]
    )
    assert downloaded.exit_code == 0, downloaded.output
    assert target.read_bytes() == IMAGE

    source.write_bytes(IMAGE[:-1] + b"!")
    wrong = runner.invoke(cli, ["firmware", "upload", "SPK-100", "2.0.0", str(source)])
    assert wrong.exit_code == 2
    assert "sha256" in wrong.output
    assert stored_files() == [get_settings().firmware_dir / SHA[:2] / SHA]

    listed = runner.invoke(cli, ["firmware", "list", "SPK-100"])
    assert "True" in listed.output


def test_cli_refuses_an_oversize_file_before_reading_it(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKHAUL_FIRMWARE_MAX_BYTES", "1000")
    get_settings.cache_clear()
    source = tmp_path / "big.bin"
    source.write_bytes(IMAGE)
    result = CliRunner().invoke(cli, ["firmware", "upload", "SPK-100", "2.0.0", str(source)])
    assert result.exit_code == 2
    assert "at most 1,000" in result.output
    assert stored_files() == []
