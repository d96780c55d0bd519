"""Per-site wait targets and `GET /api/v1/queues`: units waiting longer than their site's
target for their next step, oldest first, with how long they waited and how far over; set by
`PATCH /api/v1/sites/{code}` and `backhaul sites update --wait-target`; scoped by site."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from backhaul.cli import app as cli
from backhaul.db import session_scope, utcnow
from backhaul.units.models import Unit
from tests.processing.conftest import (
    INSPECT_OK,
    SANITIZE_OK,
    World,
    received,
    world,  # noqa: F401 - the fixture
)

runner = CliRunner()


def _waited(serial: str, hours: float) -> None:
    """Back-date the unit's latest step: it has waited `hours` at its position."""
    with session_scope() as session:
        session.execute(
            update(Unit)
            .where(Unit.serial == serial)
            .values(updated_at=utcnow() - timedelta(hours=hours))
        )


def _targets(world: World, site: str, **body: Any) -> Any:  # noqa: F811
    return world.call("admin", "PATCH", f"/api/v1/sites/{site}", json=body)


def test_wait_targets_are_set_per_site_and_validated(world: World) -> None:  # noqa: F811
    set_ = _targets(world, "HUB-A", wait_target_hours=8, step_wait_targets={"inspect": 2})
    assert set_.status_code == 200, set_.text
    assert (set_.json()["wait_target_hours"], set_.json()["step_wait_targets"]) == (
        8,
        {"inspect": 2},
    )
    for body, field, message in (
        ({"step_wait_targets": {"sell": 1}}, "body.step_wait_targets", "'sell' is not a step"),
        ({"wait_target_hours": 0}, "body.wait_target_hours", "greater than 0"),
        ({"step_wait_targets": {"test": "soon"}}, "body.step_wait_targets.test", "number"),
    ):
        refused = _targets(world, "HUB-A", **body)
        assert refused.status_code == 422, body
        error = refused.json()["errors"][0]
        assert error["field"] == field and message in error["message"], refused.text
    assert world.call("admin", "GET", "/api/v1/sites/HUB-A").json()["step_wait_targets"] == {
        "inspect": 2
    }  # a refused change left it as it was
    assert (
        world.call(
            "tech_a", "PATCH", "/api/v1/sites/HUB-A", json={"wait_target_hours": 1}
        ).status_code
        == 403
    )


