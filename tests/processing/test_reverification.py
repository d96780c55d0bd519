"""Re-verification sampling of wipes (issue 6, item 4): the draw, the custody hold, who may
re-verify, the escalation of a failure, the queue and its scoping, withdrawing the draw of a
written-off unit, and the CLI."""

from __future__ import annotations

import random
import secrets
from typing import Any

import pypdfium2 as pdfium
import pytest
from pydantic import ValidationError
from sqlalchemy import select, update
from typer.testing import CliRunner

from backhaul.cli import app as cli
from backhaul.db import session_scope
from backhaul.kit.audit import AuditRecord
from backhaul.kit.auth import cli_actor
from backhaul.kit.errors import ValidationFailed
from backhaul.kit.outbox import OutboxEvent
from backhaul.processing import reverification, sampling, service
from backhaul.processing.models import ReverificationStatus, WipeReverification
from backhaul.settings import Settings, get_settings
from tests.processing.conftest import SANITIZE_OK, World, received, to_tested

INSPECT_OK = {
    "outcome": "pass",
    "packaging": "opened",
    "battery": "ok",
    "fault_codes": [],
}
INSPECT_FAILED = INSPECT_OK | {"outcome": "fail", "fault_codes": ["PWR.NOBOOT"]}
PASSED = {"result": "passed", "method": "full", "tool": "WipeCheck 2.1"}
FAILED = {
    "result": "failed",
    "method": "forensic",
    "tool": "PhotoRec 7.2",
    "notes": "recovered 14 photos from the user partition",
}


