"""Step evidence (what a station sends for each step) and the unit as the API shows it."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictBool, StringConstraints, model_validator

from backhaul.accounts.schemas import Username
from backhaul.catalog.schemas import RigCode, Scalar, Sha256, SiteCode, Sku, TestId, Version
from backhaul.kit.money import Currency, Money
from backhaul.kit.schemas import Input, Output, ToUpper
from backhaul.processing import faults
from backhaul.processing.grading import Cosmetic, Functional
from backhaul.processing.lifecycle import Route, Step
from backhaul.processing.models import OverrideKind, OverrideStatus

FaultCode = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Z0-9]{2,12}(\.[A-Z0-9]{2,12}){0,4}$", strip_whitespace=True, to_upper=True
    ),
    ToUpper,
    AfterValidator(faults.known),
]
Notes = Annotated[str, StringConstraints(max_length=2000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=120)]


class Packaging(enum.StrEnum):
    """What the package looked like on arrival."""

    sealed = "sealed"
    opened = "opened"
    damaged = "damaged"


class Battery(enum.StrEnum):
    """Battery condition at inspection; swollen or leaking is a hazard."""

    ok = "ok"
    swollen = "swollen"
    leaking = "leaking"


class WipeMethod(enum.StrEnum):
    """NIST SP 800-88 sanitization methods."""

    clear = "clear"
    purge = "purge"
    destroy = "destroy"


class AccountStatus(enum.StrEnum):
    """The device-cloud account binding after deactivation."""

    none_found = "none_found"
    deactivated = "deactivated"
    still_bound = "still_bound"


class ConfirmationSource(enum.StrEnum):
    """Who confirmed the account's state: the brand's device cloud over HTTP, the station's
    device adapter, or a person who read the cloud's reference off its portal."""

    device_cloud = "device_cloud"
    device_adapter = "device_adapter"
    manual = "manual"


class CloudAttempt(Input):
    """One call to the device cloud, as the station recorded it."""

    attempt: int = Field(ge=1, le=100)
    status_code: int | None = Field(None, ge=100, le=599, description="None: no answer")
    elapsed_ms: float = Field(ge=0, le=86_400_000, allow_inf_nan=False)
    error: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        None, description="Timeout or connection error, when there was no answer"
    )
    retry_in_s: float | None = Field(
        None, ge=0, le=86_400, allow_inf_nan=False, description="Backoff before the next try"
    )


class CloudResponse(Input):
    """The recorded exchange with the device cloud: where, its last answer, every attempt."""

    url: Annotated[str, StringConstraints(max_length=600)] | None = None
    status_code: int | None = Field(None, ge=100, le=599)
    body: Annotated[str, StringConstraints(max_length=2000)] = Field(
        "", description="The last answer's body, truncated"
    )
    attempts: list[CloudAttempt] = Field(default_factory=list, max_length=100)


class AccountConfirmation(Input):
    """The proof of the account's state that a sanitize step carries: `deactivated` and
    `none_found` need the cloud's `reference`; `still_bound` says why in `reason`."""

    source: ConfirmationSource
    reference: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="The device cloud's reference for the deactivation"
    )
    reason: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        None, description="Why the account is not confirmed unbound"
    )
    response: CloudResponse | None = Field(
        None, description="The recorded exchange (required when the source is device_cloud)"
    )


class SellIn(Input):
    """Register a sold unit (the same fields as one import row, without the serial)."""

    sku: Sku
    order_ref: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    customer_email: Annotated[str, StringConstraints(max_length=254)]
    sold_at: datetime
    region: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}$")]
    channel: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    price: Money
    currency: Currency


class AuthorizeIn(Input):
    """A return authorisation (the returns portal fills this in; here for integrations)."""

    rma: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_]+)?$", max_length=60)]
    resolution: Literal["refund", "exchange", "repair", "replace", "advance_replacement"]
    rule: Annotated[str, StringConstraints(max_length=80)] = "manual"


class ShipIn(Input):
    """A carrier event for the unit's return shipment."""

    carrier: ShortText
    tracking_number: Annotated[str, StringConstraints(min_length=4, max_length=60)]
    status: ShortText = "in_transit"


class ReceiveIn(Input):
    """The unit arrived at a site's dock."""

    site: SiteCode
    packaging_seen: Packaging | None = None
    notes: Notes = ""


ChecklistAnswer = Annotated[str, StringConstraints(min_length=1, max_length=80)]


