"""The audit trail is complete, atomic with its change, and any tampering is found."""

from __future__ import annotations

import enum
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

from backhaul.cli import app as cli
from backhaul.db import session_scope
from backhaul.kit import audit, outbox
from backhaul.kit.audit import AuditCheckpoint, AuditRecord
from backhaul.kit.auth import cli_actor
from backhaul.kit.signing import PRIVATE_KEY_FILE
from tests.conftest import product_payload, site_payload


def _verify() -> audit.VerifyReport:
    with session_scope(write=False) as session:
        return audit.verify(session)


def _checkpoint() -> None:
    with session_scope() as session:
        audit.checkpoint(session)


@pytest.fixture
def history(admin: TestClient) -> TestClient:
    """A product changed three times and a site: chains of length 4 and 1, all signed."""
    assert admin.post("/api/v1/products", json=product_payload()).status_code == 201
    for price in ("119.00", "109.00", "99.00"):
        assert admin.patch("/api/v1/products/SPK-100", json={"msrp": price}).status_code == 200
    assert admin.post("/api/v1/sites", json=site_payload()).status_code == 201
    _checkpoint()
    assert _verify().intact
    return admin


def _record(seq: int, stream: str = "product:SPK-100") -> AuditRecord:
    with session_scope(write=False) as session:
        return session.scalars(
            select(AuditRecord).where(AuditRecord.stream == stream, AuditRecord.seq == seq)
        ).one()


def _execute(statement: object) -> None:
    with session_scope() as session:
        session.execute(statement)  # type: ignore[call-overload]


def test_every_change_is_recorded_with_who_when_request_before_and_after(admin: TestClient) -> None:
    created = admin.post("/api/v1/products", json=product_payload())
    changed = admin.patch("/api/v1/products/SPK-100", json={"msrp": "99.00"})
    trail = admin.get("/api/v1/audit", params={"object_type": "product", "object_id": "SPK-100"})
    assert trail.status_code == 200
    first, second = trail.json()
    assert first["action"] == "product.created" and first["before"] is None
    assert first["after"]["msrp"] == "129.00"
    assert first["request_id"] == created.headers["x-request-id"]
    assert second["before"]["msrp"] == "129.00" and second["after"]["msrp"] == "99.00"
    assert second["request_id"] == changed.headers["x-request-id"]
    assert second["actor_name"].startswith("key-") and second["actor_via"] == "key"
    assert second["prev_hash"] == first["hash"]