@pytest.fixture
def share(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set BACKHAUL_REVERIFY_SHARE for the rest of the test."""

    def set_share(value: float) -> None:
        monkeypatch.setenv("BACKHAUL_REVERIFY_SHARE", str(value))
        get_settings.cache_clear()

    return set_share


@pytest.fixture
def tech_a2(world: World, make_token: Any) -> str:
    """A second technician at HUB-A: the one who re-verifies."""
    world.tokens["tech_a2"] = make_token("technician", sites=["HUB-A"])
    return "tech_a2"


def _wiped(world: World, serial: str, inspection: dict[str, Any] = INSPECT_OK) -> Any:
    received(world, serial)
    assert world.step("tech_a", serial, "inspect", inspection).status_code == 200
    response = world.step("tech_a", serial, "sanitize", SANITIZE_OK)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "pass"
    return response.json()


def _to_restock(world: World, serial: str) -> None:
    to_tested(world, serial)
    graded = world.step("tech_a", serial, "grade", {"cosmetic": "B", "functional": "pass"})
    assert graded.status_code == 200, graded.text
    routed = world.step("tech_a", serial, "disposition", {})
    assert routed.json()["route"] == "restock", routed.text


def _reverify(world: World, role: str, serial: str, body: dict[str, Any]) -> Any:
    return world.call(role, "POST", f"/api/v1/units/{serial}/reverification", json=body)


LOST = "lost in transit between docks; carrier claim 4471 filed"


def _routed_to_write_off(world: World, serial: str) -> None:
    """A drawn unit whose route a supervisor overrode to write_off (not yet written off)."""
    assert _wiped(world, serial, INSPECT_FAILED)["reverification"] == "pending"
    routed = world.step(
        "supervisor", serial, "disposition", {"route": "write_off", "override_reason": LOST}
    )
    assert routed.status_code == 200, routed.text
    assert routed.json()["state"] == "dispositioned"


def _written_off(world: World, serial: str) -> None:
    """A drawn unit written off (a write-off is not held by the pending draw)."""
    _routed_to_write_off(world, serial)
    done = world.step("supervisor", serial, "write_off", {"reason": "unit lost"})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "written_off"


def _withdraw(world: World, role: str, serial: str, reason: str = LOST) -> Any:
    return world.call(
        role,
        "POST",
        f"/api/v1/units/{serial}/reverification/withdraw",
        json={"reason": reason},
    )


def _pdf_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    text = " ".join(page.get_textpage().get_text_range() for page in document)
    return " ".join(text.split())


# --- the draw ----------------------------------------------------------------------------


def test_share_one_draws_every_wiped_unit(world: World, share: Any) -> None:
    share(1.0)
    serials = ["SPK000001", "SPK000002", "SPK000003"]
    for serial in serials:
        assert _wiped(world, serial)["reverification"] == "pending"
    queue = world.call("supervisor", "GET", "/api/v1/reverifications").json()
    assert sorted(r["serial"] for r in queue) == serials
    assert all(r["status"] == "pending" and r["share"] == 1.0 for r in queue)
    sanitize = world.unit("SPK000001")["history"][-1]
    assert sanitize["evidence"]["reverification"] == {"drawn": True, "share": 1.0}


def test_share_zero_draws_none(world: World, share: Any) -> None:
    share(0)
    for serial in ("SPK000001", "SPK000002", "SPK000003"):
        assert _wiped(world, serial)["reverification"] is None
    assert world.call("supervisor", "GET", "/api/v1/reverifications?status=all").json() == []
    missing = world.call("tech_a", "GET", "/api/v1/units/SPK000001/reverification")
    assert missing.status_code == 404
    assert "not drawn" in missing.json()["detail"]


def test_about_five_percent_of_two_thousand_wipes_are_drawn() -> None:
    chance = random.Random(20261122)
    picked = sum(sampling.drawn(0.05, chance) for _ in range(2000))
    # Binomial(2000, 0.05): mean 100, standard deviation 9.7; four deviations either side.
    assert 61 <= picked <= 139, picked


def test_the_draw_uses_an_unpredictable_source_and_the_injected_one_when_given(
    world: World, share: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(service.REVERIFY_CHANCE, secrets.SystemRandom)

    class Always:
        def random(self) -> float:
            return 0.0

    class Never:
        def random(self) -> float:
            return 0.999

    share(0.05)
    monkeypatch.setattr(service, "REVERIFY_CHANCE", Never())
    assert _wiped(world, "SPK000001")["reverification"] is None
    monkeypatch.setattr(service, "REVERIFY_CHANCE", Always())
    assert _wiped(world, "SPK000002")["reverification"] == "pending"


def test_the_share_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKHAUL_REVERIFY_SHARE", raising=False)
    assert Settings().reverify_share == 0.05
    for bad in ("1.5", "-0.1", "often"):
        monkeypatch.setenv("BACKHAUL_REVERIFY_SHARE", bad)
        with pytest.raises(ValidationError, match="reverify_share"):
            Settings()


# --- the hold ----------------------------------------------------------------------------


def test_a_drawn_unit_cannot_be_repackaged_until_re_verified(
    world: World, share: Any, tech_a2: str
) -> None:
    share(1.0)
    _to_restock(world, "SPK000001")
    held = world.step("tech_a", "SPK000001", "repackage", {})
    assert held.status_code == 409
    problem = held.json()
    assert problem["missing"] == "reverification"
    assert "re-verification is pending" in problem["detail"]
    assert "a technician or supervisor at HUB-A other than" in problem["detail"]
    assert world.unit("SPK000001")["state"] == "dispositioned"

    recorded = _reverify(world, tech_a2, "SPK000001", PASSED)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["status"] == "passed"
    packed = world.step("tech_a", "SPK000001", "repackage", {})
    assert packed.status_code == 200, packed.text
    assert packed.json()["state"] == "available"
    certificate = world.call("tech_a", "GET", "/api/v1/units/SPK000001/certificate").json()
    assert certificate["reverification"]["status"] == "passed"
    assert certificate["reverification"]["failed"] is False


def test_a_drawn_unit_is_not_handed_to_a_recycler_either(world: World, share: Any) -> None:
    share(1.0)
    _wiped(world, "SPK000001", INSPECT_FAILED)
    routed = world.step(
        "supervisor",
        "SPK000001",
        "disposition",
        {"route": "recycle", "override_reason": "cracked housing, not worth a repair"},
    )
    assert routed.status_code == 200, routed.text  # choosing the route hands nothing over
    held = world.step("tech_a", "SPK000001", "recycle", {"recycler": "RCY-1", "weight_g": 800})
    assert held.status_code == 409
    assert held.json()["missing"] == "reverification"


# --- who may re-verify -------------------------------------------------------------------


def test_the_wiper_cannot_re_verify(world: World, share: Any) -> None:
    share(1.0)
    _wiped(world, "SPK000001")
    refused = _reverify(world, "tech_a", "SPK000001", PASSED)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "performed_by"
    assert "performed this wipe" in refused.json()["detail"]
    assert world.call("tech_a", "GET", "/api/v1/units/SPK000001/reverification").json()[
        "status"
    ] == ("pending")


def test_the_second_verifier_cannot_re_verify(world: World, share: Any) -> None:
    from backhaul.accounts.models import User
    from backhaul.accounts.service import actor_for
    from backhaul.kit.errors import ValidationFailed
    from backhaul.processing import reverification
    from backhaul.processing.schemas import ReverificationIn

    share(1.0)
    received(world, "RNG000001")
    assert world.step("tech_a", "RNG000001", "inspect", INSPECT_OK).status_code == 200
    wiped = world.step(
        "tech_a", "RNG000001", "sanitize", SANITIZE_OK | {"verified_by": "verifier.a"}
    )
    assert wiped.json()["reverification"] == "pending", wiped.text
    with session_scope() as session:
        verifier = session.scalars(select(User).where(User.username == "verifier.a")).one()
        with pytest.raises(ValidationFailed) as refused:
            reverification.record(
                session, actor_for(verifier), "RNG000001", ReverificationIn(**PASSED)
            )
    assert refused.value.field == "performed_by"
    assert "verified this wipe" in refused.value.detail


def test_recording_needs_a_pending_draw_and_a_valid_body(
    world: World, share: Any, tech_a2: str
) -> None:
    share(0)
    _wiped(world, "SPK000001")
    none = _reverify(world, tech_a2, "SPK000001", PASSED)
    assert none.status_code == 409
    assert "no re-verification pending" in none.json()["detail"]
    share(1.0)
    _wiped(world, "SPK000002")
    for body, field in (
        (PASSED | {"result": "maybe"}, "result"),
        (PASSED | {"method": "glance"}, "method"),
        ({"result": "passed", "method": "full"}, "tool"),
        (FAILED | {"notes": ""}, "notes"),
    ):
        response = _reverify(world, tech_a2, "SPK000002", body)
        assert response.status_code == 422, response.text
        fields = {e["field"].removeprefix("body.") for e in response.json()["errors"]}
        assert field in fields, response.json()
    for role in ("analyst",):
        assert _reverify(world, role, "SPK000002", PASSED).status_code == 403
    twice = _reverify(world, tech_a2, "SPK000002", PASSED)
    assert twice.status_code == 200
    again = _reverify(world, "supervisor", "SPK000002", PASSED)
    assert again.status_code == 409 and "the latest was passed" in again.json()["detail"]


# --- a failure ---------------------------------------------------------------------------


def test_a_failure_quarantines_the_unit_raises_an_exception_and_shows_in_the_queue(
    world: World, share: Any, tech_a2: str
) -> None:
    share(1.0)
    _to_restock(world, "SPK000001")
    failed = _reverify(world, tech_a2, "SPK000001", FAILED)
    assert failed.status_code == 200, failed.text
    record = failed.json()
    assert record["status"] == "failed" and record["exception_id"]

    unit = world.unit("SPK000001")
    assert unit["state"] == "quarantined" and unit["route"] is None
    last = unit["history"][-1]
    assert (last["step"], last["outcome"], last["to_position"]) == (
        "sanitize",
        "fail",
        "quarantined",
    )
    assert last["from_position"] == "dispositioned:restock"
    assert last["evidence"]["reverification"]["notes"] == FAILED["notes"]

    exceptions = world.call("supervisor", "GET", "/api/v1/exceptions?kind=reverification_failed")
    assert [e["reference"] for e in exceptions.json()] == ["SPK000001"]
    assert "failed re-verification" in exceptions.json()[0]["reason"]
    queue = world.call("supervisor", "GET", "/api/v1/reverifications?status=failed").json()
    assert [(r["serial"], r["performed_by"]) for r in queue] == [
        ("SPK000001", record["performed_by"])
    ]
    assert world.call("supervisor", "GET", "/api/v1/reverifications").json() == []

    certificate = world.call("tech_a", "GET", "/api/v1/units/SPK000001/certificate").json()
    assert certificate["reverification"]["failed"] is True
    assert certificate["reverification"]["notes"] == FAILED["notes"]
    assert certificate["certificate"]["verification_result"] == "passed"  # still as signed
    pdf = world.call("tech_a", "GET", "/api/v1/units/SPK000001/certificate.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # Un-wiped now: the rules keep it in quarantine until it is wiped again, then it may go on.
    routed = world.step("supervisor", "SPK000001", "disposition", {})
    assert routed.json()["decision"]["route"] == "quarantine"
    assert routed.json()["decision"]["rule"].endswith("/Q1")
    share(0)
    again = world.step("tech_a", "SPK000001", "sanitize", SANITIZE_OK)
    assert again.status_code == 200 and again.json()["state"] == "sanitized", again.text

    with session_scope() as session:
        actions = list(
            session.scalars(
                select(AuditRecord.action)
                .where(AuditRecord.stream == "unit:SPK000001")
                .order_by(AuditRecord.seq)
            )
        )
    failed_at = actions.index("unit.reverification_failed")
    assert actions[failed_at - 1 : failed_at + 1] == ["unit.sanitize", "unit.reverification_failed"]


def test_a_newer_wipe_supersedes_a_pending_re_verification(world: World, share: Any) -> None:
    share(1.0)
    first = _wiped(world, "SPK000001", INSPECT_FAILED)
    routed = world.step(
        "supervisor",
        "SPK000001",
        "disposition",
        {"route": "quarantine", "override_reason": "customer says a second account exists"},
    )
    assert routed.json()["state"] == "quarantined"
    second = world.step("tech_a", "SPK000001", "sanitize", SANITIZE_OK)
    assert second.json()["reverification"] == "pending"
    records = world.call(
        "supervisor", "GET", "/api/v1/reverifications?status=all&site=HUB-A"
    ).json()
    assert [(r["certificate_id"], r["status"]) for r in records] == [
        (first["certificate_id"], "superseded"),
        (second.json()["certificate_id"], "pending"),
    ]


# --- scoping -----------------------------------------------------------------------------


def test_another_sites_technician_gets_404(world: World, share: Any) -> None:
    share(1.0)
    _wiped(world, "SPK000001")
    assert _reverify(world, "tech_b", "SPK000001", PASSED).status_code == 404
    assert world.call("tech_b", "GET", "/api/v1/units/SPK000001/reverification").status_code == 404
    assert world.call("tech_b", "GET", "/api/v1/reverifications?site=HUB-A").status_code == 404
    assert world.call("tech_b", "GET", "/api/v1/reverifications").json() == []
    mine = world.call("tech_a", "GET", "/api/v1/reverifications?site=HUB-A").json()
    assert [r["serial"] for r in mine] == ["SPK000001"]
    assert "other than" in mine[0]["who_may"]


# --- withdrawing the draw of a written-off unit -------------------------------------------


def test_a_supervisor_withdraws_the_draw_of_a_written_off_unit_with_a_reason(
    world: World, share: Any, tech_a2: str
) -> None:
    share(1.0)
    _routed_to_write_off(world, "SPK000001")
    in_custody = _withdraw(world, "supervisor", "SPK000001")
    assert in_custody.status_code == 409, in_custody.text
    assert "must be re-verified, not withdrawn" in in_custody.json()["detail"]
    assert "it is dispositioned:write_off" in in_custody.json()["detail"]

    done = world.step("supervisor", "SPK000001", "write_off", {"reason": "unit lost"})
    assert done.json()["state"] == "written_off", done.text
    pending = world.call("supervisor", "GET", "/api/v1/reverifications").json()
    assert [(r["serial"], r["unit_state"]) for r in pending] == [("SPK000001", "written_off")]

    assert _withdraw(world, "tech_a", "SPK000001").status_code == 403
    assert _withdraw(world, "analyst", "SPK000001").status_code == 403
    assert _withdraw(world, "tech_b", "SPK000001").status_code == 403
    short = _withdraw(world, "supervisor", "SPK000001", "no")
    assert short.status_code == 422
    assert [e["field"].removeprefix("body.") for e in short.json()["errors"]] == ["reason"]
    with session_scope() as session, pytest.raises(ValidationFailed) as blank:
        reverification.withdraw(session, cli_actor("ops"), "SPK000001", "  x ")
    assert blank.value.field == "reason"

    withdrawn = _withdraw(world, "supervisor", "SPK000001")
    assert withdrawn.status_code == 200, withdrawn.text
    record = withdrawn.json()
    assert (record["status"], record["notes"], record["who_may"]) == ("withdrawn", LOST, None)
    assert record["performed_by"] and record["decided_at"]
    assert world.call("supervisor", "GET", "/api/v1/reverifications").json() == []
    listed = world.call("supervisor", "GET", "/api/v1/reverifications?status=withdrawn").json()
    assert [(r["serial"], r["status"]) for r in listed] == [("SPK000001", "withdrawn")]
    assert world.call("tech_a", "GET", "/api/v1/units/SPK000001/reverification").json()[
        "status"
    ] == ("withdrawn")

    with session_scope() as session:
        audit = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.stream == "unit:SPK000001")
            .order_by(AuditRecord.seq.desc())
            .limit(1)
        ).one()
        events = session.scalars(
            select(OutboxEvent.type).where(OutboxEvent.subject == "unit:SPK000001")
        ).all()
    assert audit.action == "unit.reverification_withdrawn"
    assert audit.actor_name == record["performed_by"]
    assert audit.before["reverification"] == "pending"
    assert audit.after | {"reason": LOST, "state": "written_off"} == audit.after
    assert audit.after["certificate_id"] == record["certificate_id"]
    assert "unit.reverification_withdrawn" in events

    certificate = world.call("tech_a", "GET", "/api/v1/units/SPK000001/certificate").json()
    standing = certificate["reverification"]
    assert (standing["status"], standing["withdrawn"], standing["failed"]) == (
        "withdrawn",
        True,
        False,
    )
    assert standing["notes"] == LOST
    pdf = world.call("tech_a", "GET", "/api/v1/units/SPK000001/certificate.pdf")
    assert pdf.status_code == 200
    text = _pdf_text(pdf.content)
    assert "Drawn at random for re-verification; withdrawn on" in text
    assert f"(the unit was written off): {LOST}" in text

    twice = _withdraw(world, "supervisor", "SPK000001")
    assert twice.status_code == 409
    assert "the latest was withdrawn" in twice.json()["detail"]
    late = _reverify(world, tech_a2, "SPK000001", PASSED)
    assert late.status_code == 409
    assert "the latest was withdrawn" in late.json()["detail"]


def test_a_withdrawal_needs_a_pending_draw(world: World, share: Any) -> None:
    share(0)
    _wiped(world, "SPK000001", INSPECT_FAILED)
    routed = world.step(
        "supervisor", "SPK000001", "disposition", {"route": "write_off", "override_reason": LOST}
    )
    assert routed.status_code == 200, routed.text
    assert world.step("supervisor", "SPK000001", "write_off", {"reason": "lost"}).status_code == 200
    none = _withdraw(world, "supervisor", "SPK000001")
    assert none.status_code == 409
    assert "none of its wipes was drawn" in none.json()["detail"]
    assert _withdraw(world, "supervisor", "NOPE00001").status_code == 404


def test_a_withdrawal_racing_a_record_loses_with_a_conflict(
    world: World, share: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    share(1.0)
    _written_off(world, "SPK000001")
    found = reverification.pending_for_unit

    def recorded_meanwhile(session: Any, unit_id: int) -> Any:
        pending = found(session, unit_id)
        # Someone else records a pass between our read and our write.
        session.execute(
            update(WipeReverification)
            .where(WipeReverification.id == pending.id)
            .values(status=ReverificationStatus.passed)
        )
        return pending

    monkeypatch.setattr(reverification, "pending_for_unit", recorded_meanwhile)
    lost = _withdraw(world, "supervisor", "SPK000001")
    assert lost.status_code == 409, lost.text
    assert "by someone else at the same time" in lost.json()["detail"]
    monkeypatch.undo()
    # The losing request was rolled back whole: still pending, nothing audited.
    assert world.call("supervisor", "GET", "/api/v1/reverifications").json()[0]["status"] == (
        "pending"
    )
    with session_scope() as session:
        actions = session.scalars(
            select(AuditRecord.action).where(AuditRecord.stream == "unit:SPK000001")
        ).all()
    assert "unit.reverification_withdrawn" not in actions


# --- the CLI -----------------------------------------------------------------------------


def test_the_cli_withdraws_the_draw_of_a_written_off_unit(world: World, share: Any) -> None:
    share(1.0)
    _wiped(world, "SPK000002")
    _written_off(world, "SPK000001")
    runner = CliRunner()
    held = runner.invoke(cli, ["reverify", "withdraw", "SPK000002", "--reason", LOST])
    assert held.exit_code == 2, held.output
    assert "must be re-verified, not withdrawn" in " ".join(held.output.split())
    short = runner.invoke(cli, ["reverify", "withdraw", "SPK000001", "--reason", "x"])
    assert short.exit_code == 2 and "reason" in short.output

    done = runner.invoke(cli, ["reverify", "withdraw", "SPK000001", "--reason", LOST])
    assert done.exit_code == 0, done.output
    printed = " ".join(done.output.split())
    assert "SPK000001: re-verification withdrawn" in printed and LOST in printed
    listed = runner.invoke(cli, ["reverify", "list", "--status", "withdrawn"])
    assert listed.exit_code == 0, listed.output
    assert "SPK000001" in listed.output and "SPK000002" not in listed.output
    unknown = runner.invoke(cli, ["reverify", "list", "--status", "gone"])
    assert unknown.exit_code == 2
    assert "superseded, withdrawn, all" in " ".join(unknown.output.split())


def test_the_cli_lists_and_records_on_behalf_of_a_named_person(
    world: World, share: Any, make_user: Any
) -> None:
    share(1.0)
    _wiped(world, "SPK000001")
    runner = CliRunner()
    listed = runner.invoke(cli, ["reverify", "list", "--site", "HUB-A"])
    assert listed.exit_code == 0, listed.output
    assert "SPK000001" in listed.output and "pending" in listed.output

    make_user("tech.b2", "technician", sites=["HUB-B"])
    elsewhere = runner.invoke(
        cli,
        [
            "reverify",
            "record",
            "SPK000001",
            "--result",
            "passed",
            "--tool",
            "X 1",
            "--by",
            "tech.b2",
        ],
    )
    assert elsewhere.exit_code == 2 and "at your sites" in elsewhere.output

    make_user("tech.a3", "technician", sites=["HUB-A"])
    failed = runner.invoke(
        cli,
        [
            "reverify",
            "record",
            "SPK000001",
            "--result",
            "failed",
            "--method",
            "forensic",
            "--tool",
            "PhotoRec 7.2",
            "--notes",
            "contacts database readable",
            "--by",
            "tech.a3",
        ],
    )
    assert failed.exit_code == 0, failed.output
    assert "failed by tech.a3" in failed.output and "quarantined" in failed.output
    assert world.unit("SPK000001")["state"] == "quarantined"
