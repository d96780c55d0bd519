"""The station agent against a real server: 200 simulated units with injected faults."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from backhaul.cli import app as cli
from backhaul.db import session_scope
from backhaul.devices.simulated import FaultRates, SimulatedAdapter
from backhaul.devices.station import StationAgent
from backhaul.kit import signing
from backhaul.kit.auth import cli_actor
from backhaul.processing import certificates, service
from backhaul.processing.lifecycle import Step
from backhaul.processing.schemas import AuthorizeIn, InspectIn, ReceiveIn, ShipIn
from tests.live_server import live_server
from tests.processing.conftest import INSPECT_OK, World, sold


def expected_state(faults: frozenset[str]) -> str:
    """Where a unit must end given its device's faults: the first failing step decides."""
    if {"account_stuck", "wipe_verification_fails"} & faults:
        return "quarantined"
    if "flash_fails" in faults:
        return "firmware_failed"
    if "sensor_out_of_limits" in faults:
        return "test_failed"
    return "tested"


def _inspected(world: World, serials: list[str]) -> None:
    """Import, authorise, ship, receive at HUB-A and inspect the units (fast: in process)."""
    rows = [sold(s, "RNG-200" if s.startswith("RNG") else "SPK-100") for s in serials]
    response = world.call("admin", "POST", "/api/v1/units/import", json=rows)
    assert response.json()["added"] == len(serials), response.text
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


def test_200_units_with_faults_end_where_their_faults_say(world: World, tmp_path: Path) -> None:
    serials = [f"SPK1{n:05d}" for n in range(180)] + [f"RNG1{n:05d}" for n in range(20)]
    _inspected(world, serials)
    adapter = SimulatedAdapter(seed=2026, rates=FaultRates.uniform(0.08))
    expected = {s: expected_state(adapter.faults_for(s)) for s in serials}
    assert set(expected.values()) == {"quarantined", "firmware_failed", "test_failed", "tested"}

    started = time.monotonic()
    with live_server(tmp_path / "server.log") as server:
        token = {"Authorization": f"Bearer {world.tokens['tech_a']}"}
        with httpx.Client(base_url=server.url, headers=token, timeout=30) as http:
            agent = StationAgent(http, adapter, "HUB-A", verifier="verifier.a")
            waiting = agent.waiting()
            assert sorted(waiting) == sorted(serials)
            reports = {r.serial: r for r in agent.run(waiting)}
            public_key = signing.load_public_key(http.get("/api/v1/keys/certificates").content)
            documents = {
                s: http.get(f"/api/v1/units/{s}/certificate").json()
                for s, r in reports.items()
                if r.certificate_id
            }
    assert time.monotonic() - started < 50

    assert not [r for r in reports.values() if r.error]
    assert {s: r.state for s, r in reports.items()} == expected
    # Every wiped unit has a certificate that verifies, offline and against the record.
    wiped = {s for s, r in reports.items() if ("sanitize", "pass") in r.steps}
    assert wiped == {s for s, state in expected.items() if state != "quarantined"}
    assert set(documents) == wiped
    with session_scope(write=False) as session:
        for serial, document in documents.items():
            verdict = certificates.Verdict()
            certificates.verify_signature(
                document["certificate"], document["signature"], public_key, verdict
            )
            certificates.verify_record(
                session, document["certificate"], document["signature"], verdict
            )
            assert verdict.ok, (serial, verdict.checks)
            assert document["certificate"]["serial"] == serial
    regulated = [d["certificate"] for s, d in documents.items() if s.startswith("RNG")]
    assert regulated and all(c["method"] == "purge" and c["verified_by"] for c in regulated)

    # Carry every unit on towards stock: no unit with a fault in its chain gets there.
    for serial in serials:
        world.step("tech_a", serial, "grade", {"cosmetic": "A", "functional": "pass"})
        world.step("tech_a", serial, "disposition", {})
        world.step("tech_a", serial, "repackage", {"box": "refurbished"})
    available = {
        row["serial"]
        for row in world.call(
            "admin", "GET", "/api/v1/units", params={"state": "available", "limit": 1000}
        ).json()
    }
    faulted = {s for s, state in expected.items() if state != "tested"}
    assert available, "no clean unit reached stock"
    assert not available & faulted
    assert available <= {s for s, state in expected.items() if state == "tested"}


def test_station_run_command_shows_a_summary(world: World, tmp_path: Path) -> None:
    _inspected(world, ["SPK200001", "SPK200002"])
    with live_server(tmp_path / "server.log") as server:
        result = CliRunner().invoke(
            cli,
            ["station", "run", "--site", "HUB-A", "--adapter", "simulated", "--batch", "2"],
            env={"BACKHAUL_API_URL": server.url, "BACKHAUL_API_TOKEN": world.tokens["tech_a"]},
        )
        assert result.exit_code == 0, result.output
        assert "station run: 2 units" in result.output and "tested" in result.output
        single = CliRunner().invoke(
            cli,
            ["station", "run", "--site", "HUB-A", "--serial", "SPK000001"],
            env={"BACKHAUL_API_URL": server.url, "BACKHAUL_API_TOKEN": world.tokens["tech_a"]},
        )
        no_rig = CliRunner().invoke(
            cli,
            ["station", "run", "--site", "HUB-A", "--rig", "RIG-9"],
            env={"BACKHAUL_API_URL": server.url, "BACKHAUL_API_TOKEN": world.tokens["tech_a"]},
        )
    assert single.exit_code == 1  # not at the hub: the error is reported, not a crash
    assert "error" in single.output
    assert "testing on rig RIG-1" in result.output  # the site's only calibrated rig
    assert no_rig.exit_code == 2  # refused before any unit is touched
    assert "site HUB-A has no test rig 'RIG-9'" in no_rig.output
