"""Planning use cases: history from the database (sold units, recorded returns, imported
history), the forecast from it, calibration of a scenario from actuals, a starting scenario
for a catalog product, and importing history from a previous system.

Planning is brand-level: reads are limited to the actor's brands, not to their sites (a
forecast needs every unit sold, and units in the field are at no site).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from backhaul.catalog.models import Product, Site, SiteKind
from backhaul.kit.auth import Actor
from backhaul.kit.changes import record_change
from backhaul.kit.errors import NotFound, ValidationFailed
from backhaul.kit.visibility import visible
from backhaul.planning import calibration, cohort, costmodel, forecast, series, workload
from backhaul.planning.models import HistoryKind, HistoryWeek
from backhaul.planning.scenario import Scenario, parse_scenario
from backhaul.processing.models import UnitStep
from backhaul.units.models import Unit

MAX_STEP_RECORDS = 200_000  # newest step records read for step times (enough for medians)
FAULT_STEPS = ("inspect", "test")
# Reference exchange rates for a starting scenario only (an analyst sets the real one).
REFERENCE_FX_TO_USD = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "JPY": 0.0067, "CAD": 0.73}


def _utc_day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, in SQL (PostgreSQL would use its time zone)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# --- history -----------------------------------------------------------------------------


@dataclass
class History:
    """Sales and returns rows from the database, and where they came from."""

    sales: list[series.Row]
    returns: list[series.Row]
    sources: dict[str, int] = field(default_factory=dict)


def _product_filter(skus: Iterable[str] | None) -> Any:
    return None if skus is None else Product.sku.in_(list(skus))


def history(session: Session, actor: Actor, skus: Iterable[str] | None = None) -> History:
    """Daily sales (sold units), returns (authorize steps) and the imported weekly history."""
    actor.require("planning.read")
    only = _product_filter(skus)
    sold_day = _utc_day(session, Unit.sold_at)
    statement = visible(
        actor,
        select(Product.sku, Unit.region, sold_day, func.count())
        .join(Product, Product.id == Unit.product_id)
        .group_by(Product.sku, Unit.region, sold_day),
        Unit,
        by_site=False,
    )
    if only is not None:
        statement = statement.where(only)
    sales = [
        series.Row(_day(day), sku, region, int(n))
        for sku, region, day, n in session.execute(statement)
    ]
    returns = _recorded_returns(session, actor, only)
    found = History(sales, returns, {"sold units": sum(r.quantity for r in sales)})
    found.sources["returns recorded in Backhaul"] = sum(r.quantity for r in returns)
    imported = visible(
        actor,
        select(
            HistoryWeek.kind,
            Product.sku,
            HistoryWeek.region,
            HistoryWeek.week,
            HistoryWeek.fault_code,
            func.sum(HistoryWeek.quantity),
        )
        .join(Product, Product.id == HistoryWeek.product_id)
        .group_by(
            HistoryWeek.kind,
            Product.sku,
            HistoryWeek.region,
            HistoryWeek.week,
            HistoryWeek.fault_code,
        ),
        HistoryWeek,
    )
    if only is not None:
        imported = imported.where(only)
    for kind, sku, region, week, fault, quantity in session.execute(imported):
        row = series.Row(_day(week), sku, region, int(quantity), fault or "")
        if kind == HistoryKind.sales:
            found.sales.append(row)
        else:
            found.returns.append(row)
        label = f"imported {HistoryKind(kind).value}"
        found.sources[label] = found.sources.get(label, 0) + int(quantity)
    return found


def _recorded_returns(session: Session, actor: Actor, only: Any) -> list[series.Row]:
    """One row per authorised return, with the first fault code its inspection or test found."""
    statement = visible(
        actor,
        select(UnitStep.unit_id, UnitStep.step, UnitStep.at, UnitStep.evidence, Product.sku)
        .join(Unit, Unit.id == UnitStep.unit_id)
        .join(Product, Product.id == Unit.product_id)
        .where(UnitStep.step.in_(("authorize", *FAULT_STEPS)))
        .add_columns(Unit.region)
        .order_by(UnitStep.unit_id, UnitStep.seq),
        Unit,
        by_site=False,
    )
    if only is not None:
        statement = statement.where(only)
    returns: list[tuple[int, date, str, str]] = []
    faults: dict[int, str] = {}
    for unit_id, step, at, evidence, sku, region in session.execute(statement):
        if step == "authorize":
            returns.append((unit_id, _day(at), sku, region))
        elif unit_id not in faults:
            codes = (evidence or {}).get("fault_codes") or []
            if codes:
                faults[unit_id] = str(codes[0])
    counts: dict[tuple[date, str, str, str], int] = defaultdict(int)
    for unit_id, day, sku, region in returns:
        counts[(day, sku, region, faults.get(unit_id, ""))] += 1
    return [
        series.Row(day, sku, region, n, fault) for (day, sku, region, fault), n in counts.items()
    ]


def hubs_by_region(session: Session, actor: Actor) -> dict[str, str]:
    """Region → hub code for the hubs the actor can see (first code wins in a region)."""
    statement = visible(
        actor, select(Site.region, Site.code).where(Site.kind == SiteKind.hub), Site
    ).order_by(Site.code)
    out: dict[str, str] = {}
    for region, code in session.execute(statement):
        out.setdefault(region, code)
    return out


# --- forecast ----------------------------------------------------------------------------


@dataclass
class ForecastRun:
    """A forecast from the database with what it turns into at the hubs."""

    result: forecast.ForecastResult | None
    hub_of: dict[str, str]
    hours: list[workload.HubWeek]
    parts: list[workload.PartsWeek]
    standards: dict[str, workload.Standards]
    sources: dict[str, int]
    notes: list[str]


def panels(
    sales_rows: list[series.Row],
    return_rows: list[series.Row],
    by: tuple[str, ...],
    today: date,
    hub_of: Mapping[str, str],
) -> tuple[series.Panel, series.Panel | None] | None:
    """Weekly panels of returns (and sales, when there are any) over one span."""
    days = [r.day for r in return_rows] + [r.day for r in sales_rows]
    span = series.week_span(days, today)
    if span is None or not return_rows:
        return None
    returns = series.weekly(return_rows, span, by, hub_of)
    sales = series.weekly(sales_rows, span, by, hub_of) if sales_rows else None
    return returns, sales


def run_forecast(
    session: Session,
    actor: Actor,
    *,
    today: date,
    horizon: int = 12,
    by: tuple[str, ...] = ("sku", "region"),
    windows: int = 4,
    jobs: int = 1,
) -> ForecastRun:
    """Forecast returns from the database's history; hours and parts per hub and week."""
    actor.require("planning.read")
    found = history(session, actor)
    hubs = hubs_by_region(session, actor)
    regions = {r.region for r in found.sales} | {r.region for r in found.returns}
    hub_of = workload.hub_map(regions, hubs)
    built = panels(found.sales, found.returns, by, today, hub_of)
    if built is None:
        return ForecastRun(
            None, hub_of, [], [], {}, found.sources, ["no returns history yet: nothing to forecast"]
        )
    returns, sales = built
    result = forecast.run(returns, sales, horizon=horizon, windows=windows, jobs=jobs)
    standards = recorded_standards(session, actor, {r.sku for r in found.returns})
    return ForecastRun(
        result,
        hub_of,
        workload.hub_hours(result, hub_of, standards),
        workload.parts_demand(result, hub_of, standards),
        standards,
        found.sources,
        result.notes,
    )


