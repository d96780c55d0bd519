"""Planning over HTTP: what the cost-model, forecast and history endpoints take and give."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from backhaul.kit.schemas import Input, Output

Region = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2,3}$", strip_whitespace=True, to_upper=True)
]


class CostModelIn(Input):
    """A scenario (the same fields as a scenario TOML file) and how to run it."""

    scenario: dict[str, Any] = Field(
        description="Sections product, returns, hub, minutes, refurbishment, recovery, "
        "what_if, parts: see docs/planning.md and examples/*.toml"
    )
    trials: int = Field(20_000, ge=1, le=200_000, description="Monte Carlo trials")
    seed: int = Field(1, ge=0, le=2**32 - 1)
    calibrate: bool = Field(False, description="Replace assumptions with recorded actuals")
    region: Region | None = Field(None, description="Calibrate from sites in this region only")


class StatsOut(Output):
    """Mean and percentiles."""

    mean: float
    p10: float
    p50: float
    p90: float


class TornadoOut(Output):
    """One input's swing."""

    input: str
    p10_input: float
    p90_input: float
    result_at_p10: float
    result_at_p90: float
    swing: float


class WhatIfOut(Output):
    """One side-by-side scenario."""

    name: str
    net_cost_per_unit_sold: StatsOut
    share_of_revenue: StatsOut
    change_from_base: float


class DownsideOut(Output):
    """The downside return-rate case."""

    net_cost_per_unit_sold: StatsOut
    share_of_revenue: StatsOut | None


class HistogramOut(Output):
    """Trials per bin of net cost per unit sold."""

    edges: list[float]
    counts: list[int]


class CalibrationOut(Output):
    """One input: assumed, found, and which the model used."""

    input: str
    assumed: str
    actual: str | None
    records: int
    used: bool
    note: str


class CostModelOut(Output):
    """The result: the same fields as `result.json` from `backhaul costmodel`."""

    sku: str
    currency: str
    price: float
    units_sold: int
    trials: int
    seed: int
    net_cost_per_unit_sold: StatsOut
    share_of_revenue: StatsOut
    net_cost_per_return: StatsOut
    closed_form_net_cost_per_unit_sold: float
    total_return_cost: float
    breakdown: dict[str, float]
    breakdown_per_return: dict[str, float]
    break_even_yield: float | None
    break_even_recovery_share: float | None
    break_even_recovery_value: float | None
    probability_refurbishing_beats_write_off: float
    break_even_note: str
    downside: DownsideOut | None
    tornado: list[TornadoOut]
    what_ifs: list[WhatIfOut]
    histogram: HistogramOut
    calibration: list[CalibrationOut] = Field(default_factory=list)


class PointOut(Output):
    """One forecast week."""

    week: date
    forecast: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float


class SeriesOut(Output):
    """One series' forecast with the model the backtest chose for it."""

    series: str
    key: dict[str, str]
    model: str
    points: list[PointOut]


class ScoreOut(Output):
    """One backtest row (series `overall` is the sum of all series)."""

    series: str
    model: str
    mase: float | None
    bias: float | None
    chosen: bool


class HubWeekOut(Output):
    """Returns and technician hours at a hub in a week (80% intervals)."""

    hub: str
    week: date
    returns: float
    returns_lo80: float
    returns_hi80: float
    hours: float
    hours_lo80: float
    hours_hi80: float


class PartsOut(Output):
    """Spare parts a hub needs in a week."""

    hub: str
    week: date
    sku: str
    fault_code: str
    part: str
    quantity: float


class CohortOut(Output):
    """The cohort model's fit for a product line."""

    line: str
    return_rate: float
    return_rate_se: float
    mean_lag_weeks: float
    returns_seen: float
    pooled: bool


class ForecastOut(Output):
    """A forecast from the database's history."""

    horizon: int
    by: list[str]
    first_week: date | None
    last_week: date | None
    windows: int
    sources: dict[str, int]
    notes: list[str]
    series: list[SeriesOut]
    backtest: list[ScoreOut]
    hours: list[HubWeekOut]
    parts: list[PartsOut]
    cohort: list[CohortOut]


class HistoryRowIn(Input):
    """One row of history: a day (any day of the week), a SKU, a region and a quantity."""

    date: str = Field(max_length=40)
    sku: str = Field(max_length=60)
    region: str = Field(max_length=20)
    quantity: int | float | str = Field(description="A whole number, at least 0")
    fault_code: str = Field("", max_length=80)


class HistoryIn(Input):
    """History from a previous system; re-importing a source replaces it."""

    kind: Literal["sales", "returns"]
    source: str = Field(min_length=1, max_length=200)
    rows: list[HistoryRowIn] = Field(max_length=200_000)


class ProblemOut(Output):
    """A row that was skipped."""

    row: int
    field: str
    reason: str


class HistoryOut(Output):
    """What an import did."""

    kind: str
    source: str
    rows_read: int
    weeks_written: int
    quantity: int
    replaced: int
    skipped: int
    problems: list[ProblemOut]
