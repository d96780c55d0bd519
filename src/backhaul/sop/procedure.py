"""Pure rules: what a product's procedure needs from a site (the capability check), and the
standard operating procedure itself as a document model (sections of paragraphs, lists and
tables) built only from the configuration it is given. No session, no clock, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from backhaul.catalog.checklists import Checklist, default_checklist
from backhaul.catalog.models import Regulated
from backhaul.kit.auth import PERMISSIONS, Role
from backhaul.processing import certificates, grading, labels, lifecycle
from backhaul.processing.disposition import RULES, Policy
from backhaul.processing.faults import Taxonomy
from backhaul.processing.lifecycle import Step

# --- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductFacts:
    """The product as the procedure needs it."""

    sku: str
    name: str
    brand: str
    family: str
    category: str
    serial_pattern: str
    regulated: str  # none, health, biometric, children
    battery: str  # none, li_ion, li_metal, other


@dataclass(frozen=True)
class SiteFacts:
    """The hub the procedure runs at."""

    code: str
    name: str
    region: str
    timezone: str
    capabilities: tuple[str, ...]
    labour_rate: Decimal
    currency: str


@dataclass(frozen=True)
class Release:
    """The product's current firmware release."""

    version: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Plan:
    """The product's current test plan."""

    version: int
    tests: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Inputs:
    """Everything the procedure is built from."""

    product: ProductFacts
    site: SiteFacts
    release: Release | None
    supported_releases: tuple[str, ...]
    plan: Plan | None
    max_test_attempts: int
    disposition: Policy
    base_currency: str
    taxonomy: Taxonomy
    test_rig: str  # the site capability the product's test plan runs on
    policy_capabilities: tuple[str, ...] = ()  # the region's return policy lists these
    reverify_share: float = 0.0
    step_minutes: Mapping[str, float] = field(default_factory=dict)
    step_permission: Mapping[Step, str] = field(default_factory=dict)
    generated_on: str = ""
    checklist: Checklist | None = None  # the product's inspection checklist; None: the default

    def inspection_checklist(self) -> Checklist:
        """The checklist units of the product are inspected against."""
        if self.checklist is not None:
            return self.checklist
        return default_checklist(has_battery=self.product.battery != "none")


# --- the capability check ----------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """A capability the procedure needs, and why."""

    capability: str
    why: str


@dataclass(frozen=True)
class Check:
    """What the procedure needs, what the site lacks, and gaps in the configuration."""

    site: str
    needs: tuple[Need, ...]
    missing: tuple[Need, ...]
    configuration_gaps: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.configuration_gaps


def regulated(product: ProductFacts) -> bool:
    """Health, biometric and children's products: purge and a second verifier (invariant 10)."""
    return product.regulated != "none"


def needs(inputs: Inputs) -> tuple[Need, ...]:
    """What a site must be able to do to take this product through its procedure."""
    product = inputs.product
    found: dict[str, list[str]] = {}

    def need(capability: str, why: str) -> None:
        found.setdefault(capability, []).append(why)

    need("inspect", "receive and inspect every unit (checklist, packaging, fault codes)")
    if regulated(product):
        need(
            "wipe:purge",
            f"{product.regulated} product: NIST SP 800-88 purge or destroy (clear is refused)",
        )
        need("second_verifier", f"{product.regulated} product: a second person verifies each wipe")
    else:
        need("wipe:clear", "NIST SP 800-88 clear (or purge) of the user data")
    if inputs.reverify_share > 0:
        need(
            "second_verifier",
            f"{inputs.reverify_share:.0%} of wipes are re-verified by another person",
        )
    if inputs.release is not None:
        need("flash", f"flash firmware {inputs.release.version} and read its hash back")
    if inputs.plan is not None:
        need(
            inputs.test_rig,
            f"the functional test rig for test plan version {inputs.plan.version} "
            f"({len(inputs.plan.tests)} measurements)",
        )
    if product.battery != "none":
        need(
            "battery_quarantine",
            f"{product.battery.replace('_', '-')} battery: a swollen or leaking one is "
            "quarantined and never flown",
        )
    for capability in inputs.policy_capabilities:
        need(capability, f"the {inputs.site.region} return policy lists it for {product.sku}")
    return tuple(Need(name, "; ".join(whys)) for name, whys in found.items())