def _step_records(
    session: Session, actor: Actor, product_ids: list[int], region: str | None = None
) -> list[calibration.StepRecord]:
    """The newest step records of these products' units (at sites in `region`, if given)."""
    statement = visible(
        actor,
        select(
            UnitStep.unit_id,
            UnitStep.seq,
            UnitStep.step,
            UnitStep.at,
            UnitStep.site_id,
            UnitStep.evidence,
        )
        .join(Unit, Unit.id == UnitStep.unit_id)
        .where(Unit.product_id.in_(product_ids))
        .order_by(UnitStep.id.desc())
        .limit(MAX_STEP_RECORDS),
        Unit,
        by_site=False,
    )
    if region is not None:
        statement = statement.join(Site, Site.id == UnitStep.site_id).where(Site.region == region)
    return [
        calibration.StepRecord(
            unit_id,
            seq,
            step,
            at,
            site_id,
            (evidence or {}).get("route") if step == "disposition" else None,
        )
        for unit_id, seq, step, at, site_id, evidence in session.execute(statement)
    ]


def recorded_standards(
    session: Session, actor: Actor, skus: Iterable[str]
) -> dict[str, workload.Standards]:
    """Minutes per return per SKU: recorded step times where there are enough, else defaults."""
    products = {
        p.sku: p.id
        for p in session.scalars(
            visible(actor, select(Product).where(Product.sku.in_(list(skus))), Product)
        )
    }
    out = {}
    for sku, product_id in products.items():
        observed = calibration.step_minutes(_step_records(session, actor, [product_id]))
        total, timed = 0.0, False
        for step, (minutes, share) in workload.DEFAULT_STEPS.items():
            values = observed.get(step, [])
            if len(values) >= calibration.MIN_SAMPLES:
                minutes, timed = float(np.mean(values)), True
            total += minutes * share
        out[sku] = workload.Standards(total, {}, "recorded step times" if timed else "default")
    return out


