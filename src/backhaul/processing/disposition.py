"""Pure rule: which route a unit takes. Guard rules first (nothing un-wiped is handed over,
hazards and failed inspections are recycled), then the economics: the expected net value of
every legal route from the grade, test outcome, fault codes, warranty obligation, repair
estimate, recovery and recycling values; the best one wins. Every decision cites the policy
version and scope it used, and says why in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backhaul.processing.faults import Taxonomy
from backhaul.processing.lifecycle import HANDOFF_ROUTES, Route
from backhaul.returns.config import ConfigError, load_model

SOURCE = "processing/data/disposition.toml"
GRADES = ("A", "B", "C", "D")
CENT = Decimal("0.01")
Grade = Literal["A", "B", "C", "D"]
Share = Annotated[Decimal, Field(ge=0, le=10)]
Amount = Annotated[Decimal, Field(ge=0, le=1_000_000)]
Minutes = Annotated[int, Field(ge=0, le=10_000)]
# On a tie the earlier route wins: keep the unit whole and in the brand's hands first.
PREFERENCE = (Route.restock, Route.repair, Route.harvest, Route.recycle)


class _PolicyPatch(BaseModel):
    """Any subset of a policy: defaults, a region, a product, or a product in a region."""

    model_config = ConfigDict(extra="forbid")
    restock_min_grade: Grade | None = None
    recovery: dict[Grade, Share] | None = None
    channels: dict[str, Share] | None = None
    other_channel: Share | None = None
    handling_cost: Amount | None = None
    repair_parts: Amount | None = None
    repair_minutes: Minutes | None = None
    repair_success: Annotated[Decimal, Field(ge=0, le=1)] | None = None
    repaired_grade: Grade | None = None
    max_repair_share: Share | None = None
    warranty_obligation: Share | None = None
    harvest_value: Amount | None = None
    harvest_minutes: Minutes | None = None
    recycling_value: Amount | None = None
    recycling_cost: Amount | None = None


class _ProductPatch(_PolicyPatch):
    regions: dict[str, _PolicyPatch] = Field(default_factory=dict)


class _PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Annotated[str, Field(min_length=1, max_length=40)]
    base_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    fx: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Annotated[Decimal, Field(gt=0)]] = Field(
        default_factory=dict
    )
    defaults: _PolicyPatch
    regions: dict[str, _PolicyPatch] = Field(default_factory=dict)
    products: dict[str, _ProductPatch] = Field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """The values and thresholds for one product in one region, and where they came from."""

    version: str
    scope: str
    restock_min_grade: str
    recovery: Mapping[str, Decimal]
    channels: Mapping[str, Decimal]
    other_channel: Decimal
    handling_cost: Decimal
    repair_parts: Decimal
    repair_minutes: int
    repair_success: Decimal
    repaired_grade: str
    max_repair_share: Decimal
    warranty_obligation: Decimal
    harvest_value: Decimal
    harvest_minutes: int
    recycling_value: Decimal
    recycling_cost: Decimal

    def recovery_value(self, price: Decimal, grade: str, channel: str) -> Decimal:
        """What a unit of this grade fetches when resold through the channel it was sold in."""
        factor = self.channels.get(channel.lower(), self.other_channel)
        return price * self.recovery.get(grade, Decimal(0)) * factor


@dataclass(frozen=True)
class PolicyBook:
    """The parsed policy file: resolve a (product, region) to its policy."""

    version: str
    layers: dict[str, dict[str, Any]]
    base_currency: str = "USD"
    fx: Mapping[str, Decimal] = field(default_factory=dict)

    def to_base(self, amount: Decimal, currency: str) -> Decimal | None:
        """The amount in the policy's base currency; None when the file has no rate for it."""
        if currency == self.base_currency:
            return amount
        rate = self.fx.get(currency)
        return None if rate is None else amount / rate

    def resolve(self, sku: str, region: str) -> Policy:
        """Defaults, then the region, the product, the product in the region: the last wins."""
        values: dict[str, Any] = {}
        scope = ["defaults"]
        for name in ("defaults", f"region:{region.upper()}", f"product:{sku}", f"{sku}/{region}"):
            layer = self.layers.get(name)
            if layer is None:
                continue
            if name != "defaults":
                scope.append(name.removeprefix("region:").removeprefix("product:"))
            for key, value in layer.items():
                if isinstance(value, dict):
                    values[key] = {**values.get(key, {}), **value}
                else:
                    values[key] = value
        return Policy(version=self.version, scope=" < ".join(scope), **values)


