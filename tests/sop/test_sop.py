"""The standard operating procedure (issue 6, item 8): built from the configuration (every
lifecycle step, the current firmware, the test limits, the regulated rules), the capability
check (and exit 1 from the CLI), the PDF, the scoping, and that it follows the configuration."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from typer.testing import CliRunner

from backhaul.cli import app as cli
from backhaul.processing import lifecycle
from backhaul.returns import routing
from backhaul.sop import procedure
from backhaul.sop.service import rig_for
from tests.processing.conftest import PLAN, World, world  # noqa: F401

EVERYTHING = [
    "inspect",
    "wipe:clear",
    "wipe:purge",
    "second_verifier",
    "flash",
    "test:audio",
    "battery_quarantine",
]


def _sop(world: World, sku: str, site: str, role: str = "admin", **params: str) -> Any:  # noqa: F811
    query = "&".join(f"{k}={v}" for k, v in ({"site": site} | params).items())
    return world.call(role, "GET", f"/api/v1/products/{sku}/sop?{query}")


def _pdf_text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    text = " ".join(page.get_textpage().get_text_range() for page in document)
    return " ".join(text.split())


@pytest.fixture
def equipped(world: World) -> str:  # noqa: F811
    """HUB-B, given every capability the test products need."""
    response = world.call(
        "admin", "PATCH", "/api/v1/sites/HUB-B", json={"capabilities": EVERYTHING}
    )
    assert response.status_code == 200, response.text
    return "HUB-B"


def test_the_sop_names_every_step_the_current_firmware_and_the_test_limits(
    world: World,  # noqa: F811
) -> None:
    response = _sop(world, "SPK-100", "HUB-A")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/markdown")
    text = response.text
    assert text.startswith("# Standard operating procedure: SPK-100 at HUB-A")
    for number, transition in enumerate(lifecycle.TABLE, start=1):
        assert f"### {number}. {transition.step.value}\n" in text
        assert f"**Records:** {transition.records}" in text
    assert "current firmware 1.1.0" in text
    assert "read-back version is 1.1.0" in text
    assert "| `speaker_db` | at least 80 dB and at most 100 dB | yes |" in text
    assert "| `wifi_rssi` | at least -70 dBm | yes |" in text
    assert "| `mic_ok` | must be true | yes |" in text
    assert "| `led_lux` | at least 10 lx | no |" in text
    assert "label SKU `SPK-100-RF-B`, reads `REFURBISHED - GRADE B`" in text
    assert "(21)SERIAL" in text
    assert "Not regulated: clear or purge" in text
    assert "second person verifies every wipe" not in text


def test_a_regulated_product_needs_purge_and_a_second_verifier(world: World) -> None:  # noqa: F811
    text = _sop(world, "RNG-200", "HUB-A").text
    assert "**Regulated (biometric):** purge-level sanitization only" in text
    assert "a second person verifies every wipe" in text
    assert "NIST SP 800-88 method purge (or destroy)" in text
    assert "| `second_verifier` | biometric product: a second person verifies each wipe" in text
    assert "**Battery (li-ion):**" in text and "`PWR.BATT.SWELL`" in text


def test_a_site_lacking_a_capability_is_told_what_is_missing(
    world: World,  # noqa: F811
    equipped: str,
) -> None:
    lacking = _sop(world, "RNG-200", "HUB-A")
    missing = lacking.headers["x-capabilities-missing"].split(",")
    # HUB-A declares only inspect and wipe:purge.
    assert set(missing) == {"second_verifier", "flash", "test:audio", "battery_quarantine"}
    assert "| `flash` | flash firmware 1.1.0 and read its hash back | **MISSING** |" in lacking.text
    assert "**Missing at HUB-A:**" in lacking.text
    complete = _sop(world, "RNG-200", equipped)
    assert complete.headers["x-capabilities-missing"] == ""
    assert "HUB-B has every capability this procedure needs." in complete.text


def test_the_cli_writes_both_files_and_exits_1_when_something_is_missing(
    world: World,  # noqa: F811
    equipped: str,
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["sop", "--product", "rng-200", "--site", "hub-a", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1, result.output
    markdown = tmp_path / "SOP-RNG-200-HUB-A.md"
    pdf = tmp_path / "SOP-RNG-200-HUB-A.pdf"
    assert markdown.read_text().startswith("# Standard operating procedure: RNG-200 at HUB-A")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert f"wrote {markdown}" in result.output
    assert "HUB-A lacks what this procedure needs" in result.output
    assert "battery_quarantine" in result.output

    result = runner.invoke(
        cli, ["sop", "--product", "RNG-200", "--site", equipped, "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "HUB-B has every capability this procedure needs" in result.output
    assert (tmp_path / "SOP-RNG-200-HUB-B.pdf").exists()

    unknown = runner.invoke(cli, ["sop", "--product", "NOPE-1", "--site", "HUB-A"])
    assert unknown.exit_code == 2 and "no product" in unknown.output


def test_the_pdf_says_the_same(world: World) -> None:  # noqa: F811
    response = _sop(world, "RNG-200", "HUB-A", format="pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert 'filename="SOP-RNG-200-HUB-A.pdf"' in response.headers["content-disposition"]
    text = _pdf_text(response.content)
    for line in (
        "Standard operating procedure: RNG-200 at HUB-A",
        "Capability check",
        "Missing at HUB-A:",
        "purge-level sanitization only",
        "a second person verifies every wipe",
        "current firmware 1.1.0",
        "at least 80 dB and at most 100 dB",
        "REFURBISHED - GRADE B",
        "How wipes are documented",
    ):
        assert line in text, line
    for transition in lifecycle.TABLE:
        assert f". {transition.step.value}" in text


def test_the_sop_follows_the_test_plan(world: World) -> None:  # noqa: F811
    before = _sop(world, "SPK-100", "HUB-A").text
    assert "plan version 1" in before and "`mic_ok`" in before
    published = world.call(
        "admin",
        "POST",
        "/api/v1/products/SPK-100/test-plans",
        json={
            "version": 2,
            "tests": [*PLAN[:2], {"id": "bass_db", "unit": "dB", "min": 60, "max": 75}],
        },
    )
    assert published.status_code == 201, published.text
    after = _sop(world, "SPK-100", "HUB-A").text
    assert "test plan version 2" in after and "plan version 1" not in after
    assert "| `bass_db` | at least 60 dB and at most 75 dB | yes |" in after
    assert "`mic_ok`" not in after
    assert "test plan version 2 (3 measurements)" in after


def test_the_sop_follows_the_inspection_checklist(world: World) -> None:  # noqa: F811
    before = _sop(world, "SPK-100", "HUB-A").text
    assert "the default inspection checklist" in before
    assert "battery flat and dry" not in before  # the speaker has no battery
    published = world.call(
        "admin",
        "PUT",
        "/api/v1/products/SPK-100/inspection-checklist",
        json={
            "accessories": ["power adapter", "quick start guide"],
            "cosmetic_points": ["fabric cover", "base"],
            "photos_required": 2,
            "cosmetic_criteria": {"C": "visible wear on the fabric, the top panel intact"},
        },
    )
    assert published.status_code == 200, published.text
    after = _sop(world, "SPK-100", "HUB-A").text
    assert "inspection checklist version 1" in after
    assert "accessories ticked present: power adapter, quick start guide" in after
    assert "damage recorded where found: fabric cover, base" in after
    assert "2 photos of the unit uploaded before the inspection is recorded" in after
    assert "visible wear on the fabric, the top panel intact" in after  # grade C's wording


def test_the_sop_is_scoped_and_only_for_hubs(world: World) -> None:  # noqa: F811
    assert _sop(world, "SPK-100", "HUB-B", role="tech_a").status_code == 404
    assert _sop(world, "SPK-100", "HUB-A", role="tech_a").status_code == 200
    assert _sop(world, "NOPE-1", "HUB-A").status_code == 404
    repair = _sop(world, "SPK-100", "FIX-1")
    assert repair.status_code == 422
    assert repair.json()["errors"][0]["field"] == "site"
    assert world.call("admin", "GET", "/api/v1/products/SPK-100/sop").status_code == 422


# --- the pure rules ----------------------------------------------------------------------


def _inputs(**product: str) -> procedure.Inputs:
    from decimal import Decimal

    from backhaul.processing import disposition, faults

    facts = {
        "sku": "X-1",
        "name": "X",
        "brand": "B",
        "family": "cameras",
        "category": "camera",
        "serial_pattern": "X[0-9]{4}",
        "regulated": "none",
        "battery": "none",
    } | product
    return procedure.Inputs(
        product=procedure.ProductFacts(**facts),
        site=procedure.SiteFacts("H", "Hub", "US", "UTC", (), Decimal(30), "USD"),
        release=procedure.Release("2.0.0", "c" * 64, 10),
        supported_releases=(),
        plan=procedure.Plan(3, ({"id": "snr", "min": 30},)),
        max_test_attempts=3,
        disposition=disposition.policy_book().resolve("X-1", "US"),
        base_currency="USD",
        taxonomy=faults.taxonomy(),
        test_rig=rig_for(facts["family"]),
        reverify_share=0.0,
    )


@pytest.mark.parametrize("regulated", ["none", "health", "children"])
def test_the_procedure_needs_everything_routing_requires(regulated: str) -> None:
    inputs = _inputs(regulated=regulated)
    routed = routing.required_capabilities(
        routing.Shipment(region="US", regulated=regulated, battery="none", battery_damaged=False)
    )
    assert set(routed) <= {n.capability for n in procedure.needs(inputs)}


def test_needs_follow_the_product_and_the_sampling_share() -> None:
    plain = {n.capability for n in procedure.needs(_inputs())}
    assert plain == {"inspect", "wipe:clear", "flash", "test:camera"}
    battery = {n.capability for n in procedure.needs(_inputs(battery="li_metal"))}
    assert "battery_quarantine" in battery
    sampled = procedure.needs(dataclasses.replace(_inputs(), reverify_share=0.05))
    assert {n.capability: n.why for n in sampled}["second_verifier"].startswith("5% of wipes")
    assert rig_for("wearables") == "test:ring" and rig_for("drones") == "test:drones"
