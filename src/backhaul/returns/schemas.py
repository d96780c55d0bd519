"""Return requests and cases as the API takes and shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from backhaul.kit.schemas import Input, Output
from backhaul.returns.policy import Resolution

Email = Annotated[
    str,
    StringConstraints(
        pattern=r"^[^@\s<>\"]{1,64}@[^@\s<>\"]+\.[^@\s<>\"]+$",
        max_length=254,
        strip_whitespace=True,
    ),
]
ReasonCode = Annotated[
    str, StringConstraints(pattern=r"^[a-z_]+\.[a-z_]+$", max_length=60, strip_whitespace=True)
]
Locale = Literal["en", "de", "fr", "es", "ja"]
BatteryAnswer = Literal["ok", "damaged", "unsure", "no_battery"]
ShippingMethod = Literal["dropoff", "pickup"]
Text1000 = Annotated[str, StringConstraints(max_length=1000)]


class ReturnIn(Input):
    """A return request: the serial (or the order, when it holds one unit), the customer's email,
    the reason code and the resolution wanted. The same decision as the portal."""

    serial: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    order_ref: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    email: Email
    reason: ReasonCode = Field(description="A dotted reason code from GET /api/v1/reasons")
    resolution: Resolution
    locale: Locale = "en"
    sealed: bool | None = Field(None, description="The package is unopened (hygiene rules)")
    battery: BatteryAnswer = Field("ok", description="Is the battery swollen, hot or leaking?")
    shipping: ShippingMethod = "dropoff"
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    note: Text1000 = ""

    @model_validator(mode="after")
    def _which_unit(self) -> ReturnIn:
        if self.serial is None and self.order_ref is None:
            raise ValueError("give the serial, or the order_ref when the order holds one unit")
        return self


class DecisionOut(Output):
    """What decided the request, and what it means."""

    eligible: bool
    rule: str
    policy_version: str
    explanation: str
    resolutions_offered: list[str]
    window_ends: str | None = None
    warranty_ends: str | None = None
    warranty_basis: str | None = None
    restocking_fee: str | None = None
    currency: str | None = None


class RoutingOut(Output):
    """Where the unit goes and why."""

    destination_site: str | None
    ground_only: bool
    cross_border: bool
    missing_capabilities: list[str]
    why: list[str]


class ClockOut(Output):
    """One SLA clock."""

    name: str
    started_at: datetime | None
    stopped_at: datetime | None
    target_hours: float
    elapsed_hours: float | None
    running: bool
    breached: bool


class TimelineEntryOut(Output):
    """One thing that happened to the return."""

    kind: str
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


class CaseOut(Output):
    """A return case (RMA)."""

    rma: str
    status: str
    serial: str
    sku: str
    order_ref: str
    email: str
    locale: str
    region: str
    channel: str
    reason: str
    resolution: str
    resolutions_offered: list[str]
    decision: DecisionOut
    destination_site: str | None
    routing: RoutingOut
    shipping_method: str
    battery: str
    ground_only: bool
    carrier: str | None
    tracking_number: str | None
    label_url: str | None
    status_url: str
    created_at: datetime
    label_created_at: datetime | None
    in_transit_at: datetime | None
    delivered_at: datetime | None
    received_at: datetime | None
    resolved_at: datetime | None
    cancelled_at: datetime | None
    outcome_note: str | None
    survey_score: int | None
    sla: list[ClockOut]
    timeline: list[TimelineEntryOut] = Field(default_factory=list)
    version: int


class CaseSummaryOut(Output):
    """A case in a list."""

    rma: str
    status: str
    serial: str
    sku: str
    region: str
    reason: str
    resolution: str
    destination_site: str | None
    created_at: datetime
    breached: list[str]


class CancelIn(Input):
    """Why the return is cancelled."""

    reason: Annotated[str, StringConstraints(min_length=3, max_length=500)]


class ResolveIn(Input):
    """How the case ended for the customer (refund issued, replacement sent, repaired, ...)."""

    outcome: Annotated[str, StringConstraints(min_length=3, max_length=500)]


class ReasonOut(Output):
    """A reason code with its labels in every portal language."""

    code: str
    category: str
    label: dict[str, str]
    category_label: dict[str, str]
    warranty: bool
    change_of_mind: bool
    photos: bool
    setup_help: bool


class PolicyIn(Input):
    """A policy file's TOML text."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]


class PolicyOut(Output):
    """A region's effective policy."""

    region: str
    version: str
    policy_version: str
    sha256: str
    source: str
    published_by: str | None
    published_at: datetime | None
    policy: dict[str, Any]