# --- cost model --------------------------------------------------------------------------


def _product(session: Session, actor: Actor, sku: str) -> Product | None:
    statement = visible(actor, select(Product).where(Product.sku == sku.strip().upper()), Product)
    return session.scalars(statement).first()


def calibrate(
    session: Session, actor: Actor, scenario: Scenario, *, today: date, region: str | None = None
) -> tuple[Scenario, list[calibration.CalibrationRow]]:
    """Replace the scenario's assumptions with actuals of its product family (and region)."""
    actor.require("planning.read")
    product = _product(session, actor, scenario.product.sku)
    if product is None:
        nothing = calibration.Actuals({}, None, 0, 0, 0, 0, 0, None)
        calibrated, rows = calibration.calibrate(scenario, nothing)
        note = f"{scenario.product.sku} is not in the catalog: nothing to calibrate from"
        return calibrated, [
            calibration.CalibrationRow(r.input, r.assumed, None, 0, False, note) for r in rows
        ]
    family = list(
        session.scalars(
            visible(actor, select(Product).where(Product.family == product.family), Product)
        )
    )
    records = _step_records(session, actor, [p.id for p in family], region)
    sites = {
        s.id: calibration.SiteRate(s.code, float(s.labour_rate), s.currency)
        for s in session.scalars(visible(actor, select(Site), Site))
    }
    found = history(session, actor, [p.sku for p in family])
    fit = _family_cohort(found, today, region)
    summary = calibration.actuals(records, sites, scenario.hub.currency, fit)
    return calibration.calibrate(scenario, summary)


def _family_cohort(found: History, today: date, region: str | None) -> cohort.CohortFit | None:
    sales = [r for r in found.sales if region is None or r.region == region]
    returns = [r for r in found.returns if region is None or r.region == region]
    built = panels(sales, returns, (), today, {})
    if built is None or built[1] is None:
        return None
    panel, sales_panel = built
    assert sales_panel is not None
    return cohort.fit(sales_panel.total(), panel.total())


