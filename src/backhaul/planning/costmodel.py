"""The return cost model: what one product's returns cost per unit sold, with its uncertainty,
what drives it, and when refurbishing beats writing returns off. Pure: no I/O, no clock; the
Monte Carlo draws come from a generator seeded by the caller.

Per return (money in the product's currency; hub costs converted with `fx`):

    refund                 price                                  (the customer is made whole)
    inbound_shipping       inbound_shipping
    labour                 sum over steps of share × minutes / 60 × labour_rate × fx
    materials              materials × fx × (1 + supplier change)
    firmware               firmware_infrastructure × (1 + supplier change)
    overhead               overhead × fx
    tariffs                cross_border_share × tariff_rate × price
    resale               − yield × max(resale value, salvage)
    harvest_and_recycling  − (1 − yield) × salvage
      where resale value = price × sum over channels of mix × share
            salvage      = harvest_share × harvest_value − (1 − harvest_share) × recycling × fx

net per return = the sum; net per unit sold = return rate × net per return; share of revenue =
net per unit sold / price. A unit that passes refurbishment goes wherever it is worth more
(resale or parts), so a higher yield never raises the cost, and since resale and parts are
worth at most the price, a higher return rate never lowers it.

Each term is a product of independent inputs in which no input appears twice, so the expected
cost is the formula evaluated at the inputs' means (the closed form) whenever resale is worth
more than salvage in every trial: the Monte Carlo mean converges to it.

Writing every return off instead: refund, shipping, the labour of `receive` and `sanitize`
(custody and data must be handled either way), overhead, tariffs, and recycling every unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backhaul.planning.distributions import AnyDist, Fixed, Values
from backhaul.planning.scenario import WRITE_OFF_STEPS, Scenario, WhatIf

CHUNK = 1 << 17  # trials drawn at once: bounds memory; fixed, so a seed gives the same result
COMPONENTS = (
    "refund",
    "inbound_shipping",
    "labour",
    "materials",
    "firmware",
    "overhead",
    "tariffs",
    "resale",
    "harvest_and_recycling",
)
HISTOGRAM_BINS = 40
Array = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Adjustments:
    """A what-if's changes to the scenario's prices (all zero: the scenario as written)."""

    fx_change: float = 0.0
    tariff_rate: float | None = None
    cross_border_share: float | None = None
    supplier_price_change: float = 0.0
    labour_rate_change: float = 0.0

    @classmethod
    def of(cls, what_if: WhatIf) -> Adjustments:
        return cls(
            fx_change=what_if.fx_change,
            tariff_rate=what_if.tariff_rate,
            cross_border_share=what_if.cross_border_share,
            supplier_price_change=what_if.supplier_price_change,
            labour_rate_change=what_if.labour_rate_change,
        )


BASE = Adjustments()


def inputs(scenario: Scenario) -> dict[str, AnyDist]:
    """Every input of the model by name (fixed or uncertain), in the order people read them."""
    s = scenario
    named: dict[str, AnyDist] = {
        "returns.rate": s.returns.rate,
        "returns.inbound_shipping": s.returns.inbound_shipping,
        "returns.cross_border_share": s.returns.cross_border_share,
        "hub.labour_rate": s.hub.labour_rate,
        "hub.overhead": s.hub.overhead,
        "hub.materials": s.hub.materials,
        "hub.recycling_cost": s.hub.recycling_cost,
    }
    for step, labour in s.minutes.items():
        named[f"minutes.{step}"] = labour.minutes
    named["refurbishment.yield"] = s.refurbishment.yield_
    named["refurbishment.firmware_infrastructure"] = s.refurbishment.firmware_infrastructure
    named["refurbishment.harvest_share"] = s.refurbishment.harvest_share
    named["refurbishment.harvest_value"] = s.refurbishment.harvest_value
    for channel, spec in s.recovery.items():
        named[f"recovery.{channel}.share"] = spec.share
    if s.returns.downside_rate is not None:
        named["returns.downside_rate"] = s.returns.downside_rate
    return named


def means(scenario: Scenario) -> dict[str, float]:
    """Every input at its mean."""
    return {name: dist.mean for name, dist in inputs(scenario).items()}


@dataclass
class PerReturn:
    """The cost of one return, by component (arrays over trials, or plain numbers)."""

    components: dict[str, Values]
    labour_refurbish: Values
    resale_value: Values
    salvage: Values
    write_off: Values

    @property
    def net(self) -> Values:
        total: Values = 0.0
        for value in self.components.values():
            total = total + value
        return total


def per_return(v: Mapping[str, Values], s: Scenario, adj: Adjustments = BASE) -> PerReturn:
    """The model's formula, for numbers or for arrays of trials alike."""
    price = s.product.price
    fx = s.hub.fx * (1 + adj.fx_change)
    hour_cost = v["hub.labour_rate"] * fx * (1 + adj.labour_rate_change) / 60
    intake: Values = 0.0
    refurbish: Values = 0.0
    for step, labour in s.minutes.items():
        minutes = labour.share * v[f"minutes.{step}"]
        if step in WRITE_OFF_STEPS:
            intake = intake + minutes
        else:
            refurbish = refurbish + minutes
    supplier = 1 + adj.supplier_price_change
    cross_border = (
        v["returns.cross_border_share"]
        if adj.cross_border_share is None
        else adj.cross_border_share
    )
    tariff_rate = s.returns.tariff_rate if adj.tariff_rate is None else adj.tariff_rate
    resale_share: Values = 0.0
    for channel, spec in s.recovery.items():
        resale_share = resale_share + spec.mix * v[f"recovery.{channel}.share"]
    resale_value = price * resale_share
    recycling = v["hub.recycling_cost"] * fx
    harvest = v["refurbishment.harvest_share"]
    salvage = harvest * v["refurbishment.harvest_value"] - (1 - harvest) * recycling
    good_unit = np.maximum(resale_value, salvage)  # a passed unit goes where it is worth more
    yield_ = v["refurbishment.yield"]
    overhead = v["hub.overhead"] * fx
    tariffs = cross_border * tariff_rate * price
    labour_intake = intake * hour_cost
    labour_refurbish = refurbish * hour_cost
    components: dict[str, Values] = {
        "refund": price,
        "inbound_shipping": v["returns.inbound_shipping"],
        "labour": labour_intake + labour_refurbish,
        "materials": v["hub.materials"] * fx * supplier,
        "firmware": v["refurbishment.firmware_infrastructure"] * supplier,
        "overhead": overhead,
        "tariffs": tariffs,
        "resale": -(yield_ * good_unit),
        "harvest_and_recycling": -((1 - yield_) * salvage),
    }
    write_off = (
        price + v["returns.inbound_shipping"] + labour_intake + overhead + tariffs + recycling
    )
    return PerReturn(components, labour_refurbish, good_unit, salvage, write_off)


