"""The station agent flashes only an image whose sha256 is the release's, keeps verified images
by hash, and tests on the site's calibrated rig."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backhaul.catalog import firmware_images
from backhaul.db import session_scope
from backhaul.devices.simulated import SimulatedAdapter
from backhaul.devices.station import NoRig, StationAgent
from backhaul.kit.auth import cli_actor
from backhaul.processing import service
from backhaul.processing.lifecycle import Step
from backhaul.processing.schemas import AuthorizeIn, InspectIn, ReceiveIn, ShipIn
from tests.conftest import bearer
from tests.processing.conftest import INSPECT_OK, RIG, World, calibration

IMAGE = b"".join(hashlib.sha256(f"fw {n}".encode()).digest() for n in range(5000))
SHA = hashlib.sha256(IMAGE).hexdigest()


def inspected(*serials: str) -> None:
    """Authorise, ship, receive at HUB-A and inspect the world's units, in process."""
    actor = cli_actor("pytest")
    with session_scope() as session:
        for serial in serials:
            for step, data in (
                (
                    Step.authorize,
                    AuthorizeIn(rma=f"R-{serial}", reason="defect", resolution="refund"),
                ),
                (Step.ship, ShipIn(carrier="UPS", tracking_number=f"1Z{serial}")),
                (Step.receive, ReceiveIn(site="HUB-A")),
                (Step.inspect, InspectIn.model_validate(INSPECT_OK)),
            ):
                service.perform_step(session, actor, serial, step, data)


@pytest.fixture
def station(world: World) -> TestClient:
    """HUB-A's technician key on the API, with release 2.0.0 of SPK-100 uploaded as current."""
    response = world.call(
        "admin",
        "POST",
        "/api/v1/products/SPK-100/firmware/2.0.0/image",
        params={"status": "current"},
        content=IMAGE,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    world.client.headers.update(bearer(world.tokens["tech_a"]))
    return world.client


def history(world: World, serial: str) -> list[str]:
    return [entry["step"] for entry in world.unit(serial)["history"]]


def test_a_corrupted_download_is_never_flashed(
    world: World, station: TestClient, tmp_path: Path
) -> None:
    firmware_images.image_path(SHA).write_bytes(IMAGE[:-1] + b"\0")  # damaged on the server
    inspected("SPK000001")
    agent = StationAgent(station, SimulatedAdapter(), "HUB-A", image_cache=tmp_path / "cache")
    report = agent.process("SPK000001")
    assert report.error is not None
    assert "not the release's" in report.error and "not flashed" in report.error
    assert world.unit("SPK000001")["state"] == "sanitized"
    assert "flash" not in history(world, "SPK000001")
    assert not list((tmp_path / "cache").rglob("*"))  # nothing kept


def test_a_verified_image_is_flashed_kept_by_hash_and_reused(
    world: World, station: TestClient, tmp_path: Path
) -> None:
    inspected("SPK000002", "SPK000003")
    cache = tmp_path / "cache"
    adapter = SimulatedAdapter()
    report = StationAgent(station, adapter, "HUB-A", image_cache=cache).process("SPK000002")
    assert report.error is None, report.error
    assert report.steps == [("sanitize", "pass"), ("flash", "pass"), ("test", "pass")]
    unit = world.unit("SPK000002")
    assert unit["firmware_version"] == "2.0.0"
    flash = next(h for h in unit["history"] if h["step"] == "flash")
    assert flash["evidence"]["readback_sha256"] == SHA  # the device holds exactly these bytes
    test = next(h for h in unit["history"] if h["step"] == "test")
    assert test["evidence"]["rig"] == RIG  # the site's only calibrated rig
    assert (cache / SHA[:2] / SHA).read_bytes() == IMAGE

    # A later run flashes from its cache, even with the server's copy gone.
    firmware_images.image_path(SHA).unlink()
    again = StationAgent(station, adapter, "HUB-A", image_cache=cache).process("SPK000003")
    assert again.error is None, again.error
    assert world.unit("SPK000003")["state"] == "tested"


def test_the_agent_needs_a_rig_it_may_test_on(world: World, station: TestClient) -> None:
    second = {"code": "RIG-2", "name": "Second bench", "kind": "audio bench"}
    assert world.call("admin", "POST", "/api/v1/sites/HUB-A/rigs", json=second).status_code == 201
    path = "/api/v1/sites/HUB-A/rigs/RIG-2/calibrations"
    assert world.call("admin", "POST", path, json=calibration()).status_code == 201
    with pytest.raises(NoRig, match="HUB-A has 2 calibrated test rigs \\(RIG-1, RIG-2\\)"):
        StationAgent(station, SimulatedAdapter(), "HUB-A").test_rig()
    assert StationAgent(station, SimulatedAdapter(), "HUB-A", rig="rig-2").test_rig() == "RIG-2"

    overdue = {"code": "RIG-3", "name": "Old bench", "kind": "audio bench"}
    assert world.call("admin", "POST", "/api/v1/sites/HUB-A/rigs", json=overdue).status_code == 201
    path = "/api/v1/sites/HUB-A/rigs/RIG-3/calibrations"
    late = calibration(days_ago=400, days_left=-10, ref="CAL-LATE")
    assert world.call("admin", "POST", path, json=late).status_code == 201
    with pytest.raises(NoRig, match=r"calibration of RIG-3 was due on .* \(certificate CAL-LATE\)"):
        StationAgent(station, SimulatedAdapter(), "HUB-A", rig="RIG-3").test_rig()


def test_without_a_cache_images_live_in_a_temporary_folder_until_close(
    world: World, station: TestClient
) -> None:
    """The adapter is handed the image's file, never its bytes; a run without --image-cache
    keeps the file in a folder of its own and removes it when the agent closes."""
    inspected("SPK000004")
    handed: list[Path | None] = []

    class Recording(SimulatedAdapter):
        def flash(self, serial: str, version: str, sha256: str, image: Path | None) -> None:
            handed.append(image)
            super().flash(serial, version, sha256, image)

    agent = StationAgent(station, Recording(), "HUB-A")
    report = agent.process("SPK000004")
    assert report.error is None, report.error
    [image] = handed
    assert image is not None and image.read_bytes() == IMAGE
    assert image.is_relative_to(agent.image_cache)
    agent.close()
    assert not image.exists() and not agent.image_cache.exists()