def default_scenario(session: Session, actor: Actor, sku: str) -> Scenario:
    """A starting scenario for a catalog product: its price, the hub of its home region, and
    documented typical values for everything else (docs/planning.md)."""
    actor.require("planning.read")
    product = _product(session, actor, sku)
    if product is None:
        raise NotFound(f"no product '{sku}'")
    hubs = list(
        session.scalars(
            visible(actor, select(Site).where(Site.kind == SiteKind.hub), Site).order_by(Site.code)
        )
    )
    hub = next((h for h in hubs if h.currency == product.currency), hubs[0] if hubs else None)
    hub_currency = hub.currency if hub else product.currency
    to_usd = REFERENCE_FX_TO_USD
    fx = (
        to_usd.get(hub_currency, 1.0) / to_usd.get(product.currency, 1.0)
        if hub_currency != product.currency
        else 1.0
    )
    labour = float(hub.labour_rate) if hub else 35.0
    price = float(product.msrp)
    data: dict[str, Any] = {
        "product": {
            "sku": product.sku,
            "name": product.name,
            "currency": product.currency,
            "price": price,
            "units_sold": 100_000,
        },
        "returns": {
            "rate": {"dist": "triangular", "low": 0.05, "mode": 0.08, "high": 0.12},
            "downside_rate": {"dist": "triangular", "low": 0.10, "mode": 0.13, "high": 0.18},
            "inbound_shipping": {"dist": "triangular", "low": 6.0, "mode": 7.5, "high": 10.0},
            "cross_border_share": 0.0,
            "tariff_rate": 0.0,
        },
        "hub": {
            "site": hub.code if hub else "",
            "currency": hub_currency,
            "fx": round(fx, 6),
            "labour_rate": labour,
            "overhead": round(4.0 / fx, 2),
            "materials": round(3.5 / fx, 2),
            "recycling_cost": round(2.0 / fx, 2),
        },
        "minutes": {
            step: {"minutes": minutes, "share": share}
            for step, (minutes, share) in workload.DEFAULT_STEPS.items()
        },
        "refurbishment": {
            "yield": {"dist": "triangular", "low": 0.5, "mode": 0.65, "high": 0.8},
            "firmware_infrastructure": 0.4,
            "harvest_share": 0.4,
            "harvest_value": round(min(0.06 * price, price), 2),
        },
        "recovery": {
            "refurbished_store": {
                "share": {"dist": "triangular", "low": 0.6, "mode": 0.7, "high": 0.78},
                "mix": 0.5,
            },
            "marketplace": {"share": 0.55, "mix": 0.35},
            "liquidation": {"share": 0.25, "mix": 0.15},
        },
    }
    return parse_scenario(data)


# --- importing history -------------------------------------------------------------------


@dataclass
class HistoryImport:
    """What an import of history did."""

    kind: str
    source: str
    rows_read: int
    weeks_written: int
    quantity: int
    replaced: int
    problems: list[series.Problem]
    skipped: int


def import_history(
    session: Session,
    actor: Actor,
    records: Iterable[Mapping[str, Any]],
    *,
    kind: HistoryKind,
    source: str,
    today: date,
    progress: Callable[[int], None] | None = None,
) -> HistoryImport:
    """Store weekly history from a previous system, replacing what `source` imported before."""
    actor.require("planning.import")
    source = source.strip()
    if not source or len(source) > 200:
        raise ValidationFailed("name the source in 1 to 200 characters", field="source")
    records = list(records)
    loaded = series.read_rows(records, today=today, source=source)
    products = {p.sku: p for p in session.scalars(visible(actor, select(Product), Product))}
    weekly: dict[tuple[int, int, str, date, str], int] = defaultdict(int)
    skipped = loaded.skipped
    problems = list(loaded.problems)
    for row in loaded.rows:
        product = products.get(row.sku)
        if product is None:
            skipped += 1
            problems.append(series.Problem(source, row.line, "sku", f"no product '{row.sku}'"))
            continue
        fault = row.fault_code if kind is HistoryKind.returns else ""
        weekly[(product.id, product.brand_id, row.region, series.monday(row.day), fault)] += (
            row.quantity
        )
    old = visible(
        actor,
        select(func.count(), func.coalesce(func.sum(HistoryWeek.quantity), 0)).where(
            HistoryWeek.source == source, HistoryWeek.kind == kind
        ),
        HistoryWeek,
    )
    old_rows, old_quantity = session.execute(old).one()
    brand_ids = {p.brand_id for p in products.values()}
    session.execute(
        delete(HistoryWeek).where(
            HistoryWeek.source == source,
            HistoryWeek.kind == kind,
            HistoryWeek.brand_id.in_(brand_ids),
        )
    )
    now_rows = [
        {
            "brand_id": brand_id,
            "product_id": product_id,
            "kind": kind,
            "region": region,
            "week": week,
            "fault_code": fault,
            "quantity": quantity,
            "source": source,
        }
        for (product_id, brand_id, region, week, fault), quantity in weekly.items()
    ]
    for start in range(0, len(now_rows), 5000):
        chunk = now_rows[start : start + 5000]
        session.execute(insert(HistoryWeek), chunk)
        if progress:
            progress(len(chunk))
    session.flush()
    total = sum(weekly.values())
    record_change(
        session,
        actor,
        "planning.history_imported",
        "planning_history",
        f"{kind.value}:{source}",
        {"weeks": int(old_rows), "quantity": int(old_quantity)} if old_rows else None,
        {"weeks": len(now_rows), "quantity": total, "skipped_rows": skipped},
    )
    return HistoryImport(
        kind.value, source, len(records), len(now_rows), total, int(old_rows), problems, skipped
    )


