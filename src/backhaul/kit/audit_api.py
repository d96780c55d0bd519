"""The audit trail over HTTP, for admins and supervisors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from backhaul.accounts.deps import CurrentActor
from backhaul.kit.audit import AuditRecord
from backhaul.kit.auth import Actor
from backhaul.kit.errors import ValidationFailed
from backhaul.kit.http import DbSession
from backhaul.kit.schemas import Output

router = APIRouter(prefix="/api/v1", tags=["audit"])

# object_type -> check that raises NotFound when the object is outside the actor's scope.
ScopeCheck = Callable[[Session, Actor, str], object]
_scope_checks: dict[str, ScopeCheck] = {}


def register_scope_check(object_type: str, check: ScopeCheck) -> None:
    """Let a feature say how to tell whether an actor may see one of its objects."""
    _scope_checks[object_type] = check


class AuditRecordOut(Output):
    """One audit record, with its place in its chain."""

    id: int
    stream: str
    seq: int
    at: datetime
    actor_name: str
    actor_via: str
    request_id: str | None
    action: str
    object_type: str
    object_id: str
    before: Any
    after: Any
    prev_hash: str
    hash: str


@router.get("/audit", response_model=list[AuditRecordOut])
def list_audit_records(
    session: DbSession,
    actor: CurrentActor,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=160)] = None,
    after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditRecordOut]:
    """Audit records, oldest first; a scoped supervisor must name an object inside their scope."""
    actor.require("audit.read")
    scoped = actor.brand_ids is not None or actor.site_ids is not None
    if scoped:
        check = _scope_checks.get(object_type or "")
        if check is None or object_id is None:
            raise ValidationFailed(
                "your access is limited to some brands or sites: name an object "
                "(object_type and object_id) to read its trail",
                field="query.object_type",
            )
        check(session, actor, object_id)
    statement = select(AuditRecord).where(AuditRecord.id > after_id)
    if object_type:
        statement = statement.where(AuditRecord.object_type == object_type)
    if object_id:
        statement = statement.where(AuditRecord.object_id == object_id)
    records = session.scalars(statement.order_by(AuditRecord.id).limit(limit))
    return [AuditRecordOut.model_validate(record) for record in records]