def parse_policy(text: str, source: str = SOURCE) -> PolicyBook:
    """A policy book from TOML; the defaults must be complete; mistakes name file and line."""
    model = load_model(_PolicyFile, text, source)

    def values(patch: _PolicyPatch) -> dict[str, Any]:
        return {
            key: value
            for key, value in patch.model_dump(exclude={"regions"}).items()
            if value is not None
        }

    defaults = values(model.defaults)
    missing = sorted(set(_PolicyPatch.model_fields) - set(defaults))
    if missing:
        raise ConfigError(source, None, f"defaults.{missing[0]}", "the defaults must set it")
    layers = {"defaults": defaults}
    for region, patch in model.regions.items():
        layers[f"region:{region.upper()}"] = values(patch)
    for sku, product in model.products.items():
        layers[f"product:{sku}"] = values(product)
        for region, patch in product.regions.items():
            layers[f"{sku}/{region.upper()}"] = values(patch)
    fx = {model.base_currency: Decimal(1), **model.fx}
    return PolicyBook(model.version, layers, model.base_currency, fx)


@cache
def policy_book() -> PolicyBook:
    """The policy shipped in the package."""
    files = resources.files("backhaul.processing")
    return parse_policy(files.joinpath("data/disposition.toml").read_text("utf-8"))


@dataclass(frozen=True, slots=True)
class DispositionFacts:
    """What the rules look at."""

    state: str
    inspection_passed: bool | None
    wiped: bool
    cosmetic: str | None
    functional: str | None
    in_warranty: bool
    fault_codes: tuple[str, ...] = ()
    price: Decimal = Decimal(0)
    channel: str = ""
    labour_rate: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Alternative:
    """One legal route and its expected net value (in the policy's base currency)."""

    route: Route
    expected_net_value: Decimal


@dataclass(frozen=True, slots=True)
class Decision:
    """The route, the rule (policy version and rule id) that chose it, the reason, the options."""

    route: Route
    rule: str
    reason: str
    alternatives: tuple[Alternative, ...] = ()
    scope: str = ""
    repair_estimate: Decimal | None = None
    excluded: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """The decision as the step response and the history carry it."""
        return {
            "route": self.route.value,
            "rule": self.rule,
            "reason": self.reason,
            "alternatives": [
                {"route": a.route.value, "expected_net_value": str(a.expected_net_value)}
                for a in self.alternatives
            ],
            "policy": self.scope,
            "repair_estimate": None if self.repair_estimate is None else str(self.repair_estimate),
        }


def repair_estimate(
    policy: Policy, taxonomy: Taxonomy, fault_codes: tuple[str, ...], labour_rate: Decimal
) -> Decimal:
    """Parts plus labour minutes at the site's hourly rate, summed over the faults that name a
    repair; the policy's base repair when none does."""
    priced = [
        taxonomy.codes[code]
        for code in fault_codes
        if code in taxonomy.codes and taxonomy.codes[code].minutes is not None
    ]
    parts = sum((f.parts or Decimal(0) for f in priced), Decimal(0)) if priced else None
    minutes = sum(f.minutes or 0 for f in priced) if priced else None
    if parts is None or minutes is None:
        parts, minutes = policy.repair_parts, policy.repair_minutes
    return parts + Decimal(minutes) * labour_rate / 60


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _failed(f: DispositionFacts) -> bool:
    return f.state in ("test_failed", "firmware_failed") or f.functional == "fail"


# Every rule a decision may cite (`disposition-<version>/<rule>`), in the order they are tried,
# with when it applies and the route it chooses (the SOP and docs/stations.md print these).
RULES: tuple[tuple[str, str, str], ...] = (
    ("Q1", "not wiped since the latest receipt", "quarantine (nothing un-wiped is handed over)"),
    ("Q2", "quarantined, or a hazard fault code, and wiped", "recycle"),
    ("I1", "failed inspection, wiped", "recycle"),
    ("F1", "neither graded nor failed a test", "quarantine, for a supervisor"),
    ("E1", "otherwise", "the legal route with the highest expected net value"),
)


