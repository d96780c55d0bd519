"""Brands and their device cloud: set by the API (POST, PATCH with If-Match) and the CLI,
validated as an http(s) URL, audited, and the migrated schema matches the models."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backhaul.cli import app as cli
from tests.conftest import TokenFactory, bearer, site_payload

CLOUD = "https://cloud.lumen.example/v1"


def audit_trail(admin: TestClient, code: str) -> list[dict[str, Any]]:
    response = admin.get("/api/v1/audit", params={"object_type": "brand", "object_id": code})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_brand_is_created_with_its_device_cloud(admin: TestClient) -> None:
    response = admin.post(
        "/api/v1/brands", json={"code": "lumen", "name": "Lumen", "device_cloud_url": CLOUD + "/"}
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "code": "lumen",
        "name": "Lumen",
        "device_cloud_url": CLOUD,  # the trailing slash is dropped
        "version": 1,
    }
    assert response.headers["ETag"] == '"1"'
    assert admin.get("/api/v1/brands/lumen").json()["device_cloud_url"] == CLOUD
    listed = {b["code"]: b for b in admin.get("/api/v1/brands").json()}
    assert (
        listed["lumen"]["device_cloud_url"] == CLOUD
        and listed["default"]["device_cloud_url"] is None
    )
    [created] = audit_trail(admin, "lumen")
    assert created["action"] == "brand.created" and created["after"]["device_cloud_url"] == CLOUD


def test_patch_sets_and_removes_the_cloud_with_if_match_and_an_audit_record(
    admin: TestClient,
) -> None:
    version = admin.get("/api/v1/brands/default").headers["ETag"]
    response = admin.patch(
        "/api/v1/brands/default", json={"device_cloud_url": CLOUD}, headers={"If-Match": version}
    )
    assert response.status_code == 200, response.text
    assert response.json()["device_cloud_url"] == CLOUD
    assert response.headers["ETag"] == f'"{response.json()["version"]}"' != version

    stale = admin.patch(
        "/api/v1/brands/default", json={"name": "Lost update"}, headers={"If-Match": version}
    )
    assert stale.status_code == 412
    assert admin.get("/api/v1/brands/default").json()["name"] == "Default brand"

    cleared = admin.patch("/api/v1/brands/default", json={"device_cloud_url": None})
    assert cleared.status_code == 200 and cleared.json()["device_cloud_url"] is None
    renamed = admin.patch("/api/v1/brands/default", json={"name": "Lumen Home"})
    assert renamed.json() == {
        "code": "default",
        "name": "Lumen Home",
        "device_cloud_url": None,  # a PATCH leaves out what it does not name
        "version": 4,
    }
    updates = [r for r in audit_trail(admin, "default") if r["action"] == "brand.updated"]
    assert [(u["before"]["device_cloud_url"], u["after"]["device_cloud_url"]) for u in updates] == [
        (None, CLOUD),
        (CLOUD, None),
        (None, None),
    ]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://cloud.example/v1", "http:// or https://"),
        ("cloud.example/v1", "http:// or https://"),
        ("https:///v1", "names no host"),
        ("https://user:secret@cloud.example/v1", "must not carry credentials"),
        ("https://cloud.example/v1?key=abc", "query or a fragment"),
        ("https://cloud example/v1", "spaces"),
        ("https://cloud.example:99999/v1", "invalid port"),
        ("", "at least 1 character"),
        ("https://cloud.example/" + "a" * 500, "at most 500 characters"),
    ],
)
def test_a_bad_device_cloud_url_is_refused_naming_the_field(
    admin: TestClient, url: str, why: str
) -> None:
    before = admin.get("/api/v1/brands/default").json()
    response = admin.patch("/api/v1/brands/default", json={"device_cloud_url": url})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert error["field"] == "body.device_cloud_url"
    assert why in error["message"]
    assert admin.get("/api/v1/brands/default").json() == before
    created = admin.post("/api/v1/brands", json={"code": "x", "name": "X", "device_cloud_url": url})
    assert created.status_code == 422
    assert created.json()["errors"][0]["field"] == "body.device_cloud_url"


def test_a_brand_keeps_its_name_and_code(admin: TestClient) -> None:
    nameless = admin.patch("/api/v1/brands/default", json={"name": None})
    assert nameless.status_code == 422
    assert nameless.json()["errors"][0]["field"] == "body.name"
    recoded = admin.patch("/api/v1/brands/default", json={"code": "other"})
    assert recoded.status_code == 422
    assert admin.patch("/api/v1/brands/nope", json={"name": "N"}).status_code == 404


def test_only_an_admin_changes_a_brand_and_scoped_keys_see_only_theirs(
    admin: TestClient, make_token: TokenFactory
) -> None:
    admin.post("/api/v1/brands", json={"code": "lumen", "name": "Lumen", "device_cloud_url": CLOUD})
    assert admin.post("/api/v1/sites", json=site_payload()).status_code == 201
    technician = bearer(make_token("technician", sites=["HUB-A"]))
    assert admin.get("/api/v1/brands/lumen", headers=technician).status_code == 200
    refused = admin.patch(
        "/api/v1/brands/lumen", json={"device_cloud_url": None}, headers=technician
    )
    assert refused.status_code == 403
    assert admin.get("/api/v1/brands/lumen").json()["device_cloud_url"] == CLOUD
    other_brand = bearer(make_token("technician", sites=["HUB-A"], brands=["default"]))
    assert admin.get("/api/v1/brands/lumen", headers=other_brand).status_code == 404


def test_the_cli_creates_updates_and_lists_the_device_cloud(admin: TestClient) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli, ["brands", "create", "--code", "lumen", "--name", "Lumen", "--device-cloud-url", CLOUD]
    )
    assert created.exit_code == 0, created.output
    bad = runner.invoke(cli, ["brands", "update", "lumen", "--device-cloud-url", "ftp://x"])
    assert bad.exit_code != 0 and "device_cloud_url" in bad.output
    other = "https://cloud2.lumen.example/api"
    updated = runner.invoke(cli, ["brands", "update", "lumen", "--device-cloud-url", other])
    assert updated.exit_code == 0, updated.output
    assert admin.get("/api/v1/brands/lumen").json()["device_cloud_url"] == other
    listed = runner.invoke(cli, ["brands", "list"], env={"COLUMNS": "200"})
    assert other in listed.output
    removed = runner.invoke(cli, ["brands", "update", "lumen", "--no-device-cloud"])
    assert removed.exit_code == 0 and "device cloud: none" in removed.output
    assert admin.get("/api/v1/brands/lumen").json()["device_cloud_url"] is None
    assert runner.invoke(cli, ["brands", "update", "lumen"]).exit_code != 0  # nothing to change