def closed_form(scenario: Scenario, adj: Adjustments = BASE, *, downside: bool = False) -> float:
    """Net return cost per unit sold with every input at its mean (the expected cost)."""
    values = means(scenario)
    cost = per_return(values, scenario, adj)
    rate = values["returns.downside_rate" if downside else "returns.rate"]
    return float(rate * cost.net)


@dataclass(frozen=True)
class Stats:
    """Mean and the 10th, 50th and 90th percentiles."""

    mean: float
    p10: float
    p50: float
    p90: float

    @classmethod
    def of(cls, values: Array) -> Stats:
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        return cls(float(values.mean()), float(p10), float(p50), float(p90))

    def scaled(self, factor: float) -> Stats:
        return Stats(self.mean * factor, self.p10 * factor, self.p50 * factor, self.p90 * factor)

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "p10": self.p10, "p50": self.p50, "p90": self.p90}


@dataclass(frozen=True)
class TornadoBar:
    """How far the result moves when one input goes from its P10 to its P90."""

    input: str
    low_input: float
    high_input: float
    result_at_low: float
    result_at_high: float

    @property
    def swing(self) -> float:
        return abs(self.result_at_high - self.result_at_low)


@dataclass(frozen=True)
class BreakEven:
    """When refurbishing beats writing every return off."""

    yield_: float | None
    recovery_share: float | None
    recovery_value: float | None
    probability_refurbishing_wins: float
    note: str


@dataclass(frozen=True)
class WhatIfResult:
    """One side-by-side variant."""

    name: str
    net_per_unit_sold: Stats
    share_of_revenue: Stats
    change_from_base: float


