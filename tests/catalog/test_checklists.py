"""Inspection checklists per product: the pure rule, versions over the API and the CLI, the
default a product without one gets, and the checks that name a bad field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from backhaul.catalog import checklists
from backhaul.catalog.checklists import Checklist
from backhaul.cli import app as cli
from backhaul.processing.grading import COSMETIC_CRITERIA, Cosmetic
from tests.conftest import TokenFactory, bearer, product_payload, site_payload

URL = "/api/v1/products/{sku}/inspection-checklist"
CHECKLIST = {
    "accessories": ["power adapter", "quick start guide"],
    "cosmetic_points": ["fabric cover", "base"],
    "photos_required": 2,
    "cosmetic_criteria": {"A": "no marks under the booth light"},
}


@pytest.fixture
def products(admin: TestClient) -> TestClient:
    for payload in (product_payload(), product_payload(sku="RNG-200", battery="li_ion")):
        assert admin.post("/api/v1/products", json=payload).status_code == 201
    return admin


# --- the pure rule -----------------------------------------------------------------------


def test_the_server_decides_completeness_from_the_accessories_ticked() -> None:
    checklist = Checklist(version=1, accessories=("charger", "cable"), cosmetic_points=("lid",))
    complete = checklists.judge(checklist, ["cable", "charger"], ["lid"])
    partial = checklists.judge(checklist, ["cable"], [])
    assert complete.accessories_complete and not complete.unknown_findings
    assert not partial.accessories_complete
    assert partial.accessories_missing == ("charger",)


def test_answers_naming_nothing_on_the_checklist_are_reported() -> None:
    checklist = Checklist(version=1, accessories=("charger",), cosmetic_points=("lid",))
    answers = checklists.judge(checklist, ["charger", "stylus"], ["hinge"])
    assert answers.unknown_accessories == ("stylus",)
    assert answers.unknown_findings == ("hinge",)


def test_a_product_without_a_checklist_gets_the_default() -> None:
    with_battery = checklists.default_checklist(has_battery=True)
    without = checklists.default_checklist(has_battery=False)
    assert with_battery.version is None and with_battery.accessories == ()
    assert with_battery.photos_required == 0 and with_battery.packaging_check
    assert with_battery.battery_check and not without.battery_check
    assert with_battery.criteria() == COSMETIC_CRITERIA


names = st.lists(st.text(min_size=1, max_size=8), max_size=6, unique=True)


@given(
    listed=names,
    ticked=names,
    criteria=st.dictionaries(st.sampled_from(list(Cosmetic)), st.text(min_size=1)),
)
def test_judging_partitions_the_answers(
    listed: list[str], ticked: list[str], criteria: dict[Cosmetic, str]
) -> None:
    """Every listed accessory is either found or missing; every ticked name is either listed
    or unknown; a grade's wording is the product's own where it has one, else the default."""
    checklist = Checklist(
        version=1,
        accessories=tuple(listed),
        cosmetic_criteria={grade.value: text for grade, text in criteria.items()},
    )
    answers = checklists.judge(checklist, ticked, [])
    found = [a for a in listed if a not in answers.accessories_missing]
    assert sorted(found + list(answers.accessories_missing)) == sorted(listed)
    assert set(found) | set(answers.unknown_accessories) == set(ticked)
    assert answers.accessories_complete == set(listed).issubset(ticked)
    for grade, meaning in checklist.criteria().items():
        assert meaning == criteria.get(grade, COSMETIC_CRITERIA[grade])


# --- over the API ------------------------------------------------------------------------


def test_each_put_publishes_the_next_version_and_the_newest_is_current(
    products: TestClient,
) -> None:
    default = products.get(URL.format(sku="SPK-100"))
    assert default.status_code == 200
    assert default.json()["version"] is None and default.headers["ETag"] == '"0"'
    assert default.json()["battery_check"] is False  # the speaker has no battery
    first = products.put(URL.format(sku="SPK-100"), json=CHECKLIST, headers={"If-Match": '"0"'})
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1 and first.headers["ETag"] == '"1"'
    second = products.put(URL.format(sku="SPK-100"), json=CHECKLIST | {"photos_required": 0})
    assert second.json()["version"] == 2
    current = products.get(URL.format(sku="SPK-100")).json()
    assert current["version"] == 2 and current["photos_required"] == 0
    assert current["accessories"] == CHECKLIST["accessories"]
    # The product's own wording for A; the default for the other grades.
    assert current["cosmetic_criteria"]["A"] == "no marks under the booth light"
    assert current["cosmetic_criteria"]["B"] == COSMETIC_CRITERIA[Cosmetic.B]
    assert current["created_by"].startswith("key-")
    stale = products.put(URL.format(sku="SPK-100"), json=CHECKLIST, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    trail = products.get(
        "/api/v1/audit",
        params={"object_type": "inspection_checklist", "object_id": "SPK-100@2"},
    ).json()
    assert [record["action"] for record in trail] == ["inspection_checklist.created"]


def test_battery_check_defaults_to_whether_the_product_has_a_battery(
    products: TestClient,
) -> None:
    ring = products.put(URL.format(sku="RNG-200"), json={"accessories": ["charging dock"]})
    assert ring.json()["battery_check"] is True
    speaker = products.put(URL.format(sku="SPK-100"), json={})
    assert speaker.json()["battery_check"] is False
    forced = products.put(URL.format(sku="SPK-100"), json={"battery_check": True})
    assert forced.json()["battery_check"] is True


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"accessories": ["cable", "Cable"]}, "body.accessories", "appears twice"),
        ({"cosmetic_points": ["lid", "lid"]}, "body.cosmetic_points", "appears twice"),
        ({"accessories": ["  "]}, "body.accessories.0", "at least 1 character"),
        ({"accessories": [f"item {n}" for n in range(31)]}, "body.accessories", "at most 30"),
        ({"photos_required": 11}, "body.photos_required", "less than or equal to 10"),
        ({"photos_required": -1}, "body.photos_required", "greater than or equal to 0"),
        ({"cosmetic_criteria": {"E": "broken"}}, "body.cosmetic_criteria.E", ""),
        ({"accessories_complete": True}, "body.accessories_complete", "Extra inputs"),
    ],
)
def test_a_bad_checklist_is_refused_naming_the_field(
    products: TestClient, body: dict[str, Any], field: str, says: str
) -> None:
    response = products.put(URL.format(sku="SPK-100"), json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"].startswith(field) and says in e["message"] for e in errors), errors
    assert products.get(URL.format(sku="SPK-100")).json()["version"] is None


def test_only_catalog_writers_publish_checklists_and_brands_stay_apart(
    products: TestClient, make_token: TokenFactory
) -> None:
    url = URL.format(sku="SPK-100")
    assert products.post("/api/v1/sites", json=site_payload()).status_code == 201
    for role in ("supervisor", "technician", "analyst"):
        token = make_token(role, sites=["HUB-A"])
        assert products.get(url, headers=bearer(token)).status_code == 200
        assert products.put(url, json=CHECKLIST, headers=bearer(token)).status_code == 403
    assert (
        products.post("/api/v1/brands", json={"code": "other", "name": "Other"}).status_code == 201
    )
    outsider = make_token("admin", brands=["other"])
    assert products.get(url, headers=bearer(outsider)).status_code == 404
    assert products.put(url, json=CHECKLIST, headers=bearer(outsider)).status_code == 404


# --- the CLI -----------------------------------------------------------------------------


def test_cli_shows_and_publishes_a_checklist(products: TestClient, tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["products", "checklist", "SPK-100"])
    assert shown.exit_code == 0, shown.output
    assert "default" in shown.output
    file = tmp_path / "checklist.json"
    file.write_text(json.dumps(CHECKLIST))
    published = runner.invoke(cli, ["products", "checklist", "spk-100", "--file", str(file)])
    assert published.exit_code == 0, published.output
    assert "version 1 published" in published.output
    assert (
        "power adapter" in published.output and "no marks under the booth light" in published.output
    )
    assert products.get(URL.format(sku="SPK-100")).json()["version"] == 1
    file.write_text(json.dumps({"accessories": ["cable", "cable"]}))
    refused = runner.invoke(cli, ["products", "checklist", "SPK-100", "--file", str(file)])
    assert refused.exit_code == 2
    assert "accessories" in refused.output and "appears twice" in refused.output
    file.write_text("{not json")
    broken = runner.invoke(cli, ["products", "checklist", "SPK-100", "--file", str(file)])
    assert broken.exit_code == 2 and "line 1" in broken.output
