"""The audit trail: one record per change, hash-chained per stream, with signed checkpoints.

Each record carries who, when, request id, action, object, before and after. Records of one
stream (one object, e.g. `unit:SN123`) form a chain: `seq` counts up from 1 and `prev_hash` is
the hash of the record before. Checkpoints cover every record, in id order, since the previous
checkpoint; they are chained to each other, signed with the installation's Ed25519 key, and
appended to a log file beside the key so that deleting the newest ones from the database shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from backhaul.db import Base, UTCDateTime, after_commit, utcnow
from backhaul.kit import signing
from backhaul.kit.auth import Actor
from backhaul.kit.ids import current_request_id
from backhaul.kit.jsonable import jsonable
from backhaul.kit.prepared import Prepared
from backhaul.settings import get_settings

GENESIS = "0" * 64
CHECKPOINT_LOG = "audit-checkpoints.jsonl"
BigId = BigInteger().with_variant(Integer, "sqlite")


class AuditRecord(Base):
    """One change to one object, immutable once written."""

    __tablename__ = "audit_records"
    __table_args__ = (
        UniqueConstraint("stream", "seq"),
        Index("ix_audit_records_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stream: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_via: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(160))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement: these are all the audit records up to `last_record_id`."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_record_id: Mapped[int] = mapped_column(BigId)  # exclusive: records with id > this
    last_record_id: Mapped[int] = mapped_column(BigId)  # inclusive
    record_count: Mapped[int] = mapped_column(Integer)
    records_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))


def _record_content(
    *,
    stream: str,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor_name: str,
    actor_via: str,
    request_id: str | None,
    action: str,
    object_type: str,
    object_id: str,
    before: Any,
    after: Any,
    prev_hash: str,
) -> dict[str, Any]:
    return {
        "stream": stream,
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "actor_via": actor_via,
        "request_id": request_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
    }


def _hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(signing.canonical_json(content)).hexdigest()


def record_hash(record: AuditRecord) -> str:
    """The hash the record's current content should have."""
    return _hash(
        _record_content(
            stream=record.stream,
            seq=record.seq,
            at=record.at,
            actor_id=record.actor_id,
            actor_name=record.actor_name,
            actor_via=record.actor_via,
            request_id=record.request_id,
            action=record.action,
            object_type=record.object_type,
            object_id=record.object_id,
            before=record.before,
            after=record.after,
            prev_hash=record.prev_hash,
        )
    )


_TABLE = cast(Table, AuditRecord.__table__)
# The latest record of a stream, and a new record: every change writes them, so they run on
# the driver (see kit/prepared.py).
_HEAD = Prepared(
    select(_TABLE.c.seq, _TABLE.c.hash)
    .where(_TABLE.c.stream == bindparam("stream"))
    .order_by(_TABLE.c.seq.desc())
    .limit(1)
)
_INSERT = Prepared(insert(_TABLE).returning(_TABLE.c.id))


@dataclass(frozen=True, slots=True)
class Appended:
    """Where a record went: its id and its place in its stream's chain."""

    id: int
    stream: str
    seq: int
    hash: str


def write(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    *,
    stream: str | None = None,
) -> Appended:
    """Append one audit record to the object's chain, inside the caller's transaction.

    The record is written at once with a Core INSERT in the session's transaction, on the
    driver (the unit of work's bookkeeping for an object nobody changes again cost more than
    the INSERT itself; see kit/prepared.py for the driver).
    The caller's pending ORM changes are flushed first, as the autoflush of an ORM query did.

    `before` and `after` are the object's state as field names and values, or None. Nothing
    else is taken: SQLite keeps a bare JSON number as a number (`0.0` comes back as `0`), and
    the record's hash would then not hold for what the database gives back.
    """
    for name, value in (("before", before), ("after", after)):
        if value is not None and not isinstance(value, dict):
            raise TypeError(
                f"an audit record's {name} is the object's fields (a dict) or None, "
                f"not {type(value).__name__}"
            )
    stream = stream or f"{object_type}:{object_id}"
    if session.autoflush:
        session.flush()
    head = _HEAD.run(session, {"stream": stream}).fetchone()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS)
    fields = {
        "stream": stream,
        "seq": seq,
        "at": utcnow(),
        "actor_id": actor.user_id,
        "actor_name": actor.username,
        "actor_via": actor.via,
        "request_id": current_request_id(),
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "before": jsonable(before),
        "after": jsonable(after),
        "prev_hash": prev_hash,
    }
    fields["hash"] = digest = _hash(_record_content(**fields))
    (row_id,) = _INSERT.run(session, fields).fetchone()
    return Appended(row_id, stream, seq, digest)


# --- checkpoints -------------------------------------------------------------------------


def _checkpoint_payload(cp: AuditCheckpoint) -> dict[str, Any]:
    return {
        "seq": cp.seq,
        "at": cp.at.isoformat(timespec="microseconds"),
        "first_record_id": cp.first_record_id,
        "last_record_id": cp.last_record_id,
        "record_count": cp.record_count,
        "records_digest": cp.records_digest,
        "prev_hash": cp.prev_hash,
    }


def _digest(hashes: Iterator[str]) -> tuple[str, int]:
    digest = hashlib.sha256()
    count = 0
    for record_hash_value in hashes:
        digest.update(record_hash_value.encode())
        count += 1
    return digest.hexdigest(), count


def _hashes_between(session: Session, after_id: int, upto_id: int) -> Iterator[str]:
    rows = session.execute(
        select(AuditRecord.hash)
        .where(AuditRecord.id > after_id, AuditRecord.id <= upto_id)
        .order_by(AuditRecord.id)
        .execution_options(yield_per=5000)
    )
    for row in rows:
        yield row.hash


