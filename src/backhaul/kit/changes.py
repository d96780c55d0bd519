"""Record a change once: the audit record and the outbound event, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backhaul.kit import audit, outbox
from backhaul.kit.auth import Actor


def record_change(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    stream: str | None = None,
    emit: bool = True,
) -> None:
    """Audit `action` on the object and, unless `emit=False`, queue the `<type>.<verb>` event."""
    audit.write(session, actor, action, object_type, object_id, before, after, stream=stream)
    if emit:
        outbox.emit(
            session,
            action,
            f"{object_type}:{object_id}",
            {"before": before, "after": after, "actor": actor.username},
        )