def test_a_change_that_fails_leaves_neither_record_nor_audit_nor_event(
    admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_emit(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(outbox, "emit", broken_emit)
    monkeypatch.setattr("backhaul.kit.changes.outbox.emit", broken_emit)
    response = admin.post("/api/v1/products", json=product_payload())
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    monkeypatch.undo()
    assert admin.get("/api/v1/products/SPK-100").status_code == 404
    with session_scope(write=False) as session:
        assert (
            session.scalar(select(AuditRecord.id).where(AuditRecord.object_id == "SPK-100")) is None
        )


def test_an_intact_trail_verifies(history: TestClient) -> None:
    report = _verify()
    assert report.intact and report.checkpoints == 1 and report.unsigned_tail == 0
    assert report.records >= 5


def test_an_edited_record_is_found(history: TestClient) -> None:
    target = _record(2)
    _execute(
        update(AuditRecord)
        .where(AuditRecord.id == target.id)
        .values(after={**target.after, "msrp": "1.00"})
    )
    finding = _verify().finding
    assert finding is not None and finding.record_id == target.id
    assert "edited" in finding.why


def test_an_edited_record_with_a_recomputed_hash_is_found_by_the_chain(history: TestClient) -> None:
    target = _record(2)
    target.after = {**target.after, "msrp": "1.00"}
    forged_hash = audit.record_hash(target)
    _execute(
        update(AuditRecord)
        .where(AuditRecord.id == target.id)
        .values(after=target.after, hash=forged_hash)
    )
    finding = _verify().finding
    assert finding is not None and finding.record_id == _record(3).id
    assert "does not match the record before it" in finding.why


def test_a_deleted_record_is_found(history: TestClient) -> None:
    target = _record(2)
    _execute(text("DELETE FROM audit_records WHERE id = :id").bindparams(id=target.id))
    finding = _verify().finding
    assert finding is not None and "missing" in finding.why and "seq 1 to 3" in finding.why


def test_a_deleted_newest_record_is_found_by_the_signed_checkpoint(history: TestClient) -> None:
    newest = _record(4)
    _execute(text("DELETE FROM audit_records WHERE id = :id").bindparams(id=newest.id))
    finding = _verify().finding
    assert finding is not None and finding.where.startswith("checkpoint 1")


def test_an_inserted_record_is_found(history: TestClient) -> None:
    second = _record(2)
    # Make room after seq 2 and slip a forged record in, correctly hashed against seq 2.
    for seq in (4, 3):
        _execute(
            update(AuditRecord)
            .where(AuditRecord.stream == second.stream, AuditRecord.seq == seq)
            .values(seq=seq + 1)
        )
    forged = AuditRecord(
        stream=second.stream,
        seq=3,
        at=second.at,
        actor_id=None,
        actor_name="mallory",
        actor_via="user",
        request_id=None,
        action="product.updated",
        object_type="product",
        object_id="SPK-100",
        before=second.after,
        after={**second.after, "msrp": "5.00"},
        prev_hash=second.hash,
        hash="",
    )
    forged.hash = audit.record_hash(forged)
    with session_scope() as session:
        session.add(forged)
    finding = _verify().finding
    assert finding is not None
    assert "edited" in finding.why or "does not match the record before it" in finding.why


def test_reordered_records_are_found(history: TestClient) -> None:
    two, three = _record(2), _record(3)
    _execute(update(AuditRecord).where(AuditRecord.id == two.id).values(seq=-1))
    _execute(update(AuditRecord).where(AuditRecord.id == three.id).values(seq=2))
    _execute(update(AuditRecord).where(AuditRecord.id == two.id).values(seq=3))
    finding = _verify().finding
    assert finding is not None and finding.record_id in (two.id, three.id)


def test_an_altered_checkpoint_is_found(history: TestClient) -> None:
    _execute(update(AuditCheckpoint).values(record_count=AuditCheckpoint.record_count - 1))
    finding = _verify().finding
    assert finding is not None and "signature does not verify" in finding.why


def test_a_deleted_checkpoint_is_found_from_the_log_beside_the_key(history: TestClient) -> None:
    _execute(text("DELETE FROM audit_checkpoints"))
    finding = _verify().finding
    assert finding is not None and "audit-checkpoints.jsonl" in finding.why


def test_a_checkpoint_signed_by_another_key_is_refused(history: TestClient, tmp_path: Path) -> None:
    (tmp_path / "keys" / PRIVATE_KEY_FILE).unlink()  # a new key is generated on next use
    finding = _verify().finding
    assert finding is not None and "signature does not verify" in finding.why


def test_cli_verify_exits_0_when_intact_and_1_naming_the_record(history: TestClient) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    target = _record(3)
    _execute(update(AuditRecord).where(AuditRecord.id == target.id).values(actor_name="mallory"))
    bad = runner.invoke(cli, ["audit", "verify"])
    assert bad.exit_code == 1
    assert f"record #{target.id}" in bad.output and "edited" in bad.output


def test_checkpoints_chain_and_cover_only_new_records(history: TestClient) -> None:
    history.patch("/api/v1/products/SPK-100", json={"name": "Speaker 2"})
    assert _verify().unsigned_tail == 1
    _checkpoint()
    _checkpoint()  # nothing new: no empty checkpoint
    with session_scope(write=False) as session:
        first, second = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq))
    assert second.prev_hash == first.hash and second.record_count == 1
    assert _verify().intact


class _Colour(enum.StrEnum):
    red = "red"


class _Level(enum.IntEnum):
    low = 1


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.sampled_from(_Colour),
    st.sampled_from(_Level),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 99)), inner, max_size=3),
        st.frozensets(st.integers(0, 9), max_size=3),
    ),
    max_leaves=10,
)


_STATES = st.none() | st.dictionaries(
    st.one_of(st.text(max_size=6), st.integers(0, 99)), _VALUES, max_size=4
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=_STATES, after=_STATES)
def test_whatever_a_change_records_its_hash_holds_when_read_back(
    database: str, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> None:
    """The record's hash is computed from the values as written; `audit verify` recomputes it
    from the values the database gives back. They must agree for any domain value a change may
    record (decimals, dates, enums, tuples, sets, integer keys, any text)."""
    with session_scope() as session:
        written = audit.write(
            session, cli_actor("pytest"), "thing.changed", "thing", "T-1", before, after
        )
    with session_scope(write=False) as session:
        read_back = session.get_one(AuditRecord, written.id)
        assert audit.record_hash(read_back) == written.hash, (before, after, read_back.after)


@pytest.mark.parametrize("bare", [0.0, 2, "draft", ["a"]])
def test_a_record_of_anything_but_fields_is_refused(database: str, bare: object) -> None:
    """A bare `0.0` would come back from SQLite as `0`, and the record's hash would not hold."""
    count = select(func.count()).select_from(AuditRecord)
    with session_scope() as session:
        records = session.scalar(count)
        with pytest.raises(TypeError, match="after is the object's fields"):
            audit.write(session, cli_actor("pytest"), "thing.changed", "thing", "T-1", None, bare)  # type: ignore[arg-type]
        assert session.scalar(count) == records