def checkpoint(session: Session) -> AuditCheckpoint | None:
    """Sign everything written since the last checkpoint; None when nothing new was written."""
    if session.get_bind().dialect.name == "postgresql":
        # Wait for in-flight writers so no lower id can commit after we read the range.
        session.execute(text("LOCK TABLE audit_records IN SHARE MODE"))
    last = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).first()
    after_id = last.last_record_id if last else 0
    upto_id = session.scalar(select(AuditRecord.id).order_by(AuditRecord.id.desc()).limit(1))
    if upto_id is None or upto_id <= after_id:
        return None
    digest, count = _digest(_hashes_between(session, after_id, upto_id))
    cp = AuditCheckpoint(
        seq=(last.seq + 1) if last else 1,
        at=utcnow(),
        first_record_id=after_id,
        last_record_id=upto_id,
        record_count=count,
        records_digest=digest,
        prev_hash=last.hash if last else GENESIS,
    )
    payload = _checkpoint_payload(cp)
    cp.hash = _hash(payload)
    cp.signature = signing.sign(payload)
    session.add(cp)
    session.flush()
    line = json.dumps({**payload, "hash": cp.hash, "signature": cp.signature}) + "\n"
    after_commit(session, lambda: _append_log(line))
    return cp


def _append_log(line: str) -> None:
    with (get_settings().keys_dir / CHECKPOINT_LOG).open("a") as handle:
        handle.write(line)


# --- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One way in which the stored trail differs from what was written."""

    record_id: int | None
    where: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.why}"


@dataclass
class VerifyReport:
    """What `audit verify` found: counts and the first problem, if any."""

    records: int = 0
    streams: int = 0
    checkpoints: int = 0
    unsigned_tail: int = 0
    finding: Finding | None = None

    @property
    def intact(self) -> bool:
        return self.finding is None


def _verify_chains(session: Session, report: VerifyReport, progress: Any) -> None:
    rows = session.scalars(
        select(AuditRecord)
        .order_by(AuditRecord.stream, AuditRecord.seq)
        .execution_options(yield_per=5000)
    )
    stream: str | None = None
    prev_seq, prev_hash = 0, GENESIS
    for record in rows:
        report.records += 1
        if progress:
            progress(1)
        where = f"record #{record.id} ({record.stream}, seq {record.seq})"
        if record.stream != stream:
            stream, prev_seq, prev_hash = record.stream, 0, GENESIS
            report.streams += 1
        if record_hash(record) != record.hash:
            report.finding = Finding(
                record.id, where, "content was edited: it no longer matches its hash"
            )
            return
        if record.seq != prev_seq + 1:
            why = (
                f"records are missing before it: the chain jumps from seq {prev_seq} "
                f"to {record.seq} (deleted)"
            )
            report.finding = Finding(record.id, where, why)
            return
        if record.prev_hash != prev_hash:
            why = (
                "its link does not match the record before it in the chain "
                "(inserted, reordered or replaced)"
            )
            report.finding = Finding(record.id, where, why)
            return
        prev_seq, prev_hash = record.seq, record.hash


def _verify_checkpoints(session: Session, report: VerifyReport) -> None:
    key = signing.load_private_key().public_key()
    checkpoints = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))
    prev_hash, prev_last, expected_seq = GENESIS, 0, 1
    for cp in checkpoints:
        report.checkpoints += 1
        where = f"checkpoint {cp.seq} (records {cp.first_record_id + 1}..{cp.last_record_id})"
        payload = _checkpoint_payload(cp)
        if cp.seq != expected_seq or cp.prev_hash != prev_hash or cp.first_record_id != prev_last:
            report.finding = Finding(None, where, "checkpoints are missing or out of order")
            return
        if _hash(payload) != cp.hash or not signing.verify(payload, cp.signature, key):
            report.finding = Finding(
                None, where, "signature does not verify: the checkpoint was altered"
            )
            return
        digest, count = _digest(_hashes_between(session, cp.first_record_id, cp.last_record_id))
        if (digest, count) != (cp.records_digest, cp.record_count):
            why = (
                f"the records it covers changed: {count} present where {cp.record_count} were "
                "signed, or their hashes differ (a record was deleted, inserted or replaced)"
            )
            report.finding = Finding(None, where, why)
            return
        prev_hash, prev_last, expected_seq = cp.hash, cp.last_record_id, cp.seq + 1
    report.unsigned_tail = (
        session.scalar(
            select(text("count(*)")).select_from(AuditRecord).where(AuditRecord.id > prev_last)
        )
        or 0
    )
    _verify_log(checkpoints, report)


def _verify_log(checkpoints: list[AuditCheckpoint], report: VerifyReport) -> None:
    log: Path = get_settings().keys_dir / CHECKPOINT_LOG
    if not log.exists():
        return
    stored = {cp.seq: cp.hash for cp in checkpoints}
    for line_number, line in enumerate(log.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        entry = json.loads(line)
        if stored.get(entry["seq"]) != entry["hash"]:
            why = (
                f"{log.name} line {line_number} records it, but the database no longer holds it "
                "as signed (checkpoints were deleted or replaced)"
            )
            report.finding = Finding(None, f"checkpoint {entry['seq']}", why)
            return


def verify(session: Session, progress: Any = None) -> VerifyReport:
    """Check every chain, every checkpoint and the checkpoint log; stop at the first problem."""
    report = VerifyReport()
    _verify_chains(session, report, progress)
    if report.finding is None:
        _verify_checkpoints(session, report)
    return report


def count_records(session: Session) -> int:
    """How many audit records there are (for progress bars)."""
    return session.scalar(select(text("count(*)")).select_from(AuditRecord)) or 0