def check(inputs: Inputs) -> Check:
    """The site's capabilities against the procedure's needs; what the configuration lacks."""
    wanted = needs(inputs)
    have = set(inputs.site.capabilities)
    gaps = []
    if inputs.release is None:
        gaps.append(f"{inputs.product.sku} has no current firmware release: flash cannot pass")
    if inputs.plan is None:
        gaps.append(f"{inputs.product.sku} has no test plan: test cannot pass")
    return Check(
        inputs.site.code,
        wanted,
        tuple(n for n in wanted if n.capability not in have),
        tuple(gaps),
    )


# --- the document model ------------------------------------------------------------------


@dataclass(frozen=True)
class Para:
    """A paragraph (`code` and **bold** are the only inline marks)."""

    text: str


@dataclass(frozen=True)
class Bullets:
    """A bulleted list."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Grid:
    """A table with a header row."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Para | Bullets | Grid


@dataclass(frozen=True)
class Section:
    """A titled part of the procedure (level 2 or 3)."""

    title: str
    blocks: tuple[Block, ...]
    level: int = 2


@dataclass(frozen=True)
class Procedure:
    """The whole document, and the capability check it carries."""

    title: str
    intro: tuple[str, ...]
    sections: tuple[Section, ...]
    check: Check
    file_stem: str


# --- building it -------------------------------------------------------------------------


def _number(value: Any) -> str:
    """A limit as a person writes it: 80, not 80.0 (plans store JSON numbers)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def limits_text(test: Mapping[str, Any]) -> str:
    """A test's pass criterion in words."""
    unit = f" {test['unit']}" if test.get("unit") else ""
    if test.get("equals") is not None:
        return f"must be {str(test['equals']).lower()}"
    bounds = []
    if test.get("min") is not None:
        bounds.append(f"at least {_number(test['min'])}{unit}")
    if test.get("max") is not None:
        bounds.append(f"at most {_number(test['max'])}{unit}")
    return " and ".join(bounds) or "recorded"


def roles_for(permission: str) -> str:
    """The roles a permission allows, in the order of the Role enum."""
    allowed = PERMISSIONS.get(permission, frozenset())
    return ", ".join(role.value for role in Role if role in allowed)


def _code(text: str) -> str:
    return f"`{text}`"


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(Decimal('0.01'))} {currency}"


def _condition_examples(sku: str) -> list[str]:
    examples = [
        f"new stock: label SKU {_code(grading.condition_sku(sku, grading.NEW))}, "
        f"reads {_code(_label(sku, grading.NEW, 'A').condition_text)}"
    ]
    for grade in grading.Cosmetic:
        condition = f"RF-{grade.value}"
        examples.append(
            f"refurbished grade {grade.value}: label SKU "
            f"{_code(grading.condition_sku(sku, condition))}, reads "
            f"{_code(_label(sku, condition, grade.value).condition_text)}"
        )
    return examples


def _label(sku: str, condition: str, grade: str) -> labels.Label:
    return labels.Label(
        serial="SERIAL",
        sku=sku,
        condition=condition,
        condition_sku=grading.condition_sku(sku, condition),
        grade=grade,
        site="",
    )


