"""Eligibility as a pure function: a unit's sale, the region's policy, the reason and today
decide whether a return is accepted, which resolutions are offered, and which rule decided.

No I/O and no clock: the caller passes `today`, the unit's facts and whether it already has an
open return. Each outcome names its rule (`window.return`, `warranty.expired`, ...) and the
policy version, so a decision can always be traced to the line of policy that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from backhaul.returns.policy import Policy, Resolution
from backhaul.returns.reasons import Reason
from backhaul.units.registry import add_months, normalise_serial

# The rules an eligibility decision can cite.
RULES = {
    "ownership.serial_not_sold": "the serial number was never sold",
    "ownership.order_mismatch": "the order does not contain this serial number",
    "ownership.email_mismatch": "the email address is not the one on the order",
    "case.open": "the unit already has an open return",
    "unit.not_in_field": "the unit is not with the customer",
    "reason.unknown": "the reason code is not in the taxonomy",
    "regulated.hygiene_seal": "opened health and biometric products are not taken back for a "
    "change of mind",
    "damage.report_window": "transit damage must be reported soon after delivery",
    "window.return": "inside the return window",
    "warranty.legal": "outside the return window, under the legal guarantee",
    "warranty.manufacturer": "outside the return window, under the manufacturer's warranty",
    "window.closed": "the return window has closed and the reason is not a warranty matter",
    "warranty.expired": "outside the return window and out of warranty",
    "resolution.not_offered": "the resolution asked for is not one the policy offers here",
}


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """What the registry knows about the unit and its sale."""

    serial: str
    sku: str
    regulated: str
    state: str
    order_ref: str
    customer_email: str
    sold_at: datetime
    region: str
    price: Decimal
    currency: str
    warranty_end: date
    delivered_on: date | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """What the customer says: who they are, which unit, why, and whether it is still sealed."""

    email: str
    reason: str
    serial: str | None = None
    order_ref: str | None = None
    sealed: bool | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer, the rule and policy version that gave it, and what it means."""

    eligible: bool
    rule: str
    policy_version: str
    explanation: str
    resolutions_offered: tuple[Resolution, ...] = ()
    window_ends: date | None = None
    warranty_ends: date | None = None
    warranty_basis: str | None = None
    restocking_fee: Decimal | None = None
    currency: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, as the case keeps it and the API shows it."""
        return {
            "eligible": self.eligible,
            "rule": self.rule,
            "policy_version": self.policy_version,
            "explanation": self.explanation,
            "resolutions_offered": list(self.resolutions_offered),
            "window_ends": self.window_ends.isoformat() if self.window_ends else None,
            "warranty_ends": self.warranty_ends.isoformat() if self.warranty_ends else None,
            "warranty_basis": self.warranty_basis,
            "restocking_fee": str(self.restocking_fee) if self.restocking_fee is not None else None,
            "currency": self.currency,
        }


def matches(code: str, pattern: str) -> bool:
    """A reason pattern is a category (`defect`) or a full code (`damage.transit`)."""
    return code == pattern or code.startswith(pattern + ".")


def delivery_date(unit: UnitFacts, policy: Policy) -> date:
    """When the unit reached the customer: as reported, or the sale plus the usual transit."""
    return unit.delivered_on or unit.sold_at.date() + timedelta(days=policy.delivery_days)


def warranty(unit: UnitFacts, policy: Policy, delivered: date) -> tuple[date, str]:
    """The later of the manufacturer's warranty and the legal guarantee, and which it is."""
    manufacturer_end = unit.warranty_end
    months = policy.product(unit.sku).manufacturer_warranty_months
    if months is not None:
        manufacturer_end = max(manufacturer_end, add_months(unit.sold_at.date(), months))
    legal_end = add_months(delivered, policy.legal_warranty_months)
    if policy.legal_warranty_months and legal_end > manufacturer_end:
        return legal_end, "legal"
    return manufacturer_end, "manufacturer"


def _no(rule: str, policy: Policy, detail: str = "", **params: str) -> Decision:
    explanation = RULES[rule] + (f": {detail}" if detail else "")
    return Decision(False, rule, policy.policy_version, explanation, params=params)