@dataclass
class CostResult:
    """Everything the model says about a scenario."""

    sku: str
    currency: str
    price: float
    units_sold: int
    trials: int
    seed: int
    net_per_unit_sold: Stats
    share_of_revenue: Stats
    net_per_return: Stats
    closed_form: float
    breakdown: dict[str, float]
    breakdown_per_return: dict[str, float]
    histogram_edges: list[float]
    histogram_counts: list[int]
    tornado: list[TornadoBar]
    break_even: BreakEven
    downside: Stats | None = None
    downside_share_of_revenue: Stats | None = None
    what_ifs: list[WhatIfResult] = field(default_factory=list)

    @property
    def total_cost(self) -> float:
        return self.net_per_unit_sold.mean * self.units_sold

    def as_json(self) -> dict[str, Any]:
        """The shape of `result.json`."""
        return {
            "sku": self.sku,
            "currency": self.currency,
            "price": self.price,
            "units_sold": self.units_sold,
            "trials": self.trials,
            "seed": self.seed,
            "net_cost_per_unit_sold": self.net_per_unit_sold.as_dict(),
            "share_of_revenue": self.share_of_revenue.as_dict(),
            "net_cost_per_return": self.net_per_return.as_dict(),
            "closed_form_net_cost_per_unit_sold": self.closed_form,
            "total_return_cost": self.total_cost,
            "breakdown": self.breakdown,
            "breakdown_per_return": self.breakdown_per_return,
            "break_even_yield": self.break_even.yield_,
            "break_even_recovery_share": self.break_even.recovery_share,
            "break_even_recovery_value": self.break_even.recovery_value,
            "probability_refurbishing_beats_write_off": (
                self.break_even.probability_refurbishing_wins
            ),
            "break_even_note": self.break_even.note,
            "downside": None
            if self.downside is None
            else {
                "net_cost_per_unit_sold": self.downside.as_dict(),
                "share_of_revenue": (
                    self.downside_share_of_revenue.as_dict()
                    if self.downside_share_of_revenue
                    else None
                ),
            },
            "tornado": [
                {
                    "input": bar.input,
                    "p10_input": bar.low_input,
                    "p90_input": bar.high_input,
                    "result_at_p10": bar.result_at_low,
                    "result_at_p90": bar.result_at_high,
                    "swing": bar.swing,
                }
                for bar in self.tornado
            ],
            "what_ifs": [
                {
                    "name": w.name,
                    "net_cost_per_unit_sold": w.net_per_unit_sold.as_dict(),
                    "share_of_revenue": w.share_of_revenue.as_dict(),
                    "change_from_base": w.change_from_base,
                }
                for w in self.what_ifs
            ],
            "histogram": {"edges": self.histogram_edges, "counts": self.histogram_counts},
        }


@dataclass
class Simulation:
    """Per-trial results of a Monte Carlo run (what the statistics are computed from)."""

    net_per_unit_sold: Array
    net_per_return: Array
    downside: Array | None
    what_ifs: list[Array]
    breakdown_sums: dict[str, float]
    breakdown_per_return_sums: dict[str, float]
    refurbishing_wins: int


def simulate(scenario: Scenario, trials: int, seed: int) -> Simulation:
    """Draw every uncertain input `trials` times (in fixed-size chunks) and run the formula."""
    if trials < 1:
        raise ValueError("trials must be at least 1")
    rng = np.random.default_rng(seed)
    named = inputs(scenario)
    variants = [Adjustments.of(w) for w in scenario.what_if]
    net = np.empty(trials)
    net_per_return = np.empty(trials)
    downside = np.empty(trials) if "returns.downside_rate" in named else None
    what_ifs = [np.empty(trials) for _ in variants]
    sums = dict.fromkeys(COMPONENTS, 0.0)
    per_return_sums = dict.fromkeys(COMPONENTS, 0.0)
    wins = 0
    for start in range(0, trials, CHUNK):
        n = min(CHUNK, trials - start)
        stop = start + n
        v = {name: dist.draw(rng, n) for name, dist in named.items()}
        rate = v["returns.rate"]
        cost = per_return(v, scenario, BASE)
        per_trial = cost.net
        net_per_return[start:stop] = per_trial
        net[start:stop] = rate * per_trial
        rate_sum = float(np.sum(rate)) if isinstance(rate, np.ndarray) else float(rate) * n
        for name, value in cost.components.items():
            if isinstance(value, np.ndarray):
                sums[name] += float((rate * value).sum())
                per_return_sums[name] += float(value.sum())
            else:  # a fixed component: no need to multiply it out trial by trial
                sums[name] += float(value) * rate_sum
                per_return_sums[name] += float(value) * n
        wins += int(np.count_nonzero(np.broadcast_to(per_trial < cost.write_off, (n,))))
        if downside is not None:
            downside[start:stop] = v["returns.downside_rate"] * per_trial
        for index, adjustments in enumerate(variants):
            what_ifs[index][start:stop] = rate * per_return(v, scenario, adjustments).net
    return Simulation(net, net_per_return, downside, what_ifs, sums, per_return_sums, wins)