def _no_repeats(items: list[str]) -> list[str]:
    repeated = next((item for index, item in enumerate(items) if item in items[:index]), None)
    if repeated is not None:
        raise ValueError(f"'{repeated}' is listed twice")
    return items


class InspectIn(Input):
    """Inspection answers to the product's checklist (GET /products/{sku}/inspection-checklist).
    The server decides whether the accessories are complete from the ones ticked present; the
    photos the checklist asks for must be uploaded first. A swollen or leaking battery
    quarantines the unit, whatever else."""

    outcome: Literal["pass", "fail"]
    packaging: Packaging | None = Field(
        None, description="Required when the checklist checks packaging (the default)"
    )
    accessories_present: Annotated[list[ChecklistAnswer], AfterValidator(_no_repeats)] = Field(
        default_factory=list,
        max_length=50,
        description="The checklist's accessories found in the box, by name as listed",
    )
    cosmetic_findings: Annotated[list[ChecklistAnswer], AfterValidator(_no_repeats)] = Field(
        default_factory=list,
        max_length=50,
        description="The checklist's cosmetic points where damage was found, by name as listed",
    )
    battery: Battery | None = Field(
        None, description="Required when the checklist checks the battery (products with one)"
    )
    fault_codes: list[FaultCode] = Field(default_factory=list, max_length=20)
    notes: Notes = ""


class SanitizeIn(Input):
    """Account deactivation and wipe, with its verification."""

    method: WipeMethod
    tool: ShortText = Field(description="Tool name and version")
    verification: Literal["full", "sampling"]
    verification_result: Literal["passed", "failed"]
    account: AccountStatus
    account_confirmation: AccountConfirmation | None = Field(
        None,
        description="Proof of the account's state; a pass needs one with the cloud's reference",
    )
    verified_by: Username | None = Field(
        None, description="User name of the person who verified (required for regulated products)"
    )
    technique: (
        Literal[
            "overwrite", "block_erase", "crypto_erase", "factory_reset", "degauss", "shred", "other"
        ]
        | None
    ) = Field(None, description="NIST SP 800-88 technique (default: by method)")
    media_type: ShortText | None = Field(None, description="Storage media, e.g. eMMC flash")
    destination: ShortText | None = Field(None, description="Post-sanitization destination")


class FlashIn(Input):
    """A firmware flash and its read-back."""

    release: Version
    image_sha256: Sha256
    readback_version: Version
    readback_sha256: Sha256


class TestIn(Input):
    """Measurements against a test plan version, taken on a calibrated rig at the unit's site."""

    __test__ = False
    plan: int = Field(ge=1, le=1_000_000, description="The plan version tested against")
    rig: RigCode = Field(
        description="Code of the test rig used, at the unit's site; its calibration must be "
        "current (not due)"
    )
    measurements: dict[TestId, Scalar] = Field(max_length=200)
    station: Annotated[str, StringConstraints(max_length=60)] = ""
    fault_codes: list[FaultCode] = Field(default_factory=list, max_length=20)


class GradeIn(Input):
    """Cosmetic and functional grade; whether it may be sold as new is computed, not sent."""

    cosmetic: Cosmetic
    functional: Functional


class DispositionIn(Input):
    """Empty to let the rules decide; a route with a written reason to override (supervisors)."""

    route: Route | None = None
    override_reason: Annotated[str, StringConstraints(min_length=10, max_length=1000)] | None = None

    @model_validator(mode="after")
    def _reason_with_route(self) -> DispositionIn:
        if self.route is not None and self.override_reason is None:
            raise ValueError("overriding the route needs an override_reason (10+ characters)")
        if self.route is None and self.override_reason is not None:
            raise ValueError("override_reason without a route: name the route you choose")
        return self


class RepackageIn(Input):
    """Repackaging: the box it goes into."""

    box: Literal["original", "refurbished"] = "refurbished"
    label_printed: bool = True


class SendToRepairIn(Input):
    """Hand the unit to a repair partner."""

    partner: SiteCode
    turnaround_days: int = Field(10, ge=1, le=365)


class ReturnFromRepairIn(Input):
    """The unit is back from the partner (it then goes through the steps again)."""

    site: SiteCode
    parts_used: list[Annotated[str, StringConstraints(max_length=60)]] = Field(
        default_factory=list, max_length=50
    )
    cost: Money | None = None
    cost_currency: Currency | None = None


class HarvestIn(Input):
    """Parts taken from the unit into the parts pool."""

    parts: list[Annotated[str, StringConstraints(min_length=1, max_length=60)]] = Field(
        min_length=1, max_length=50
    )


