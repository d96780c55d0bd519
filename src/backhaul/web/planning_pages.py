"""Planning pages: the return cost model (an analyst edits the inputs and sees the result
change) and the returns forecast with its backtest, hub hours and spare parts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response

from backhaul.catalog import service as catalog
from backhaul.db import utcnow
from backhaul.kit.errors import DomainError, Forbidden, NotAuthenticated, NotFound
from backhaul.kit.http import DbSession
from backhaul.planning import charts, series, service
from backhaul.planning.distributions import AnyDist
from backhaul.planning.scenario import LABOUR_STEPS, Scenario, parse_scenario
from backhaul.web.common import CsrfChecked, PageActor, render

router = APIRouter(prefix="/planning", include_in_schema=False)
CHANNELS = ("refurbished_store", "marketplace", "liquidation")
TRIALS = (10_000, 20_000, 100_000, 200_000)


@dataclass(frozen=True)
class FormRow:
    """One input on the form: a low / likely / high triple, or a single number."""

    name: str  # the scenario path, e.g. "returns.rate"
    label: str
    triple: bool
    unit: str = ""
    share_of: str | None = None  # a step's or channel's share, shown beside it


def _rows() -> list[tuple[str, list[FormRow]]]:
    steps = [
        FormRow(f"minutes.{step}", step, True, "min", share_of=f"minutes.{step}.share")
        for step in LABOUR_STEPS
    ]
    channels = [
        FormRow(
            f"recovery.{channel}.share",
            channel.replace("_", " "),
            True,
            "of price",
            share_of=f"recovery.{channel}.mix",
        )
        for channel in CHANNELS
    ]
    return [
        (
            "Product",
            [
                FormRow("product.price", "Selling price", False, "product currency"),
                FormRow("product.units_sold", "Units sold", False),
            ],
        ),
        (
            "Returns",
            [
                FormRow("returns.rate", "Return rate (base)", True, "share"),
                FormRow("returns.downside_rate", "Return rate (downside)", True, "share"),
                FormRow("returns.inbound_shipping", "Inbound shipping", True, "per return"),
                FormRow("returns.cross_border_share", "Crossing a border", True, "share"),
                FormRow("returns.tariff_rate", "Tariff on cross-border returns", False, "rate"),
            ],
        ),
        (
            "Hub (its own currency)",
            [
                FormRow("hub.fx", "Exchange rate", False, "product currency per hub currency"),
                FormRow("hub.labour_rate", "Labour rate", True, "per hour"),
                FormRow("hub.overhead", "Overhead", True, "per return"),
                FormRow("hub.materials", "Materials", True, "per return"),
                FormRow("hub.recycling_cost", "Recycling", True, "per unit"),
            ],
        ),
        ("Technician minutes per step (and the share of returns doing it)", steps),
        (
            "Refurbishment",
            [
                FormRow("refurbishment.yield", "Yield", True, "share resold"),
                FormRow("refurbishment.firmware_infrastructure", "Firmware infrastructure", True),
                FormRow("refurbishment.harvest_share", "Harvested (of the rest)", True, "share"),
                FormRow("refurbishment.harvest_value", "Parts value per harvested unit", True),
            ],
        ),
        ("Resale by channel (share of the new price, and the channel's mix)", channels),
    ]


WHAT_IFS = (
    ("what_if.fx_change", "Hub currency strengthens by", "fx_change"),
    ("what_if.tariff_rate", "Tariff on cross-border returns becomes", "tariff_rate"),
    ("what_if.supplier_price_change", "Supplier prices rise by", "supplier_price_change"),
)


def _get(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def _triple(dist: AnyDist) -> tuple[float, float, float]:
    """A distribution as low / likely / high (exact for fixed and triangular)."""
    if dist.dist == "fixed":
        return (dist.mean,) * 3
    if dist.dist == "triangular":
        d: Any = dist
        return d.low, d.mode, d.high
    return dist.quantile(0.05), dist.quantile(0.5), dist.quantile(0.95)


def _text(value: float) -> str:
    return f"{value:.6g}"


def form_values(scenario: Scenario) -> dict[str, str]:
    """The form's field values for a scenario."""
    data = scenario.model_dump(by_alias=True)
    values: dict[str, str] = {}
    for _title, rows in _rows():
        for row in rows:
            dist = _dist_at(scenario, row.name)
            if row.triple and dist is not None:
                for part, number in zip(("low", "mode", "high"), _triple(dist), strict=True):
                    values[f"{row.name}.{part}"] = _text(number)
            else:
                raw = _get(data, row.name)
                values[row.name] = _text(raw["value"] if isinstance(raw, dict) else raw or 0)
            if row.share_of:
                share = _get(data, row.share_of)
                values[row.share_of] = _text(share if share is not None else 0)
    return values