def tornado(scenario: Scenario, adj: Adjustments = BASE) -> list[TornadoBar]:
    """One-at-a-time sensitivity: each uncertain input at its P10 and P90, the rest at means."""
    named = inputs(scenario)
    base = means(scenario)
    bars = []
    for name, dist in named.items():
        if name == "returns.downside_rate" or not dist.uncertain:
            continue
        results = []
        for p in (0.1, 0.9):
            values = dict(base)
            values[name] = dist.quantile(p)
            results.append(float(values["returns.rate"] * per_return(values, scenario, adj).net))
        bars.append(TornadoBar(name, dist.quantile(0.1), dist.quantile(0.9), *results))
    return sorted(bars, key=lambda bar: -bar.swing)


def break_even(scenario: Scenario, probability: float) -> BreakEven:
    """The yield, and the resale value at the expected yield, where refurbishing every return
    costs the same as writing every return off (inputs at their means)."""
    values = means(scenario)
    cost = per_return(values, scenario)
    extra = float(
        cost.labour_refurbish
        + cost.components["materials"]
        + cost.components["firmware"]
        - values["hub.recycling_cost"] * scenario.hub.fx
    )
    salvage, resale = float(cost.salvage), float(cost.resale_value)
    needed = extra - salvage  # what the passed units must earn above salvage, per return
    yield_: float | None
    if needed <= 0:
        yield_, note = 0.0, "refurbishing beats writing off at any yield"
    elif resale <= salvage:
        yield_, note = None, "resale is worth no more than parts: refurbishing never pays"
    else:
        yield_ = needed / (resale - salvage)
        if yield_ > 1:
            note = f"refurbishing would need a yield of {yield_:.0%}: it never pays"
            yield_ = None
        else:
            note = f"refurbishing pays above a yield of {yield_:.1%}"
    expected_yield = values["refurbishment.yield"]
    price = scenario.product.price
    share: float | None = None
    value: float | None = None
    if expected_yield > 0:
        value = salvage + needed / expected_yield
        share = value / price
    return BreakEven(yield_, share, value, probability, note)


def run(scenario: Scenario, trials: int = 100_000, seed: int = 1) -> CostResult:
    """Run the scenario: Monte Carlo statistics, closed form, tornado, break-even, what-ifs."""
    sim = simulate(scenario, trials, seed)
    price = scenario.product.price
    base = Stats.of(sim.net_per_unit_sold)
    counts, edges = np.histogram(sim.net_per_unit_sold, bins=HISTOGRAM_BINS)
    what_ifs = []
    for what_if, values in zip(scenario.what_if, sim.what_ifs, strict=True):
        stats = Stats.of(values)
        what_ifs.append(
            WhatIfResult(what_if.name, stats, stats.scaled(1 / price), stats.mean - base.mean)
        )
    downside = Stats.of(sim.downside) if sim.downside is not None else None
    return CostResult(
        sku=scenario.product.sku,
        currency=scenario.product.currency,
        price=price,
        units_sold=scenario.product.units_sold,
        trials=trials,
        seed=seed,
        net_per_unit_sold=base,
        share_of_revenue=base.scaled(1 / price),
        net_per_return=Stats.of(sim.net_per_return),
        closed_form=closed_form(scenario),
        breakdown={k: v / trials for k, v in sim.breakdown_sums.items()},
        breakdown_per_return={k: v / trials for k, v in sim.breakdown_per_return_sums.items()},
        histogram_edges=[float(e) for e in edges],
        histogram_counts=[int(c) for c in counts],
        tornado=tornado(scenario),
        break_even=break_even(scenario, sim.refurbishing_wins / trials),
        downside=downside,
        downside_share_of_revenue=downside.scaled(1 / price) if downside else None,
        what_ifs=what_ifs,
    )


def fixed(value: float) -> Fixed:
    """A fixed input."""
    return Fixed(value=value)