def _step_detail(step: Step, inputs: Inputs) -> tuple[list[str], list[str], list[str]]:
    """Tools, pass criteria and what happens on failure, for one step, from the configuration."""
    product, release, plan = inputs.product, inputs.release, inputs.plan
    share = inputs.reverify_share
    hold = (
        f"a wipe drawn for re-verification ({share:.0%} of wipes are) holds the unit here "
        "until another person re-verifies it"
        if share > 0
        else ""
    )
    wiped = "a sanitize pass (clear or purge) or a destroy record after the latest receipt"
    match step:
        case Step.sell:
            return (
                ["sales import (`backhaul units import`, CSV or JSON) or the `sell` API step"],
                [f"the serial matches the product's pattern {_code(product.serial_pattern)}"],
                ["a bad row is kept in the exception queue with its reason; nothing is dropped"],
            )
        case Step.authorize:
            return (
                ["the returns portal (order number and email, or serial)"],
                [f"eligible under the {inputs.site.region} return policy; the decision cites it"],
                ["not eligible: the customer is told which rule decided"],
            )
        case Step.ship:
            return (
                ["carrier tracking webhooks (HMAC-verified); the built-in drop-off label"],
                ["a tracking event for the unit's shipment"],
                ["an event for an unknown tracking number goes to the exception queue"],
            )
        case Step.receive:
            return (
                ["barcode scanner at the station page (`/station`)"],
                [f"the serial is known and the unit arrives at {inputs.site.code}"],
                [
                    "an unknown serial, or one never authorised for return, is received into "
                    "the exception queue for a supervisor"
                ],
            )
        case Step.inspect:
            checklist = inputs.inspection_checklist()
            which = (
                f"inspection checklist version {checklist.version}"
                if checklist.version is not None
                else "the default inspection checklist (the product has none of its own)"
            )
            criteria = [f"checked against {which}", "no visible damage that stops the unit working"]
            if checklist.packaging_check:
                criteria.append(
                    "packaging recorded as sealed, opened or damaged (sealed only when the "
                    "factory seal is unbroken)"
                )
            if checklist.accessories:
                criteria.append(
                    "accessories ticked present: "
                    + ", ".join(checklist.accessories)
                    + " (the server records whether the set is complete)"
                )
            if checklist.cosmetic_points:
                criteria.append(
                    "cosmetic points looked at, damage recorded where found: "
                    + ", ".join(checklist.cosmetic_points)
                )
            if checklist.photos_required:
                criteria.append(
                    f"{checklist.photos()} of the unit uploaded before the inspection is "
                    "recorded (it is refused with fewer)"
                )
            failure = [
                "fail: `inspection_failed`; record fault codes from the taxonomy "
                f"(version {inputs.taxonomy.version}); the unit is wiped, then recycled by rule I1"
            ]
            if checklist.battery_check:
                criteria.append("battery flat and dry: record ok, swollen or leaking")
                failure.append(
                    "swollen or leaking battery: `quarantined` at once (a hazard), no air shipment"
                )
            return (
                ["the inspection checklist on the station page", "camera for photos"],
                criteria,
                failure,
            )
        case Step.sanitize:
            methods = "purge (or destroy)" if regulated(product) else "clear or purge (or destroy)"
            technique = ", ".join(
                f"{m}: {t.replace('_', ' ')}" for m, t in certificates.DEFAULT_TECHNIQUE.items()
            )
            criteria = [
                f"NIST SP 800-88 method {methods}; default technique by method ({technique})",
                "verification (full or sampling) passed",
                "device-cloud account deactivated, or none found",
            ]
            if regulated(product):
                criteria.append(
                    "a second person verifies the wipe and is named on the certificate "
                    "(`verified_by`; not the person who wiped)"
                )
            tools = [
                "the wipe tool, named with its version on every record",
                "the device-cloud deactivation (through the station's device adapter)",
            ]
            if regulated(product):
                tools.append("a second, trained person to verify")
            failure = [
                "verification failed or the account is still bound: `quarantined`; "
                "sanitize again from there"
            ]
            if share > 0:
                failure.append(
                    f"{share:.0%} of passed wipes are drawn at random for re-verification by a "
                    "technician or supervisor who neither wiped nor verified; a failed "
                    "re-verification is escalated and quarantines the unit"
                )
            return tools, criteria, failure
        case Step.flash:
            if release is None:
                return (["flash rig"], ["no current release is configured"], ["cannot pass"])
            others = ", ".join(inputs.supported_releases) or "none"
            return (
                [
                    f"flash rig with image {release.version} "
                    f"(sha256 {_code(release.sha256)}, {release.size:,} bytes)"
                ],
                [
                    f"read-back version is {release.version} and the read-back sha256 equals "
                    "the image's",
                    f"only the current release may be flashed (still supported in stock: {others})",
                ],
                ["a mismatch: `firmware_failed`; flash again (attempts are counted) or route it"],
            )
        case Step.test:
            if plan is None:
                return (["test rig"], ["no test plan is configured"], ["cannot pass"])
            return (
                [f"test rig ({_code(inputs.test_rig)}) running plan version {plan.version}"],
                [
                    f"every required measurement of plan version {plan.version} within its "
                    "limits (see the table below)"
                ],
                [
                    "any measurement out of limits: `test_failed`, with fault codes; retest up "
                    f"to {inputs.max_test_attempts} attempts, then disposition"
                ],
            )
        case Step.grade:
            return (
                ["light booth and the grading criteria below"],
                [
                    "cosmetic grade A-D and functional pass/fail; may-sell-as-new is computed: "
                    "sealed package with every accessory on the checklist, never activated, "
                    "functional pass and grade A"
                ],
                ["no failure outcome: a low grade changes the route, not the state"],
            )
        case Step.disposition:
            return (
                ["the disposition engine (a supervisor may override with a written reason)"],
                [f"policy {inputs.disposition.version} ({inputs.disposition.scope}); rules below"],
                ["no failure outcome: every route is recorded with the rule that chose it"],
            )
        case Step.repackage:
            return (
                [
                    "label printer: PDF 4 x 2 in, or ZPL for a 203 dpi Zebra",
                    "refurbished or original box",
                ],
                [
                    "the full chain after the latest receipt, in order: passed inspection, "
                    "sanitize pass with a certificate, flash to "
                    f"{release.version if release else 'the current release'}, test against plan "
                    f"version {plan.version if plan else '?'}, grade, restock disposition",
                    "the label's SKU carries the condition (see Grading and labelling)",
                ]
                + ([hold] if hold else []),
                ["refused with the missing link named; nothing becomes `available` without it"],
            )
        case Step.send_to_repair | Step.harvest | Step.recycle | Step.ship_to_customer:
            criteria = [wiped] + ([hold] if hold else [])
            if step is Step.ship_to_customer and product.battery != "none":
                criteria.append("a unit with a battery hazard ships by ground only")
            return (
                [
                    {
                        Step.send_to_repair: "hand-over to a repair partner site",
                        Step.harvest: "parts pool (parts keep the donor serial)",
                        Step.recycle: "hand-over to a recycler site, with the weight",
                        Step.ship_to_customer: "carrier and tracking number",
                    }[step]
                ],
                criteria,
                ["refused until the wipe (and any re-verification) is recorded"],
            )
        case Step.return_from_repair:
            return (
                [f"the station page at {inputs.site.code}"],
                ["parts used and cost recorded"],
                ["the unit goes through inspect, sanitize, flash and test again"],
            )
        case Step.write_off:
            return (["the station page or API"], ["a written reason"], ["-"])
    return [], [], []  # pragma: no cover - every step is matched above


