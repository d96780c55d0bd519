"""The station agent and the brand's device cloud, end to end: the agent deactivates through the
cloud the brand configured (a real local HTTP server), the server records the exchange and puts
the confirmation in the certificate, and an account the cloud never confirms quarantines the
unit with the reason, in its JSON and on the supervisor's console."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backhaul.cli import app as cli
from backhaul.devices.cli import cloud_token_for
from backhaul.devices.cloud import HttpDeviceCloud, RetryPolicy
from backhaul.devices.simulated import SimulatedAdapter
from backhaul.devices.station import StationAgent
from tests.conftest import bearer
from tests.devices.fake_cloud import Answer, confirmed, fake_cloud
from tests.devices.test_cloud import Waits
from tests.live_server import live_server
from tests.processing.conftest import INSPECT_OK, World, received

BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def inspected(world: World, serial: str) -> None:
    received(world, serial)
    assert world.step("tech_a", serial, "inspect", INSPECT_OK).status_code == 200


def use_cloud(world: World, url: str | None) -> None:
    response = world.call(
        "admin", "PATCH", "/api/v1/brands/default", json={"device_cloud_url": url}
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def station(app: Any, world: World) -> TestClient:
    """The agent's HTTP client: the app in process, as HUB-A's technician key."""
    return TestClient(app, headers=bearer(world.tokens["tech_a"]))


def agent_for(station: TestClient, adapter: SimulatedAdapter, waits: Waits) -> StationAgent:
    return StationAgent(
        station,
        adapter,
        "HUB-A",
        device_cloud=lambda _brand, url: HttpDeviceCloud(
            url, "cloud-secret", policy=RetryPolicy(4), sleep=waits, draw=lambda: 0.5
        ),
    )


def test_the_agent_deactivates_through_the_brands_cloud_and_the_certificate_proves_it(
    world: World, station: TestClient
) -> None:
    inspected(world, "SPK000001")
    adapter, waits = SimulatedAdapter(seed=3), Waits()
    with fake_cloud(Answer(503, "busy"), Answer(503, "busy"), confirmed("LUM-77")) as cloud:
        use_cloud(world, cloud.url)
        agent = agent_for(station, adapter, waits)
        report = agent.process("SPK000001")
        agent.close()
    assert report.error is None, report.error
    assert report.steps[0] == ("sanitize", "pass") and report.state == "tested"
    # The brand's cloud did it, not the adapter: the virtual device never heard of it.
    assert [r["json"]["serial"] for r in cloud.requests] == ["SPK000001"] * 3
    assert adapter.device("SPK000001").account_bound is True
    assert waits == [0.375, 0.75]

    sanitize = next(h for h in world.unit("SPK000001")["history"] if h["step"] == "sanitize")
    confirmation = sanitize["evidence"]["account_confirmation"]
    assert (confirmation["source"], confirmation["reference"]) == ("device_cloud", "LUM-77")
    assert confirmation["response"]["url"] == f"{cloud.url}/devices/SPK000001/deactivation"
    assert [a["status_code"] for a in confirmation["response"]["attempts"]] == [503, 503, 200]

    certificate = world.call("admin", "GET", "/api/v1/units/SPK000001/certificate").json()
    assert certificate["certificate"]["account_deactivation"] == {
        "status": "deactivated",
        "confirmed_by": "device_cloud",
        "reference": "LUM-77",
        "endpoint": f"{cloud.url}/devices/SPK000001/deactivation",
        "http_status": 200,
        "attempts": 3,
    }


def test_a_cloud_that_never_confirms_quarantines_the_unit_with_the_reason(
    world: World, station: TestClient, app: Any, make_user: Any
) -> None:
    inspected(world, "SPK000002")
    waits = Waits()
    with fake_cloud(Answer(503, "maintenance")) as cloud:
        use_cloud(world, cloud.url)
        report = agent_for(station, SimulatedAdapter(seed=3), waits).process("SPK000002")
    assert report.error is None, report.error
    assert report.steps == [("sanitize", "fail")] and report.state == "quarantined"
    assert len(cloud.requests) == 4 and len(waits) == 3
    reason = (
        "the device-cloud account is still bound: not confirmed after 4 attempts; "
        "the last: HTTP 503"
    )
    assert report.failures == [{"test": "account", "reason": reason}]
    unit = world.unit("SPK000002")
    assert (unit["state"], unit["quarantine_reason"]) == ("quarantined", reason)
    sanitize = unit["history"][-1]
    assert sanitize["evidence"]["account_confirmation"]["reason"].startswith("not confirmed")
    assert len(sanitize["evidence"]["account_confirmation"]["response"]["attempts"]) == 4
    assert world.call("admin", "GET", "/api/v1/units/SPK000002/certificate").status_code == 404

    # The supervisor's console lists it with the reason.
    make_user("sup.cloud", "supervisor", sites=[])
    browser = TestClient(app)
    login = browser.get("/login", headers=BROWSER).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', login)
    assert csrf is not None
    browser.post(
        "/login",
        data={"username": "sup.cloud", "password": "correct-horse", "csrf": csrf[1], "next": "/"},
        headers=BROWSER,
    )
    console = browser.get("/console", headers=BROWSER).text
    row = re.search(r'<table id="quarantined">.*?</table>', console, re.S)
    assert row is not None and "SPK000002" in row[0]
    assert "not confirmed after 4 attempts; the last: HTTP 503" in row[0]


def test_a_refusing_cloud_is_asked_once_and_quarantines(world: World, station: TestClient) -> None:
    inspected(world, "SPK000003")
    with fake_cloud(Answer(409, {"detail": "device is in a family plan"})) as cloud:
        use_cloud(world, cloud.url)
        report = agent_for(station, SimulatedAdapter(seed=3), Waits()).process("SPK000003")
    assert len(cloud.requests) == 1
    assert report.state == "quarantined"
    assert "(HTTP 409): device is in a family plan" in world.unit("SPK000003")["quarantine_reason"]


def test_a_brand_without_a_cloud_uses_the_device_adapter(world: World, station: TestClient) -> None:
    inspected(world, "SPK000004")
    adapter = SimulatedAdapter(seed=3)
    report = agent_for(station, adapter, Waits()).process("SPK000004")
    assert report.steps[0] == ("sanitize", "pass")
    assert adapter.device("SPK000004").account_bound is False
    sanitize = next(h for h in world.unit("SPK000004")["history"] if h["step"] == "sanitize")
    confirmation = sanitize["evidence"]["account_confirmation"]
    assert confirmation["source"] == "device_adapter"
    assert confirmation["reference"].startswith("sim-")


def _station_run(
    world: World, tmp_path: Path, serial: str, reference: str, tokens: dict[str, str]
) -> list[str]:
    """`backhaul station run` for one unit against a fake device cloud, with these token
    variables in its environment; the Authorization headers the cloud received."""
    inspected(world, serial)
    with fake_cloud(confirmed(reference)) as cloud, live_server(tmp_path / "server.log") as server:
        use_cloud(world, cloud.url)
        result = CliRunner().invoke(
            cli,
            ["station", "run", "--site", "HUB-A", "--serial", serial],
            env={
                "BACKHAUL_API_URL": server.url,
                "BACKHAUL_API_TOKEN": world.tokens["tech_a"],
                **tokens,
            },
        )
    assert result.exit_code == 0, result.output
    return [r["headers"]["authorization"] for r in cloud.requests]


def test_station_run_sends_the_device_cloud_token_from_the_environment(
    world: World, tmp_path: Path
) -> None:
    sent = _station_run(
        world, tmp_path, "SPK000005", "LUM-CLI", {"BACKHAUL_DEVICE_CLOUD_TOKEN": "lumen-token"}
    )
    assert sent == ["Bearer lumen-token"]
    sanitize = next(h for h in world.unit("SPK000005")["history"] if h["step"] == "sanitize")
    assert sanitize["evidence"]["account_confirmation"]["reference"] == "LUM-CLI"


def test_a_brand_s_own_cloud_token_takes_precedence_over_the_shared_one(
    world: World, tmp_path: Path
) -> None:
    """A 3PL serving several brands holds one token per brand's cloud, on the station."""
    tokens = {
        "BACKHAUL_DEVICE_CLOUD_TOKEN": "shared-token",
        "BACKHAUL_DEVICE_CLOUD_TOKEN_DEFAULT": "default-brand-token",
    }
    sent = _station_run(world, tmp_path, "SPK000006", "LUM-OWN", tokens)
    assert sent == ["Bearer default-brand-token"]


def test_brand_codes_name_their_token_variable_in_capitals_and_underscores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKHAUL_DEVICE_CLOUD_TOKEN_ACME_HOME", "acme")
    assert cloud_token_for("acme-home", "shared") == "acme"
    assert cloud_token_for("other", "shared") == "shared"
    assert cloud_token_for("other", None) is None
