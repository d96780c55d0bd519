"""The four clocks of a return case, as a pure function of its timestamps and the policy.

request → label, label → in transit, delivered → received, received → resolved. A clock runs
from its start until its stop (or `now`, while it is still running); it is breached when it ran
or has been running longer than the policy's target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backhaul.returns.policy import Sla

CLOCKS = (
    "request_to_label",
    "label_to_in_transit",
    "delivered_to_received",
    "received_to_resolved",
)


@dataclass(frozen=True, slots=True)
class Clock:
    """One clock: when it started and stopped, its target, and whether it is breached."""

    name: str
    started_at: datetime | None
    stopped_at: datetime | None
    target: timedelta
    elapsed: timedelta | None
    running: bool
    breached: bool

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "name": self.name,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "target_hours": round(self.target.total_seconds() / 3600, 2),
            "elapsed_hours": round(self.elapsed.total_seconds() / 3600, 2)
            if self.elapsed is not None
            else None,
            "running": self.running,
            "breached": self.breached,
        }


def clocks(
    sla: Sla,
    now: datetime,
    *,
    requested_at: datetime,
    label_at: datetime | None,
    in_transit_at: datetime | None,
    delivered_at: datetime | None,
    received_at: datetime | None,
    resolved_at: datetime | None,
    frozen_at: datetime | None = None,
) -> list[Clock]:
    """The four clocks; `frozen_at` (when a case was cancelled) stops every running clock."""
    spans = (
        ("request_to_label", requested_at, label_at, timedelta(hours=sla.label_hours)),
        ("label_to_in_transit", label_at, in_transit_at, timedelta(days=sla.in_transit_days)),
        # A unit received before the carrier reported delivery was delivered by then.
        (
            "delivered_to_received",
            delivered_at or (received_at if received_at else None),
            received_at,
            timedelta(days=sla.receive_days),
        ),
        ("received_to_resolved", received_at, resolved_at, timedelta(days=sla.resolve_days)),
    )
    result = []
    for name, start, stop, target in spans:
        if start is None:
            result.append(Clock(name, None, None, target, None, False, False))
            continue
        running = stop is None and frozen_at is None
        end = stop or frozen_at or now
        elapsed = max(end - start, timedelta(0))
        result.append(Clock(name, start, stop, target, elapsed, running, elapsed > target))
    return result