# --- use cases the API and the pages share -----------------------------------------------


def run_cost_model(
    session: Session,
    actor: Actor,
    data: Mapping[str, Any],
    *,
    trials: int,
    seed: int,
    today: date,
    calibrate_from_records: bool = False,
    region: str | None = None,
) -> tuple[costmodel.CostResult, list[calibration.CalibrationRow]]:
    """Check a scenario, calibrate it if asked, and run it."""
    actor.require("planning.read")
    scenario = parse_scenario(data)
    rows: list[calibration.CalibrationRow] = []
    if calibrate_from_records:
        scenario, rows = calibrate(session, actor, scenario, today=today, region=region)
    return costmodel.run(scenario, trials=trials, seed=seed), rows


def forecast_payload(run: ForecastRun) -> dict[str, Any]:
    """A forecast run as plain data (the API's ForecastOut)."""
    result = run.result
    if result is None:
        return {
            "horizon": 0,
            "by": [],
            "first_week": None,
            "last_week": None,
            "windows": 0,
            "sources": run.sources,
            "notes": run.notes,
            "series": [],
            "backtest": [],
            "hours": [],
            "parts": [],
            "cohort": [],
        }
    by = result.panel.by
    return {
        "horizon": result.horizon,
        "by": list(by),
        "first_week": result.panel.span.first,
        "last_week": result.panel.span.last,
        "windows": result.windows,
        "sources": run.sources,
        "notes": run.notes,
        "series": [
            {
                "series": forecast.series_name(key),
                "key": dict(zip(by, key, strict=True)),
                "model": f.model,
                "points": [
                    {
                        "week": week,
                        "forecast": float(f.prediction.mean[k]),
                        "lo80": float(f.prediction.lo80[k]),
                        "hi80": float(f.prediction.hi80[k]),
                        "lo95": float(f.prediction.lo95[k]),
                        "hi95": float(f.prediction.hi95[k]),
                    }
                    for k, week in enumerate(result.weeks)
                ],
            }
            for key, f in result.forecasts.items()
        ],
        "backtest": [
            {
                "series": s.series,
                "model": s.model,
                "mase": s.mase,
                "bias": s.bias,
                "chosen": s.chosen,
            }
            for s in result.scores
        ],
        "hours": [vars(h) for h in run.hours],
        "parts": [vars(p) for p in run.parts],
        "cohort": [
            {
                "line": line,
                "return_rate": fit.rate,
                "return_rate_se": fit.rate_se,
                "mean_lag_weeks": fit.mean_lag(),
                "returns_seen": fit.returns_seen,
                "pooled": fit.pooled,
            }
            for line, fit in result.cohort_fits.items()
        ],
    }
