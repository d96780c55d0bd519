"""Idempotency keys: a retried POST with the same `Idempotency-Key` gets the first answer."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from backhaul.db import Base, UTCDateTime, utcnow
from backhaul.kit.auth import Actor
from backhaul.kit.errors import Conflict
from backhaul.kit.signing import canonical_json


class IdempotencyRecord(Base):
    """The first answer to a request made with an idempotency key, per principal."""

    __tablename__ = "idempotency_records"

    principal: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests 'the same': method, path and body."""
    return hashlib.sha256(canonical_json([method, path, body])).hexdigest()


def replay(
    session: Session, actor: Actor, key: str, request_fingerprint: str
) -> IdempotencyRecord | None:
    """The stored first answer for this key, or None; a different request under it is refused."""
    record = session.get(IdempotencyRecord, (actor.username, key))
    if record is not None and record.fingerprint != request_fingerprint:
        raise Conflict(
            "this Idempotency-Key was already used for a different request",
            field="header.Idempotency-Key",
        )
    return record


def remember(
    session: Session, actor: Actor, key: str, request_fingerprint: str, status_code: int, body: Any
) -> None:
    """Keep the answer, in the same transaction as the change it reports."""
    session.add(
        IdempotencyRecord(
            principal=actor.username,
            key=key,
            fingerprint=request_fingerprint,
            status_code=status_code,
            body=body,
            created_at=utcnow(),
        )
    )
    session.flush()