def _steps_section(inputs: Inputs) -> list[Section]:
    sections = []
    for number, transition in enumerate(lifecycle.TABLE, start=1):
        step = transition.step
        tools, criteria, failure = _step_detail(step, inputs)
        permission = inputs.step_permission.get(step, "steps.process")
        outcome = [f"from {', '.join(_code(str(s)) for s in transition.sources)}"]
        if transition.on_pass is not None:
            outcome.append(f"pass: {_code(transition.on_pass.value)}")
        else:
            outcome.append("the route decides the next position")
        if transition.on_fail is not None:
            outcome.append(f"fail: {_code(transition.on_fail.value)}")
        if transition.on_hazard is not None:
            outcome.append(f"hazard: {_code(transition.on_hazard.value)}")
        minutes = inputs.step_minutes.get(step.value)
        lines = [
            f"**Who:** {roles_for(permission)} (permission {_code(permission)})",
            f"**Moves the unit:** {'; '.join(outcome)}",
            f"**Records:** {transition.records}",
            f"**Tools:** {'; '.join(tools)}",
            f"**Pass criteria:** {'; '.join(criteria)}",
            f"**On failure:** {'; '.join(failure)}",
        ]
        if minutes is not None:
            cost = inputs.site.labour_rate * Decimal(str(minutes)) / 60
            lines.append(
                f"**Standard time:** {minutes:g} min, "
                f"{_money(cost, inputs.site.currency)} at {inputs.site.code}'s labour rate"
            )
        blocks: list[Block] = [Bullets(tuple(lines))]
        if step is Step.test and inputs.plan is not None:
            blocks.append(
                Grid(
                    ("measurement", "pass criterion", "required"),
                    tuple(
                        (
                            _code(str(test["id"])),
                            limits_text(test),
                            "yes" if test.get("required", True) else "no",
                        )
                        for test in inputs.plan.tests
                    ),
                )
            )
        sections.append(Section(f"{number}. {step.value}", tuple(blocks), level=3))
    return sections