class RecycleIn(Input):
    """Hand-over to a recycler."""

    recycler: SiteCode
    weight_g: int = Field(gt=0, le=1_000_000)


class WriteOffIn(Input):
    """Write the unit off."""

    reason: Annotated[str, StringConstraints(min_length=3, max_length=500)]


class ShipToCustomerIn(Input):
    """Send the unit back to its customer."""

    carrier: ShortText
    tracking_number: Annotated[str, StringConstraints(min_length=4, max_length=60)]


class HistoryEntry(Output):
    """One step in a unit's life."""

    step: str
    outcome: str
    from_position: str
    to_position: str
    actor: str
    site: str | None
    at: datetime
    evidence: dict[str, Any]
    override_reason: str | None = None


class UnitOut(Output):
    """A unit, its state and its whole history."""

    serial: str
    sku: str
    brand: str
    state: str
    route: str | None
    condition: str | None
    condition_sku: str | None
    site: str | None
    version: int
    may_sell_as_new: bool | None
    hazard: str | None
    quarantine_reason: str | None = Field(
        None, description="Why a quarantined unit is held (the step that put it there)"
    )
    air_shipment_blocked: bool
    firmware_version: str | None
    sold_at: datetime
    region: str
    warranty_end: date
    history: list[HistoryEntry]


class StepResult(UnitOut):
    """A unit after a step, with what the step decided."""

    outcome: str
    failures: list[dict[str, Any]] = Field(default_factory=list)
    decision: dict[str, Any] | None = None
    certificate_id: str | None = None
    reverification: str | None = Field(
        None, description="`pending` when this wipe was drawn for re-verification"
    )


class QueuedOut(Output):
    """A receipt that could not be matched to a known unit: kept for a supervisor."""

    queued: bool
    exception_id: int
    reason: str


class ReverificationIn(Input):
    """The result of re-verifying a wipe drawn at random, by someone who neither performed nor
    verified it. A failure needs notes saying what was found."""

    result: Literal["passed", "failed"]
    method: Literal["full", "sampling", "forensic"] = Field(
        description="full read-back of the storage, a sampled read-back, or a forensic "
        "recovery attempt"
    )
    tool: ShortText = Field(description="Tool name and version")
    notes: Notes = ""


class ReverificationWithdrawIn(Input):
    """Why the pending draw of a written-off unit is withdrawn (it can never be re-verified)."""

    reason: Annotated[
        str,
        StringConstraints(min_length=3, max_length=1000),
        Field(description="Why, in writing (3 characters or more)"),
    ]


class ReverificationOut(Output):
    """A wipe drawn for re-verification: the draw, who may not re-verify it, and the result."""

    id: int
    serial: str
    sku: str
    site: str | None
    certificate_id: str
    status: str = Field(
        description="pending, passed, failed, superseded by a newer wipe, or withdrawn by a "
        "supervisor (the unit was written off)"
    )
    share: float = Field(description="The share of wipes drawn when this one was drawn")
    drawn_at: datetime
    wiped_by: str
    wipe_verified_by: str | None
    who_may: str | None = Field(description="Who may record the result (while pending)")
    performed_by: str | None
    method: str | None
    tool: str | None
    notes: str | None
    decided_at: datetime | None
    exception_id: int | None = Field(description="The exception-queue item a failure raised")
    unit_state: str = Field(
        description="The unit's state now; a pending draw of a `written_off` unit may be withdrawn"
    )


# --- overrides ------------------------------------------------------------------------------

OverrideReason = Annotated[
    str,
    StringConstraints(min_length=10, max_length=1000),
    Field(description="Why, in writing (10 characters or more)"),
]


class OverrideIn(Input):
    """An override with a written reason: `route` with the route a disposition takes, or
    `failed_step` with the failed step (`inspect` or `test`) to record as passed."""

    kind: OverrideKind
    step: Step | None = Field(None, description="For failed_step: the failed step")
    route: Route | None = Field(None, description="For route: the route to take")
    reason: OverrideReason


class OverrideDecisionIn(Input):
    """A supervisor's decision on a pending override request; rejecting needs a note."""

    approve: StrictBool
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class OverrideRequestOut(Output):
    """An override request, its decision, and where its unit stands now."""

    id: int
    serial: str
    sku: str
    site: str | None
    kind: OverrideKind
    step: str | None
    route: str | None
    reason: str
    requested_by: str
    requested_at: datetime
    status: OverrideStatus
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    unit_version: int
    position: str = Field(description="Where the unit stands now")
    stale: bool = Field(description="The unit has moved on since the request was made")
