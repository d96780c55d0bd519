"""Calibration from actuals: activity-based costing of real returns from the recorded step
times, site labour rates and dispositions, and the return rate the cohort model finds in the
sales and returns history. Pure: the service reads the records and passes them in.

Step time: a step's record is written when the step is done, so the time a technician spent
on it is the time since the unit's previous step record at the same site, when that is at most
`MAX_GAP_MINUTES` (longer gaps are queueing, breaks or shifts, not work; they are left out).
An input is replaced only when there are at least `MIN_SAMPLES` observations; the report says
for every input what was assumed, what was found, from how many records, and which was used.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

import numpy as np

from backhaul.planning.cohort import CohortFit
from backhaul.planning.distributions import Beta
from backhaul.planning.scenario import LABOUR_STEPS, Scenario

MAX_GAP_MINUTES = 90.0
MIN_SAMPLES = 20
MIN_RETURNS = 30
HARVEST_ROUTES = frozenset({"harvest"})
SCRAP_ROUTES = frozenset({"recycle", "write_off"})


@dataclass(frozen=True, slots=True)
class StepRecord:
    """The part of a step record that calibration reads."""

    unit_id: int
    seq: int
    step: str
    at: datetime
    site_id: int | None
    route: str | None = None


@dataclass(frozen=True)
class SiteRate:
    """A site's labour rate and currency."""

    code: str
    labour_rate: float
    currency: str


@dataclass
class Actuals:
    """What the records say about one product family (and region)."""

    minutes: dict[str, list[float]]
    labour_rate: float | None
    labour_records: int
    restocked: int
    dispositioned: int
    harvested: int
    scrapped: int
    cohort: CohortFit | None


@dataclass(frozen=True)
class CalibrationRow:
    """One input: the assumption, what the records say, and which one the model used."""

    input: str
    assumed: str
    actual: str | None
    records: int
    used: bool
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "assumed": self.assumed,
            "actual": self.actual,
            "records": self.records,
            "used": self.used,
            "note": self.note,
        }


def step_minutes(records: Iterable[StepRecord]) -> dict[str, list[float]]:
    """Minutes per step, from the gap since the unit's previous record at the same site."""
    by_unit: dict[int, list[StepRecord]] = defaultdict(list)
    for record in records:
        by_unit[record.unit_id].append(record)
    minutes: dict[str, list[float]] = defaultdict(list)
    for steps in by_unit.values():
        steps.sort(key=lambda r: r.seq)
        for previous, current in pairwise(steps):
            if current.step not in LABOUR_STEPS or current.site_id != previous.site_id:
                continue
            gap = (current.at - previous.at).total_seconds() / 60
            if 0 < gap <= MAX_GAP_MINUTES:
                minutes[current.step].append(gap)
    return dict(minutes)


def actuals(
    records: list[StepRecord],
    site_rates: Mapping[int, SiteRate],
    hub_currency: str,
    cohort: CohortFit | None,
) -> Actuals:
    """Summarise the records: step minutes, labour rate, dispositions."""
    minutes = step_minutes(records)
    counted: dict[int, int] = defaultdict(int)
    for record in records:
        site = record.site_id
        if record.step in LABOUR_STEPS and site is not None and site in site_rates:
            counted[site] += 1
    in_currency = {
        site: n for site, n in counted.items() if site_rates[site].currency == hub_currency
    }
    total = sum(in_currency.values())
    rate = (
        sum(site_rates[s].labour_rate * n for s, n in in_currency.items()) / total
        if total
        else None
    )
    latest_route: dict[int, str] = {}
    for record in sorted(records, key=lambda r: (r.unit_id, r.seq)):
        if record.step == "disposition" and record.route:
            latest_route[record.unit_id] = record.route
    routes = list(latest_route.values())
    return Actuals(
        minutes=minutes,
        labour_rate=rate,
        labour_records=total,
        restocked=sum(r == "restock" for r in routes),
        dispositioned=len(routes),
        harvested=sum(r in HARVEST_ROUTES for r in routes),
        scrapped=sum(r in SCRAP_ROUTES for r in routes),
        cohort=cohort,
    )


def _share_dist(successes: int, trials: int) -> Beta:
    """What `successes` out of `trials` say about a share (uniform prior)."""
    return Beta(dist="beta", alpha=successes + 1, beta=trials - successes + 1)