def build(inputs: Inputs) -> Procedure:
    """The standard operating procedure for the product at the site."""
    product, site = inputs.product, inputs.site
    verdict = check(inputs)
    capability_rows = tuple(
        (
            _code(n.capability),
            n.why,
            "yes" if n.capability in site.capabilities else "**MISSING**",
        )
        for n in verdict.needs
    )
    check_blocks: list[Block] = [
        Para(
            f"What this procedure needs from a hub, against {site.code}'s declared capabilities "
            f"({', '.join(_code(c) for c in site.capabilities) or 'none'})."
        ),
        Grid(("capability", "needed for", f"{site.code} has it"), capability_rows),
    ]
    if verdict.missing:
        check_blocks.append(
            Para(
                f"**Missing at {site.code}:** "
                + ", ".join(_code(n.capability) for n in verdict.missing)
                + ". Arrange them, or route this product's returns to another hub."
            )
        )
    else:
        check_blocks.append(Para(f"{site.code} has every capability this procedure needs."))
    if verdict.configuration_gaps:
        check_blocks.append(
            Bullets(tuple(f"**Configuration:** {g}" for g in verdict.configuration_gaps))
        )

    handling: list[str] = []
    rating = certificates.confidentiality(Regulated(product.regulated))
    if regulated(product):
        handling.append(
            f"**Regulated ({product.regulated}):** purge-level sanitization only (clear is "
            "refused), and a second person verifies every wipe; its certificate names both "
            f"and rates the data {rating} before sanitization"
        )
    else:
        handling.append(
            "Not regulated: clear or purge; a second verifier is optional "
            f"(data rated {rating} before sanitization)"
        )
    if product.battery != "none":
        hazards = [f for f in inputs.taxonomy.codes.values() if f.hazard]
        handling.append(
            f"**Battery ({product.battery.replace('_', '-')}):** inspect the battery on every "
            "unit; swollen or leaking stops the line: the unit goes to `quarantined`, is wiped "
            "there, may not fly (ground transport only) and is recycled by rule Q2. Hazard fault "
            "codes: " + ", ".join(_code(f.code) for f in hazards)
        )
    else:
        handling.append("No battery: no battery hazard handling")

    role_rows = tuple(
        (
            role.value,
            ", ".join(
                _code(name) for name, allowed in sorted(PERMISSIONS.items()) if role in allowed
            ),
        )
        for role in Role
    )
    grades = tuple(
        (grade.value, meaning, grading.condition_sku(product.sku, f"RF-{grade.value}"))
        for grade, meaning in inputs.inspection_checklist().criteria().items()
    )
    policy = inputs.disposition
    thresholds = (
        ("restock minimum grade", policy.restock_min_grade),
        (
            "recovery by grade (share of sale price)",
            ", ".join(f"{g} {v}" for g, v in policy.recovery.items()),
        ),
        ("handling cost", f"{policy.handling_cost} {inputs.base_currency}"),
        ("repair only when the estimate is at most", f"{policy.max_repair_share} of recovery"),
        ("repair success rate", str(policy.repair_success)),
        ("a repaired unit sells as grade", policy.repaired_grade),
        ("warranty obligation (share of price)", str(policy.warranty_obligation)),
        (
            "harvest value / minutes",
            f"{policy.harvest_value} {inputs.base_currency} / {policy.harvest_minutes}",
        ),
        (
            "recycling value / cost",
            f"{policy.recycling_value} / {policy.recycling_cost} {inputs.base_currency}",
        ),
    )
    faults = tuple(
        (
            _code(f.code),
            f.name,
            "yes" if f.hazard else "no",
            "yes" if f.repairable else "no",
            "-" if f.minutes is None else f"{f.parts} {inputs.base_currency} + {f.minutes} min",
        )
        for f in inputs.taxonomy.leaves()
    )
    documented = [
        "Every sanitize pass issues a certificate of sanitization following "
        f"{certificates.STANDARD}, with: "
        + "; ".join(
            f"{heading.lower()} ({', '.join(label.lower() for label in labels_)})"
            for heading, labels_ in certificates.field_sections()
        ),
        f"The certificate is signed: {certificates.ALGORITHM}. Anyone checks it offline with "
        "`backhaul certificates verify FILE --public-key KEY.pem` (the key is published at "
        "`GET /api/v1/keys/certificates`); `--record` also checks it against the database",
        "Get it as JSON at `GET /api/v1/units/{serial}/certificate` or as PDF at "
        "`GET /api/v1/units/{serial}/certificate.pdf`",
    ]
    if inputs.reverify_share > 0:
        documented.append(
            f"{inputs.reverify_share:.0%} of passed wipes are drawn at random (an unpredictable "
            "source) for re-verification by a technician or supervisor who neither wiped nor "
            "verified; the result (method, tool, notes) is recorded beside the certificate and "
            "reported with it; a failure raises an exception-queue item and quarantines the unit "
            "(`backhaul reverify list`, `POST /api/v1/units/{serial}/reverification`). A drawn "
            "unit written off as lost, stolen or destroyed is not held; a supervisor withdraws "
            "its draw with a written reason, reported with the certificate "
            "(`backhaul reverify withdraw`)"
        )
    else:
        documented.append("Re-verification sampling is off (BACKHAUL_REVERIFY_SHARE = 0)")

    sections = [
        Section("Capability check", tuple(check_blocks)),
        Section("Product and handling", (Bullets(tuple(handling)),)),
        Section(
            "Roles",
            (
                Para(
                    "Who may do what (scope: a technician works only at their own sites; a "
                    "supervisor overrides a route or a failed step only with a written reason)."
                ),
                Grid(("role", "permissions"), role_rows),
            ),
        ),
        Section(
            "The steps",
            (
                Para(
                    "Every step of the unit lifecycle, in the order of the lifecycle table. A "
                    "unit's state changes only through these steps, each allowed only from the "
                    "positions listed; the server decides the outcome from the evidence."
                ),
            ),
        ),
        *_steps_section(inputs),
        Section(
            "Grading and labelling",
            (
                Grid(("cosmetic grade", "meaning", "refurbished label SKU"), grades),
                Para(
                    "Refurbished is never sold as new: the condition is `new` only when "
                    "inspection saw a sealed package, no account binding was ever recorded, the "
                    "functional grade is pass and the cosmetic grade is A; otherwise `RF-<grade>`."
                ),
                Bullets(tuple(_condition_examples(product.sku))),
                Para(
                    "The label prints the condition SKU, the condition in words, the serial and "
                    f"the site, and a GS1-128 barcode carrying the serial under application "
                    f"identifier ({labels.AI_SERIAL}), human-readable as "
                    f"{_code(_label(product.sku, grading.NEW, 'A').gs1_text)}; as PDF (4 x 2 in) "
                    "or ZPL (203 dpi). Stock is kept by (SKU, condition)."
                ),
            ),
        ),
        Section(
            "Disposition",
            (
                Para(
                    f"Policy version {policy.version}, resolved for {product.sku} in region "
                    f"{site.region} ({policy.scope}); money in {inputs.base_currency}. Rules, "
                    "in the order they are tried:"
                ),
                Grid(("rule", "when", "route"), tuple((_code(r), w, t) for r, w, t in RULES)),
                Grid(("threshold", "value"), thresholds),
            ),
        ),
        Section(
            "Fault codes",
            (
                Para(
                    f"Taxonomy version {inputs.taxonomy.version}; "
                    f"{_code(inputs.taxonomy.no_fault_found)} (no fault found) is an explicit "
                    "outcome and is never combined with another code."
                ),
                Grid(("code", "name", "hazard", "repairable", "repair estimate"), faults),
            ),
        ),
        Section("How wipes are documented", (Bullets(tuple(documented)),)),
    ]
    intro = (
        f"{product.brand} · {product.name} ({product.category}, family {product.family}) at "
        f"{site.name}, region {site.region}, time zone {site.timezone}.",
        "Built from the configuration"
        + (f" on {inputs.generated_on}" if inputs.generated_on else "")
        + ": current firmware "
        + (inputs.release.version if inputs.release else "none")
        + ", test plan version "
        + (str(inputs.plan.version) if inputs.plan else "none")
        + f", disposition policy {policy.version}, fault taxonomy version "
        f"{inputs.taxonomy.version}, labour rate {_money(site.labour_rate, site.currency)}/h. "
        "Regenerate it when any of these change.",
    )
    return Procedure(
        title=f"Standard operating procedure: {product.sku} at {site.code}",
        intro=intro,
        sections=tuple(sections),
        check=verdict,
        file_stem=f"SOP-{product.sku}-{site.code}",
    )