def _dist_at(scenario: Scenario, path: str) -> AnyDist | None:
    section, _, rest = path.partition(".")
    if section == "minutes":
        labour = scenario.minutes.get(rest)
        return labour.minutes if labour else None
    if section == "recovery":
        channel = scenario.recovery.get(rest.split(".")[0])
        return channel.share if channel else None
    part = getattr(scenario, section)
    value = getattr(part, "yield_" if rest == "yield" else rest, None)
    return value if hasattr(value, "dist") else None


def scenario_from_form(
    base: Scenario, form: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The scenario data the form describes, and per-field problems with the numbers."""
    data = base.model_dump(by_alias=True, exclude={"what_if"})
    errors: dict[str, str] = {}

    def number(name: str) -> float | None:
        text = form.get(name, "").strip().replace(",", "")
        try:
            return float(text)
        except ValueError:
            errors[name] = "a number is needed" if not text else f"not a number: {text[:20]!r}"
            return None

    for _title, rows in _rows():
        for row in rows:
            if row.triple:
                low, mode, high = (number(f"{row.name}.{p}") for p in ("low", "mode", "high"))
                if low is None or mode is None or high is None:
                    continue
                value: Any = (
                    low
                    if low == mode == high
                    else {"dist": "triangular", "low": low, "mode": mode, "high": high}
                )
                if row.name.startswith("minutes."):
                    _set(data, f"{row.name}.minutes", value)
                else:
                    _set(data, row.name, value)
            else:
                single = number(row.name)
                if single is not None:
                    _set(data, row.name, int(single) if row.name.endswith("units_sold") else single)
            if row.share_of:
                share = number(row.share_of)
                if share is not None:
                    _set(data, row.share_of, share)
    what_ifs = []
    for name, label, knob in WHAT_IFS:
        text = form.get(name, "").strip()
        if not text:
            continue
        amount = number(name)
        if amount is not None:
            percent = knob != "tariff_rate"
            name_text = f"{label} {text}{'%' if percent else ''}"
            what_ifs.append({"name": name_text, knob: amount / 100 if percent else amount})
    data["what_if"] = what_ifs
    return data, errors


def _form_field(path: str) -> str:
    """Where a scenario problem belongs on the form."""
    for suffix in (".minutes", ".value"):
        path = path.removesuffix(suffix)
    return path


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormData = Annotated[dict[str, str], Depends(_form)]


@router.get("/plotly.min.js")
def plotly_js() -> Response:
    """plotly.js from the plotly wheel (no CDN), cached by the browser for a day."""
    return FileResponse(
        charts.plotly_js_path(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _cost_page(
    request: Request,
    session: DbSession,
    actor: Any,
    *,
    sku: str,
    scenario: Scenario | None,
    values: dict[str, str],
    trials: int,
    calibrate: bool,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    products = catalog.list_products(session, actor)
    result = rows = None
    if scenario is not None and not errors:
        result, rows = service.run_cost_model(
            session,
            actor,
            scenario.model_dump(by_alias=True),
            trials=trials,
            seed=1,
            today=utcnow().date(),
            calibrate_from_records=calibrate,
        )
    figures = (
        {k: charts.figure_json(f) for k, f in charts.cost_figures(result).items()} if result else {}
    )
    return render(
        request,
        "planning_costmodel.html",
        actor,
        status=status,
        products=products,
        sku=sku,
        sections=_rows(),
        values=values,
        what_ifs=WHAT_IFS,
        trials=trials,
        trial_choices=TRIALS,
        calibrate=calibrate,
        errors=errors,
        result=result,
        calibration=rows or [],
        figures=figures,
        labels=charts.COMPONENT_LABELS,
    )


@router.get("/costmodel")
def cost_model(
    request: Request,
    session: DbSession,
    actor: PageActor,
    sku: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The cost model of a catalog product, starting from typical values."""
    actor.require("planning.read")
    products = catalog.list_products(session, actor)
    chosen = sku or (products[0].sku if products else "")
    scenario = service.default_scenario(session, actor, chosen) if chosen else None
    values = form_values(scenario) if scenario else {}
    if scenario is not None:
        values |= {"what_if.fx_change": "10", "what_if.supplier_price_change": "15"}
        data, _ = scenario_from_form(scenario, values)
        scenario = Scenario.model_validate(data)
    return _cost_page(
        request,
        session,
        actor,
        sku=chosen,
        scenario=scenario,
        values=values,
        trials=TRIALS[1],
        calibrate=False,
        errors={},
    )


@router.post("/costmodel", dependencies=[CsrfChecked])
def run_cost_model(
    request: Request, session: DbSession, actor: PageActor, form: FormData
) -> Response:
    """Run the inputs as edited; a wrong input is named on the form."""
    actor.require("planning.read")
    sku = form.get("sku", "")
    base = service.default_scenario(session, actor, sku)
    trials = int(form["trials"]) if form.get("trials", "").isdigit() else TRIALS[1]
    trials = trials if trials in TRIALS else TRIALS[1]
    calibrate = form.get("calibrate") == "on"
    data, errors = scenario_from_form(base, form)
    values = {k: v for k, v in form.items() if k not in ("csrf",)}
    scenario = None
    if not errors:
        try:
            scenario = parse_scenario(data)
        except (NotAuthenticated, Forbidden, NotFound):
            raise
        except DomainError as error:
            problems = error.extra.get("errors") or [
                {"field": error.field, "message": error.detail}
            ]
            errors = {_form_field(str(p["field"])): str(p["message"]) for p in problems}
    return _cost_page(
        request,
        session,
        actor,
        sku=sku,
        scenario=scenario,
        values=values,
        trials=trials,
        calibrate=calibrate,
        errors=errors,
        status=422 if errors else 200,
    )


@router.get("/forecast")
def forecast_page(
    request: Request,
    session: DbSession,
    actor: PageActor,
    horizon: Annotated[int, Query(ge=1, le=52)] = 12,
    by: Annotated[str, Query(max_length=40)] = "sku,region",
) -> Response:
    """Returns by week from the database's history: forecast, backtest, hours and parts."""
    actor.require("planning.read")
    try:
        grouping = series.parse_by(by)
    except ValueError as error:
        grouping, by = ("sku", "region"), "sku,region"
        request.session["flash"] = str(error)
    run = service.run_forecast(session, actor, today=utcnow().date(), horizon=horizon, by=grouping)
    result = run.result
    figures = (
        {k: charts.figure_json(f) for k, f in charts.forecast_figures(result, run.hours).items()}
        if result
        else {}
    )
    parts: dict[tuple[str, str, str], float] = defaultdict(float)
    for part in run.parts:
        parts[(part.hub, part.part, part.sku)] += part.quantity
    overall = [s for s in result.scores if s.series == "overall"] if result else []
    by_series: dict[str, dict[str, Any]] = defaultdict(dict)
    for score in result.scores if result else []:
        if score.series != "overall":
            by_series[score.series][score.model] = score
    first_weeks = sorted({h.week for h in run.hours})[:4]
    return render(
        request,
        "planning_forecast.html",
        actor,
        horizon=horizon,
        by=by,
        run=run,
        result=result,
        figures=figures,
        overall=overall,
        by_series=dict(by_series),
        models=[*result.models, "chosen"] if result else [],
        hours=[h for h in run.hours if h.week in first_weeks],
        hour_weeks=first_weeks,
        hubs=sorted({h.hub for h in run.hours}),
        parts=sorted(parts.items(), key=lambda item: -item[1]),
    )
