"""From forecast returns to work: technician hours per hub and week (standard minutes per
return) and spare parts (fault-code frequencies × parts per repair). Pure.

Intervals of sums (several series into one hub) assume the series are independent: the
standard deviations, read off each series' 95% interval, add in quadrature.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from backhaul.planning.forecast import ForecastResult, Z
from backhaul.planning.scenario import PartUse, Scenario

# Minutes per step when no scenario and no recorded step times say otherwise (a connected
# device of average complexity; see docs/planning.md), with the share of returns doing it.
DEFAULT_STEPS: dict[str, tuple[float, float]] = {
    "receive": (2.0, 1.0),
    "inspect": (6.0, 1.0),
    "sanitize": (6.0, 1.0),
    "flash": (5.0, 0.85),
    "test": (10.0, 0.85),
    "grade": (2.0, 0.8),
    "disposition": (1.0, 1.0),
    "repackage": (5.0, 0.7),
}
DEFAULT_MINUTES = sum(minutes * share for minutes, share in DEFAULT_STEPS.values())
# A sales region without a hub of its own sends its returns to the hub of this region.
REGION_FALLBACK = {"UK": "EU", "CH": "EU", "NO": "EU", "CA": "US", "MX": "US", "KR": "JP"}
ALL_HUBS = "all hubs"


def hub_map(regions: Iterable[str], hubs: Mapping[str, str]) -> dict[str, str]:
    """Sales region → hub code: the hub in the region, else the fallback region's, else the
    first hub; with no hubs at all, the region itself."""
    out = {}
    first = sorted(hubs.values())[0] if hubs else None
    for region in regions:
        if region in hubs:
            out[region] = hubs[region]
        elif REGION_FALLBACK.get(region) in hubs:
            out[region] = hubs[REGION_FALLBACK[region]]
        else:
            out[region] = first or region
    return out


@dataclass(frozen=True)
class Standards:
    """What one return of a SKU takes: technician minutes, and parts per fault code."""

    minutes: float
    parts: Mapping[str, PartUse]
    source: str  # "scenario", "recorded step times" or "default"

    @classmethod
    def of(cls, scenario: Scenario) -> Standards:
        return cls(scenario.standard_minutes(), dict(scenario.parts), "scenario")


DEFAULT_STANDARDS = Standards(DEFAULT_MINUTES, {}, "default")


@dataclass(frozen=True)
class HubWeek:
    """Forecast returns and technician hours at one hub in one week."""

    hub: str
    week: date
    returns: float
    returns_lo80: float
    returns_hi80: float
    hours: float
    hours_lo80: float
    hours_hi80: float


@dataclass(frozen=True)
class PartsWeek:
    """Spare parts one hub will need in one week for one SKU's fault code."""

    hub: str
    week: date
    sku: str
    fault_code: str
    part: str
    quantity: float


def _hub_of_key(key: tuple[str, ...], by: tuple[str, ...], hub_of: Mapping[str, str]) -> str:
    if "hub" in by:
        return key[by.index("hub")]
    if "region" in by:
        region = key[by.index("region")]
        return hub_of.get(region, region)
    return ALL_HUBS


def _sku_mix(result: ForecastResult, key: tuple[str, ...]) -> dict[str, float]:
    """Which SKUs a series' returns are (one, when the series is per SKU)."""
    by = result.panel.by
    if "sku" in by:
        return {key[by.index("sku")]: 1.0}
    totals = {sku: sum(codes.values()) for sku, codes in result.panel.faults.items()}
    grand = sum(totals.values())
    return {sku: n / grand for sku, n in totals.items()} if grand else {}


def hub_hours(
    result: ForecastResult,
    hub_of: Mapping[str, str],
    standards: Mapping[str, Standards],
) -> list[HubWeek]:
    """Returns and technician hours per hub and week, with 80% intervals."""
    by = result.panel.by
    horizon = result.horizon
    mean: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(horizon))
    var: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(horizon))
    hours: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(horizon))
    hours_var: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(horizon))
    for key, forecast in result.forecasts.items():
        hub = _hub_of_key(key, by, hub_of)
        prediction = forecast.prediction
        sd = (prediction.hi95 - prediction.lo95) / (2 * Z[95])
        minutes = (
            sum(
                share * standards.get(sku, DEFAULT_STANDARDS).minutes
                for sku, share in _sku_mix(result, key).items()
            )
            or DEFAULT_MINUTES
        )
        mean[hub] += prediction.mean
        var[hub] += sd**2
        hours[hub] += prediction.mean * minutes / 60
        hours_var[hub] += (sd * minutes / 60) ** 2
    rows = []
    for hub in sorted(mean):
        sd, hours_sd = np.sqrt(var[hub]), np.sqrt(hours_var[hub])
        for k, week in enumerate(result.weeks):
            rows.append(
                HubWeek(
                    hub,
                    week,
                    float(mean[hub][k]),
                    float(max(mean[hub][k] - Z[80] * sd[k], 0)),
                    float(mean[hub][k] + Z[80] * sd[k]),
                    float(hours[hub][k]),
                    float(max(hours[hub][k] - Z[80] * hours_sd[k], 0)),
                    float(hours[hub][k] + Z[80] * hours_sd[k]),
                )
            )
    return rows


def fault_frequencies(result: ForecastResult) -> dict[str, dict[str, float]]:
    """Per SKU, the share of its returns that came with each fault code."""
    out = {}
    for sku, codes in result.panel.faults.items():
        total = sum(codes.values())
        if total:
            out[sku] = {code: n / total for code, n in codes.items() if code}
    return out


def parts_demand(
    result: ForecastResult,
    hub_of: Mapping[str, str],
    standards: Mapping[str, Standards],
) -> list[PartsWeek]:
    """Expected spare parts per hub, week, SKU and fault code (a fault with no part named in
    the SKU's standards is its own part, one per repair)."""
    by = result.panel.by
    frequencies = fault_frequencies(result)
    need: dict[tuple[str, int, str, str, str], float] = defaultdict(float)
    for key, forecast in result.forecasts.items():
        hub = _hub_of_key(key, by, hub_of)
        for sku, share in _sku_mix(result, key).items():
            parts = standards.get(sku, DEFAULT_STANDARDS).parts
            for code, frequency in frequencies.get(sku, {}).items():
                use = parts.get(code, PartUse(part=code, per_repair=1.0))
                for k, value in enumerate(forecast.prediction.mean):
                    need[(hub, k, sku, code, use.part)] += (
                        value * share * frequency * use.per_repair
                    )
    return [
        PartsWeek(hub, result.weeks[k], sku, code, part, quantity)
        for (hub, k, sku, code, part), quantity in sorted(need.items())
    ]
