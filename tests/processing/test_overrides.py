"""Override requests and overrides over the API: a technician asks with a written reason, a
supervisor approves (the unit moves on, the override a step of its own in its history and
audit trail) or rejects with a note; nothing that guards an invariant is ever overridden."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from backhaul.cli import app as cli
from backhaul.db import session_scope
from backhaul.kit import audit
from backhaul.kit.audit import AuditRecord
from backhaul.kit.outbox import OutboxEvent
from backhaul.processing.models import OverrideRequest
from tests.processing.conftest import (
    FLASH_OK,
    GOOD,
    INSPECT_OK,
    SANITIZE_OK,
    SHA_OLD,
    World,
    received,
    world,  # noqa: F401 - the fixture
)

RIG_ERROR = "fixture contact was loose; re-seated, readings fine on the bench"
BAD = GOOD | {"speaker_db": 71}


def _failed_test(world: World, serial: str) -> None:  # noqa: F811
    received(world, serial)
    for step, body in (("inspect", INSPECT_OK), ("sanitize", SANITIZE_OK), ("flash", FLASH_OK)):
        assert world.step("tech_a", serial, step, body).status_code == 200
    failed = world.step("tech_a", serial, "test", {"plan": 1, "rig": "RIG-1", "measurements": BAD})
    assert failed.json()["outcome"] == "fail", failed.text


def _ask(world: World, serial: str, role: str = "tech_a", **body: Any) -> Any:  # noqa: F811
    return world.call(role, "POST", f"/api/v1/units/{serial}/override-requests", json=body)


def _decide(world: World, request_id: int, role: str = "supervisor", **body: Any) -> Any:  # noqa: F811
    return world.call(role, "POST", f"/api/v1/override-requests/{request_id}/decision", json=body)


def _unit_trail(serial: str) -> list[tuple[str, dict[str, Any]]]:
    with session_scope(write=False) as session:
        records = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.stream == f"unit:{serial}")
            .order_by(AuditRecord.seq)
        )
        return [(r.action, r.after) for r in records]


def test_a_technician_asks_a_supervisor_approves_and_the_unit_moves_on(world: World) -> None:  # noqa: F811
    _failed_test(world, "SPK000001")
    asked = _ask(world, "SPK000001", kind="failed_step", step="test", reason=RIG_ERROR)
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["status"], request["site"]) == ("pending", "HUB-A")
    assert request["requested_by"].startswith("key-")  # the technician's API key
    assert (request["position"], request["stale"]) == ("test_failed", False)
    pending = world.call(
        "supervisor", "GET", "/api/v1/override-requests", params={"status": "pending"}
    )
    assert [r["id"] for r in pending.json()] == [request["id"]]

    decided = _decide(world, request["id"], approve=True, note="rig log confirms it")
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["request"]["status"] == "approved"
    supervisor = body["request"]["decided_by"]
    assert supervisor.startswith("key-") and supervisor != request["requested_by"]
    assert body["unit"]["state"] == "tested"

    unit = world.unit("SPK000001")
    override = unit["history"][-1]
    assert (override["step"], override["outcome"], override["from_position"]) == (
        "test",
        "pass",
        "test_failed",
    )
    assert override["override_reason"] == RIG_ERROR
    assert override["actor"] == supervisor
    evidence = override["evidence"]
    assert evidence["override"] is True and evidence["request_id"] == request["id"]
    assert evidence["supervisor"] == supervisor
    assert evidence["original_failure"]["outcome"] == "fail"
    assert evidence["original_failure"]["failures"][0]["test"] == "speaker_db"
    assert unit["history"][-2]["outcome"] == "fail"  # the failure stays in the history
    action, after = _unit_trail("SPK000001")[-1]
    assert action == "unit.test"
    assert after["override_reason"] == RIG_ERROR and after["override_request"] == request["id"]
    # The overridden test counts for the chain: the unit grades, routes and restocks.
    assert (
        world.step(
            "tech_a", "SPK000001", "grade", {"cosmetic": "A", "functional": "pass"}
        ).status_code
        == 200
    )
    assert world.step("tech_a", "SPK000001", "disposition").json()["route"] == "restock"
    assert world.step("tech_a", "SPK000001", "repackage", {}).json()["state"] == "available"
    with session_scope(write=False) as session:
        decided_events = session.scalars(
            select(OutboxEvent.type).where(
                OutboxEvent.subject == f"override_request:{request['id']}"
            )
        ).all()
        assert decided_events == ["override_request.created", "override_request.approved"]
        assert audit.verify(session).intact


def test_a_rejected_request_keeps_the_unit_where_it_is(world: World) -> None:  # noqa: F811
    _failed_test(world, "SPK000002")
    request = _ask(world, "SPK000002", kind="failed_step", step="test", reason=RIG_ERROR).json()
    no_note = _decide(world, request["id"], approve=False)
    assert no_note.status_code == 422
    assert no_note.json()["errors"][0]["field"] == "note"
    rejected = _decide(world, request["id"], approve=False, note="speaker fails on bench too")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["request"]["status"] == "rejected"
    assert rejected.json()["unit"] is None
    unit = world.unit("SPK000002")
    assert unit["state"] == "test_failed" and unit["history"][-1]["outcome"] == "fail"
    again = _decide(world, request["id"], approve=True)
    assert again.status_code == 409 and "already rejected" in again.json()["detail"]
    listed = world.call("tech_a", "GET", "/api/v1/override-requests", params={"status": "rejected"})
    assert listed.json()[0]["decision_note"] == "speaker fails on bench too"


def test_a_technician_cannot_decide_and_another_sites_supervisor_cannot_see(
    world: World,  # noqa: F811
    make_token: Any,
) -> None:
    _failed_test(world, "SPK000003")
    request = _ask(world, "SPK000003", kind="failed_step", step="test", reason=RIG_ERROR).json()
    forbidden = _decide(world, request["id"], role="tech_a", approve=True)
    assert forbidden.status_code == 403
    world.tokens["sup_b"] = make_token("supervisor", sites=["HUB-B"])
    assert _decide(world, request["id"], role="sup_b", approve=True).status_code == 404
    assert (
        world.call("sup_b", "GET", f"/api/v1/override-requests/{request['id']}").status_code == 404
    )
    assert world.call("sup_b", "GET", "/api/v1/override-requests").json() == []
    assert world.call("tech_b", "GET", "/api/v1/override-requests").json() == []
    assert (
        _ask(
            world, "SPK000003", role="tech_b", kind="route", route="recycle", reason=RIG_ERROR
        ).status_code
        == 404
    )
    assert world.unit("SPK000003")["state"] == "test_failed"  # nothing happened


def test_sanitize_flash_and_hazards_are_never_overridden(world: World) -> None:  # noqa: F811
    received(world, "SPK000004")
    assert world.step("tech_a", "SPK000004", "inspect", INSPECT_OK).status_code == 200
    unwiped = world.step(
        "tech_a", "SPK000004", "sanitize", SANITIZE_OK | {"verification_result": "failed"}
    )
    assert unwiped.json()["outcome"] == "fail"
    sanitize = _ask(world, "SPK000004", kind="failed_step", step="sanitize", reason=RIG_ERROR)
    assert sanitize.status_code == 422
    assert sanitize.json()["errors"][0]["field"] == "step"
    assert "invariant 2" in sanitize.json()["detail"]
    direct = world.call(
        "supervisor",
        "POST",
        "/api/v1/units/SPK000004/overrides",
        json={"kind": "failed_step", "step": "sanitize", "reason": RIG_ERROR},
    )
    assert direct.status_code == 422 and "invariant 2" in direct.json()["detail"]

    received(world, "SPK000005")
    for step, body in (("inspect", INSPECT_OK), ("sanitize", SANITIZE_OK)):
        assert world.step("tech_a", "SPK000005", step, body).status_code == 200
    bad_flash = world.step("tech_a", "SPK000005", "flash", FLASH_OK | {"readback_sha256": SHA_OLD})
    assert bad_flash.json()["state"] == "firmware_failed"
    flash = _ask(world, "SPK000005", kind="failed_step", step="flash", reason=RIG_ERROR)
    assert flash.status_code == 422 and "invariant 1" in flash.json()["detail"]

    received(world, "SPK000006")
    swollen = world.step("tech_a", "SPK000006", "inspect", INSPECT_OK | {"battery": "swollen"})
    assert swollen.json()["state"] == "quarantined"
    hazard = _ask(world, "SPK000006", kind="failed_step", step="inspect", reason=RIG_ERROR)
    assert hazard.status_code == 409 and "invariant 9" in hazard.json()["detail"]
    for serial in ("SPK000004", "SPK000005", "SPK000006"):
        assert world.unit(serial)["history"][-1]["override_reason"] is None
    with session_scope(write=False) as session:
        assert session.scalars(select(OverrideRequest)).all() == []  # nothing half-written


def test_a_stale_request_is_refused_and_can_still_be_rejected(world: World) -> None:  # noqa: F811
    _failed_test(world, "SPK000007")
    request = _ask(world, "SPK000007", kind="failed_step", step="test", reason=RIG_ERROR).json()
    retest = world.step(
        "tech_a", "SPK000007", "test", {"plan": 1, "rig": "RIG-1", "measurements": GOOD}
    )
    assert retest.json()["state"] == "tested"  # the unit moved on in the meantime
    listed = world.call("supervisor", "GET", f"/api/v1/override-requests/{request['id']}").json()
    assert listed["stale"] is True and listed["position"] == "tested"
    stale = _decide(world, request["id"], approve=True)
    assert stale.status_code == 409
    assert "moved on" in stale.json()["detail"]
    assert [h["step"] for h in world.unit("SPK000007")["history"]][-2:] == ["test", "test"]
    assert _decide(world, request["id"], approve=False, note="retested, passed").status_code == 200


def test_a_failed_inspection_the_inspector_got_wrong_is_overridden_directly(world: World) -> None:  # noqa: F811
    received(world, "SPK000008")
    failed = world.step(
        "tech_a",
        "SPK000008",
        "inspect",
        INSPECT_OK | {"outcome": "fail", "fault_codes": ["COSM.SCREEN.SCRATCH"]},
    )
    assert failed.json()["state"] == "inspection_failed"
    short = world.call(
        "supervisor",
        "POST",
        "/api/v1/units/SPK000008/overrides",
        json={"kind": "failed_step", "step": "inspect", "reason": "fine"},
    )
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "body.reason"
    by_tech = world.call(
        "tech_a",
        "POST",
        "/api/v1/units/SPK000008/overrides",
        json={"kind": "failed_step", "step": "inspect", "reason": "the scratch is on the film"},
    )
    assert by_tech.status_code == 403
    done = world.call(
        "supervisor",
        "POST",
        "/api/v1/units/SPK000008/overrides",
        json={"kind": "failed_step", "step": "inspect", "reason": "the scratch is on the film"},
        headers={"If-Match": '"' + str(world.unit("SPK000008")["version"]) + '"'},
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "inspected"
    assert done.json()["history"][-1]["evidence"]["packaging"] == "opened"
    # The overridden inspection counts as passed: the unit is wiped and goes on to flash.
    assert world.step("tech_a", "SPK000008", "sanitize", SANITIZE_OK).json()["state"] == "sanitized"
    assert (
        world.step("tech_a", "SPK000008", "flash", FLASH_OK).json()["state"] == "firmware_validated"
    )


def test_a_route_request_is_approved_through_the_disposition_override(world: World) -> None:  # noqa: F811
    _failed_test(world, "SPK000009")
    no_route = _ask(world, "SPK000009", kind="route", reason=RIG_ERROR)
    assert no_route.status_code == 422 and no_route.json()["errors"][0]["field"] == "route"
    request = _ask(
        world, "SPK000009", kind="route", route="harvest", reason="screen is worth more as a spare"
    ).json()
    twice = _ask(world, "SPK000009", kind="route", route="recycle", reason="or recycle it instead")
    assert twice.status_code == 409 and "already has a pending" in twice.json()["detail"]
    approved = _decide(world, request["id"], approve=True)
    assert approved.status_code == 200, approved.text
    unit = world.unit("SPK000009")
    assert (unit["state"], unit["route"]) == ("dispositioned", "harvest")
    last = unit["history"][-1]
    assert last["step"] == "disposition"
    assert last["override_reason"] == "screen is worth more as a spare"
    assert last["evidence"]["rule"] == f"override by {approved.json()['request']['decided_by']}"
    assert last["evidence"]["request_id"] == request["id"]
    # Once dispositioned, the table allows no other disposition: a new route request is refused.
    late = _ask(world, "SPK000009", kind="route", route="recycle", reason="changed my mind now")
    assert late.status_code == 409 and "disposition step is allowed" in late.json()["detail"]


def test_a_route_that_hands_over_an_unwiped_unit_is_refused_at_the_request(world: World) -> None:  # noqa: F811
    received(world, "SPK000010")
    world.step("tech_a", "SPK000010", "inspect", INSPECT_OK | {"battery": "leaking"})
    refused = _ask(world, "SPK000010", kind="route", route="recycle", reason="it leaks, recycle it")
    assert refused.status_code == 409 and "sanitize" in refused.json()["detail"]
    held = _ask(
        world, "SPK000010", kind="route", route="write_off", reason="it leaks, write it off"
    )
    assert held.status_code == 201, held.text


def test_override_requests_from_the_command_line(world: World) -> None:  # noqa: F811
    runner = CliRunner()
    _failed_test(world, "SPK000011")
    _failed_test(world, "SPK000012")
    first = _ask(world, "SPK000011", kind="failed_step", step="test", reason=RIG_ERROR).json()
    second = _ask(
        world, "SPK000012", kind="route", route="harvest", reason="harvest the screen"
    ).json()
    listed = runner.invoke(cli, ["overrides", "list", "--site", "HUB-A"])
    assert listed.exit_code == 0, listed.output
    assert "SPK000011" in listed.stdout and "route harvest" in listed.stdout
    no_note = runner.invoke(cli, ["overrides", "decide", str(second["id"]), "--reject"])
    assert no_note.exit_code == 2 and "note" in no_note.stderr
    rejected = runner.invoke(
        cli, ["overrides", "decide", str(second["id"]), "--reject", "--note", "repair it first"]
    )
    assert rejected.exit_code == 0 and "rejected" in rejected.stdout
    approved = runner.invoke(cli, ["overrides", "decide", str(first["id"]), "--approve"])
    assert approved.exit_code == 0, approved.output
    assert "approved; the unit is now tested" in approved.stdout
    assert world.unit("SPK000011")["state"] == "tested"
    pending = runner.invoke(cli, ["overrides", "list"])
    assert "SPK000011" not in pending.stdout and "SPK000012" not in pending.stdout
    every = runner.invoke(cli, ["overrides", "list", "--status", "all"])
    assert "approved" in every.stdout and "rejected" in every.stdout
    listed_api = world.call("supervisor", "GET", f"/api/v1/override-requests/{second['id']}")
    assert listed_api.json()["decision_note"] == "repair it first"
    missing = runner.invoke(cli, ["overrides", "decide", "999", "--approve"])
    assert missing.exit_code == 2 and "no override request 999" in missing.stderr