def calibrate(scenario: Scenario, found: Actuals) -> tuple[Scenario, list[CalibrationRow]]:
    """Replace assumptions with actuals where there is enough data; report every input."""
    data = scenario.model_dump(by_alias=True)
    rows: list[CalibrationRow] = []

    fit = found.cohort
    assumed_rate = scenario.returns.rate.describe()
    if fit is not None and fit.returns_seen >= MIN_RETURNS and fit.rate > 0:
        sd = max(fit.rate_se, 1e-4)
        if sd * sd < fit.rate * (1 - fit.rate):
            data["returns"]["rate"] = {"dist": "beta", "mean": fit.rate, "sd": sd}
            rows.append(
                CalibrationRow(
                    "returns.rate",
                    assumed_rate,
                    f"{fit.rate:.2%} ± {fit.rate_se:.2%} (cohort model)",
                    int(fit.returns_seen),
                    True,
                    "fitted to the sales and returns history",
                )
            )
    if not rows:
        seen = int(fit.returns_seen) if fit else 0
        rows.append(
            CalibrationRow(
                "returns.rate",
                assumed_rate,
                f"{fit.rate:.2%}" if fit and fit.returns_seen else None,
                seen,
                False,
                f"fewer than {MIN_RETURNS} returns in the history: kept the assumption",
            )
        )

    for step in LABOUR_STEPS:
        observed = found.minutes.get(step, [])
        name = f"minutes.{step}"
        current = data["minutes"].get(step)
        assumed = scenario.minutes[step].minutes.describe() if step in scenario.minutes else "—"
        if len(observed) >= MIN_SAMPLES:
            p10, p50, p90 = (float(v) for v in np.percentile(observed, [10, 50, 90]))
            share = current["share"] if current else 1.0
            data["minutes"][step] = {
                "minutes": {"dist": "triangular", "low": p10, "mode": p50, "high": p90},
                "share": share,
            }
            rows.append(
                CalibrationRow(
                    name,
                    assumed,
                    f"P10 {p10:.1f} / P50 {p50:.1f} / P90 {p90:.1f} min",
                    len(observed),
                    True,
                    "recorded step times",
                )
            )
        elif step in scenario.minutes or observed:
            rows.append(
                CalibrationRow(
                    name,
                    assumed,
                    f"median {np.median(observed):.1f} min" if observed else None,
                    len(observed),
                    False,
                    f"fewer than {MIN_SAMPLES} timed records: kept the assumption",
                )
            )

    assumed_rate_text = scenario.hub.labour_rate.describe()
    if found.labour_rate is not None and found.labour_records >= MIN_SAMPLES:
        data["hub"]["labour_rate"] = {"dist": "fixed", "value": found.labour_rate}
        rows.append(
            CalibrationRow(
                "hub.labour_rate",
                assumed_rate_text,
                f"{found.labour_rate:.2f} {scenario.hub.currency}/h",
                found.labour_records,
                True,
                "site labour rates, weighted by the steps done at each site",
            )
        )
    else:
        rows.append(
            CalibrationRow(
                "hub.labour_rate",
                assumed_rate_text,
                None,
                found.labour_records,
                False,
                f"fewer than {MIN_SAMPLES} steps at {scenario.hub.currency} sites: kept",
            )
        )

    yield_text = scenario.refurbishment.yield_.describe()
    if found.dispositioned >= MIN_SAMPLES:
        dist = _share_dist(found.restocked, found.dispositioned)
        data["refurbishment"]["yield"] = dist.model_dump()
        rows.append(
            CalibrationRow(
                "refurbishment.yield",
                yield_text,
                f"{found.restocked}/{found.dispositioned} restocked ({dist.mean:.1%})",
                found.dispositioned,
                True,
                "dispositions (latest per unit)",
            )
        )
    else:
        rows.append(
            CalibrationRow(
                "refurbishment.yield",
                yield_text,
                None,
                found.dispositioned,
                False,
                f"fewer than {MIN_SAMPLES} dispositions: kept the assumption",
            )
        )
    failed = found.harvested + found.scrapped
    harvest_text = scenario.refurbishment.harvest_share.describe()
    if failed >= MIN_SAMPLES:
        dist = _share_dist(found.harvested, failed)
        data["refurbishment"]["harvest_share"] = dist.model_dump()
        rows.append(
            CalibrationRow(
                "refurbishment.harvest_share",
                harvest_text,
                f"{found.harvested}/{failed} harvested ({dist.mean:.1%})",
                failed,
                True,
                "harvest against recycle and write-off routes",
            )
        )
    else:
        rows.append(
            CalibrationRow(
                "refurbishment.harvest_share",
                harvest_text,
                None,
                failed,
                False,
                f"fewer than {MIN_SAMPLES} harvested or scrapped units: kept",
            )
        )
    for name in ("recovery (resale shares)", "hub.materials", "refurbishment.harvest_value"):
        rows.append(
            CalibrationRow(
                name, "as written", None, 0, False, "not recorded by Backhaul: kept the assumption"
            )
        )
    return Scenario.model_validate(data), rows