def test_units_over_their_sites_target_are_listed_oldest_first(world: World) -> None:  # noqa: F811
    assert (
        _targets(
            world, "HUB-A", wait_target_hours=8, step_wait_targets={"inspect": 2, "disposition": 1}
        ).status_code
        == 200
    )
    for serial in ("SPK000001", "SPK000002", "SPK000003", "SPK000005", "SPK000006"):
        received(world, serial)
    received(world, "SPK000004", site="HUB-B", role="tech_b")
    assert world.step("tech_a", "SPK000002", "inspect", INSPECT_OK).status_code == 200
    # A failed inspection, wiped: it waits for its disposition (1 h), not for a flash (8 h).
    world.step("tech_a", "SPK000005", "inspect", INSPECT_OK | {"outcome": "fail"})
    world.step("tech_a", "SPK000005", "sanitize", SANITIZE_OK)
    world.step("tech_a", "SPK000006", "inspect", INSPECT_OK)
    world.step("tech_a", "SPK000006", "sanitize", SANITIZE_OK)
    for serial, hours in (
        ("SPK000001", 3),  # waits for inspect, target 2 h: 1 h over
        ("SPK000002", 5),  # waits for sanitize, the default 8 h: not over
        ("SPK000003", 10),  # waits for inspect: 8 h over
        ("SPK000004", 30),  # HUB-B keeps the default 24 h: 6 h over
        ("SPK000005", 1.5),  # waits for disposition, 1 h: 0.5 h over
        ("SPK000006", 1.5),  # waits for flash, 8 h: not over
    ):
        _waited(serial, hours)

    queues = world.call("supervisor", "GET", "/api/v1/queues")
    assert queues.status_code == 200, queues.text
    late = queues.json()["over_target"]
    assert [u["serial"] for u in late] == ["SPK000004", "SPK000003", "SPK000001", "SPK000005"]
    by_serial = {u["serial"]: u for u in late}
    assert by_serial["SPK000003"] | {"waited_hours": 0, "over_by_hours": 0, "since": 0} == {
        "serial": "SPK000003",
        "sku": "SPK-100",
        "site": "HUB-A",
        "position": "received",
        "next_step": "inspect",
        "target_hours": 2,
        "waited_hours": 0,
        "over_by_hours": 0,
        "since": 0,
    }
    assert by_serial["SPK000003"]["waited_hours"] == pytest.approx(10, abs=0.05)
    assert by_serial["SPK000003"]["over_by_hours"] == pytest.approx(8, abs=0.05)
    assert by_serial["SPK000004"]["target_hours"] == 24
    assert by_serial["SPK000004"]["over_by_hours"] == pytest.approx(6, abs=0.05)
    assert (by_serial["SPK000005"]["position"], by_serial["SPK000005"]["next_step"]) == (
        "sanitized",
        "disposition",
    )
    lines = {(q["site"], q["position"]): q for q in queues.json()["queues"]}
    assert (lines["HUB-A", "received"]["waiting"], lines["HUB-A", "received"]["over_target"]) == (
        2,
        2,
    )
    assert lines["HUB-A", "inspected"]["over_target"] == 0
    assert lines["HUB-A", "sanitized"]["waiting"] == 2
    assert lines["HUB-A", "sanitized"]["over_target"] == 1

    # A technician sees their own site only; a site filter and a limit narrow the list.
    mine = world.call("tech_a", "GET", "/api/v1/queues").json()
    assert {u["site"] for u in mine["over_target"]} == {"HUB-A"}
    assert {q["site"] for q in mine["queues"]} == {"HUB-A"}
    hub_b = world.call("supervisor", "GET", "/api/v1/queues", params={"site": "hub-b"}).json()
    assert [u["serial"] for u in hub_b["over_target"]] == ["SPK000004"]
    first = world.call("supervisor", "GET", "/api/v1/queues", params={"limit": 1}).json()
    assert [u["serial"] for u in first["over_target"]] == ["SPK000004"]

    # Loosen the inspect target: the units waiting for inspect are no longer over.
    assert _targets(world, "HUB-A", step_wait_targets={}).status_code == 200
    relaxed = world.call("supervisor", "GET", "/api/v1/queues").json()["over_target"]
    assert [u["serial"] for u in relaxed] == ["SPK000004", "SPK000003"]


def test_wait_targets_from_the_command_line(world: World) -> None:  # noqa: F811
    result = runner.invoke(
        cli, ["sites", "update", "HUB-A", "--wait-target", "12", "--wait-target", "inspect=3"]
    )
    assert result.exit_code == 0, result.output
    assert "wait targets: 12 h, inspect 3 h" in result.stdout
    site = world.call("admin", "GET", "/api/v1/sites/HUB-A").json()
    assert (site["wait_target_hours"], site["step_wait_targets"]) == (12, {"inspect": 3})
    dropped = runner.invoke(cli, ["sites", "update", "HUB-A", "--wait-target", "inspect=default"])
    assert dropped.exit_code == 0 and "wait targets: 12 h" in dropped.stdout
    bad = runner.invoke(cli, ["sites", "update", "HUB-A", "--wait-target", "inspect=soon"])
    assert bad.exit_code == 2 and "STEP=HOURS" in bad.stderr
    unknown = runner.invoke(cli, ["sites", "update", "HUB-A", "--wait-target", "sell=2"])
    assert unknown.exit_code == 2 and "'sell' is not a step" in unknown.stderr
    assert "12 h" in runner.invoke(cli, ["sites", "list"]).stdout