def _guard(f: DispositionFacts, taxonomy: Taxonomy) -> tuple[str, Route, str] | None:
    """The rules that decide before any economics."""
    if not f.wiped:
        return (
            "Q1",
            Route.quarantine,
            "not wiped since it was received: it stays in quarantine until sanitized or destroyed",
        )
    hazards = [c for c in f.fault_codes if c in taxonomy.codes and taxonomy.codes[c].hazard]
    if f.state == "quarantined" or hazards:
        what = (
            f"hazard fault {', '.join(hazards)}"
            if hazards
            else "quarantined (hazard or stuck account)"
        )
        return "Q2", Route.recycle, f"{what} and wiped: recycle"
    if f.inspection_passed is False:
        return "I1", Route.recycle, "failed inspection: recycle"
    return None


def decide(
    facts: DispositionFacts, policy: Policy | None = None, taxonomy: Taxonomy | None = None
) -> Decision:
    """The route with the highest expected net value among the legal ones, or a guard rule's."""
    from backhaul.processing import faults

    policy = policy or policy_book().resolve("", "")
    taxonomy = taxonomy or faults.taxonomy()
    cite = f"disposition-{policy.version}"
    guard = _guard(facts, taxonomy)
    if guard is not None:
        rule, route, reason = guard
        value = policy.recycling_value - policy.recycling_cost if route is Route.recycle else 0
        only = (Alternative(route, _money(Decimal(value))),)
        return Decision(route, f"{cite}/{rule}", reason, only, scope=policy.scope)

    price = facts.price
    failed = _failed(facts)
    graded_ok = facts.state == "graded" and not failed and facts.cosmetic in GRADES
    if not graded_ok and not failed:
        # Neither graded nor failed (e.g. sanitized after a passed inspection): not ready.
        return Decision(
            Route.quarantine,
            f"{cite}/F1",
            "neither graded nor failed a test: hold in quarantine for a supervisor",
            (Alternative(Route.quarantine, _money(Decimal(0))),),
            scope=policy.scope,
        )
    obligation = price * policy.warranty_obligation if failed and facts.in_warranty else Decimal(0)
    estimate = repair_estimate(policy, taxonomy, facts.fault_codes, facts.labour_rate)
    values: dict[Route, Decimal] = {}
    excluded: list[str] = []

    below_min = graded_ok and GRADES.index(str(facts.cosmetic)) > GRADES.index(
        policy.restock_min_grade
    )
    if graded_ok and not below_min:
        recovery = policy.recovery_value(price, str(facts.cosmetic), facts.channel)
        values[Route.restock] = recovery - policy.handling_cost
    elif graded_ok:
        excluded.append(
            f"restock: grade {facts.cosmetic} is below the minimum {policy.restock_min_grade}"
        )
    if failed or below_min:
        after = policy.repaired_grade
        if facts.cosmetic in GRADES and GRADES.index(str(facts.cosmetic)) < GRADES.index(after):
            after = str(facts.cosmetic)
        recovery = policy.recovery_value(price, after, facts.channel)
        unrepairable = [
            c for c in facts.fault_codes if c in taxonomy.codes and not taxonomy.codes[c].repairable
        ]
        if unrepairable:
            excluded.append(f"repair: {', '.join(unrepairable)} cannot be repaired")
        elif estimate > recovery * policy.max_repair_share:
            excluded.append(
                f"repair: estimate {_money(estimate)} is over {policy.max_repair_share:.0%} "
                f"of the {_money(recovery)} it would recover"
            )
        else:
            values[Route.repair] = (
                policy.repair_success * recovery - estimate - policy.handling_cost
            )
    harvest = policy.harvest_value - Decimal(policy.harvest_minutes) * facts.labour_rate / 60
    values[Route.harvest] = harvest - obligation
    values[Route.recycle] = policy.recycling_value - policy.recycling_cost - obligation

    alternatives = tuple(
        Alternative(route, _money(values[route])) for route in PREFERENCE if route in values
    )
    best = max(alternatives, key=lambda a: a.expected_net_value)  # first of equals wins
    others = "; ".join(
        f"{a.route.value} {a.expected_net_value}" for a in alternatives if a is not best
    )
    reason = f"{best.route.value} has the highest expected net value ({best.expected_net_value})"
    if others:
        reason += f"; the alternatives: {others}"
    if obligation:
        reason += f"; in warranty, any route but repair owes a replacement ({_money(obligation)})"
    if excluded:
        reason += "; ruled out: " + "; ".join(excluded)
    assert best.route not in HANDOFF_ROUTES or facts.wiped  # invariant 2, kept by Q1 above
    ordered = tuple(sorted(alternatives, key=lambda a: -a.expected_net_value))
    return Decision(
        best.route,
        f"{cite}/E1",
        reason,
        ordered,
        policy.scope,
        _money(estimate),
        tuple(excluded),
    )