def _unique(items: list[Resolution]) -> tuple[Resolution, ...]:
    return tuple(dict.fromkeys(items))


def decide(
    unit: UnitFacts | None,
    claim: Claim,
    policy: Policy,
    reason: Reason | None,
    today: date,
    open_case: str | None = None,
) -> Decision:
    """Decide a return request. `open_case` is the RMA of the unit's open return, if any."""
    if unit is None:
        what = f"serial {claim.serial}" if claim.serial else f"order {claim.order_ref}"
        return _no("ownership.serial_not_sold", policy, f"no sale of {what} is registered")
    if claim.serial is not None and normalise_serial(claim.serial) != unit.serial:
        return _no("ownership.order_mismatch", policy, f"order {unit.order_ref}")
    if claim.order_ref is not None and claim.order_ref.strip().upper() != unit.order_ref.upper():
        return _no("ownership.order_mismatch", policy, f"serial {unit.serial} is not on that order")
    if claim.email.strip().lower() != unit.customer_email.strip().lower():
        return _no("ownership.email_mismatch", policy)
    if open_case is not None:
        return _no("case.open", policy, open_case, rma=open_case)
    if unit.state != "in_field":
        return _no("unit.not_in_field", policy, f"its state is {unit.state}", state=unit.state)
    if reason is None:
        return _no("reason.unknown", policy, claim.reason[:60])

    delivered = delivery_date(unit, policy)
    window_ends = delivered + timedelta(days=policy.return_window_days)
    warranty_ends, basis = warranty(unit, policy, delivered)
    in_window = today <= window_ends

    def answer(
        eligible: bool,
        rule: str,
        detail: str,
        offered: list[Resolution] | None = None,
        fee: Decimal | None = None,
    ) -> Decision:
        return Decision(
            eligible,
            rule,
            policy.policy_version,
            f"{RULES[rule]} ({detail})",
            _unique(offered or []),
            window_ends=window_ends,
            warranty_ends=warranty_ends,
            warranty_basis=basis,
            restocking_fee=fee,
            currency=unit.currency,
        )

    if (
        in_window
        and reason.change_of_mind
        and unit.regulated in policy.hygiene_sealed_only
        and claim.sealed is not True
    ):
        return _no("regulated.hygiene_seal", policy, f"{unit.sku} is a {unit.regulated} product")

    if reason.code == "damage.transit":
        report_by = delivered + timedelta(days=policy.transit_damage_report_days)
        if today > report_by:
            return _no(
                "damage.report_window",
                policy,
                f"within {policy.transit_damage_report_days} days of delivery (by "
                f"{report_by.isoformat()})",
                report_by=report_by.isoformat(),
            )

    product = policy.product(unit.sku)
    if in_window:
        offered: list[Resolution] = list(policy.window_resolutions)
        if not reason.change_of_mind:
            offered += policy.warranty_resolutions
            if reason.warranty and policy.advance_replacement:
                offered.append("advance_replacement")
        fee = None
        if (
            policy.restocking_fee_percent > 0
            and any(matches(reason.code, p) for p in policy.restocking_fee_reasons)
            and claim.sealed is not True
        ):
            fee = (unit.price * Decimal(str(policy.restocking_fee_percent)) / 100).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
        detail = f"until {window_ends.isoformat()}"
        if fee:
            detail += f"; a {policy.restocking_fee_percent:g}% restocking fee applies to a refund"
        return answer(True, "window.return", detail, offered, fee)

    accepted_after = product.after_window_reasons or []
    if not any(matches(reason.code, pattern) for pattern in accepted_after):
        return answer(False, "window.closed", f"closed on {window_ends.isoformat()}")
    if today > warranty_ends:
        return answer(
            False, "warranty.expired", f"the {basis} warranty ended {warranty_ends.isoformat()}"
        )
    offered = list(policy.warranty_resolutions)
    if reason.warranty and policy.advance_replacement:
        offered.append("advance_replacement")
    if reason.code == "damage.transit":
        offered = ["replace", "refund"]
    note = (
        f"; {policy.legal_warranty_note}" if basis == "legal" and policy.legal_warranty_note else ""
    )
    return answer(True, f"warranty.{basis}", f"until {warranty_ends.isoformat()}{note}", offered)
