"""The planning commands: `backhaul costmodel`, `backhaul forecast` and `backhaul history`."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from backhaul.kit.cli import err, fail, out, progress_bar, transaction
from backhaul.kit.errors import ValidationFailed

app = typer.Typer(pretty_exceptions_enable=False)
history_app = typer.Typer(
    help="Sales and returns history from before Backhaul, for the forecast.", no_args_is_help=True
)
app.add_typer(history_app, name="history")


def _today() -> date:
    return datetime.now(UTC).date()


def _money(value: float | None, currency: str = "") -> str:
    return "—" if value is None else f"{value:,.2f}{' ' + currency if currency else ''}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _problems(error: ValidationFailed) -> str:
    listed = error.extra.get("errors") or [{"field": error.field, "message": error.detail}]
    return "\n".join(f"  {e['field']}: {e['message']}" for e in listed)


# --- costmodel ---------------------------------------------------------------------------


@app.command()
def costmodel(
    scenario: Annotated[Path, typer.Option(help="Scenario file (TOML), e.g. examples/*.toml")],
    trials: Annotated[int, typer.Option(help="Monte Carlo trials", min=1, max=20_000_000)] = (
        100_000
    ),
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same result")] = 1,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write result.json and charts (PNG, HTML) here")
    ] = None,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="Replace assumptions with recorded actuals")
    ] = False,
    region: Annotated[
        str | None, typer.Option(help="With --calibrate: only steps at sites in this region")
    ] = None,
) -> None:
    """Net return cost per unit sold: percentiles, drivers, break-even, what-ifs.

    Runs a Monte Carlo over the scenario's uncertain inputs and prints the net cost per unit
    sold (P10/P50/P90), its breakdown, a tornado of what moves it most, the break-even yield
    and resale value, and the scenario's what-ifs side by side."""
    from backhaul.planning import charts, costmodel
    from backhaul.planning.scenario import load_scenario_text

    if not scenario.is_file():
        fail(f"{scenario}: no such file")
    try:
        parsed = load_scenario_text(scenario.read_text(encoding="utf-8"))
    except ValidationFailed as error:
        fail(f"{scenario} is not a valid scenario:\n{_problems(error)}")
    calibration_rows: list[dict[str, Any]] = []
    if calibrate:
        from backhaul.planning import service

        with transaction(write=False) as (session, actor):
            parsed, rows = service.calibrate(
                session, actor, parsed, today=_today(), region=region.upper() if region else None
            )
        calibration_rows = [r.as_dict() for r in rows]
        _print_calibration(calibration_rows)
    result = costmodel.run(parsed, trials=trials, seed=seed)
    _print_cost(result)
    if out_dir is not None:
        data = result.as_json() | {"calibration": calibration_rows}
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "result.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        figures = charts.cost_figures(result)
        pngs = charts.write_png(figures, out_dir)
        page = charts.write_html(figures, out_dir, f"Return cost: {result.sku}")
        out.print(f"wrote {out_dir / 'result.json'}, {page} and " + ", ".join(p.name for p in pngs))


def _print_calibration(rows: list[dict[str, Any]]) -> None:
    table = Table("input", "assumed", "actual", "records", "used", "why", title="Calibration")
    for row in rows:
        table.add_row(
            row["input"],
            row["assumed"],
            row["actual"] or "—",
            f"{row['records']:,}",
            "[green]actual[/]" if row["used"] else "assumed",
            row["note"],
        )
    out.print(table)


def _print_cost(result: Any) -> None:
    currency = result.currency
    stats = result.net_per_unit_sold
    table = Table(
        "", "mean", "P10", "P50", "P90", title=f"{result.sku}: net return cost ({currency})"
    )
    share = result.share_of_revenue
    per_return = result.net_per_return
    table.add_row(
        "per unit sold", *(_money(v) for v in (stats.mean, stats.p10, stats.p50, stats.p90))
    )
    table.add_row(
        "share of revenue", *(_share(v) for v in (share.mean, share.p10, share.p50, share.p90))
    )
    table.add_row(
        "per return",
        *(_money(v) for v in (per_return.mean, per_return.p10, per_return.p50, per_return.p90)),
    )
    if result.downside is not None:
        d = result.downside
        table.add_row(
            "per unit sold, downside rate", *(_money(v) for v in (d.mean, d.p10, d.p50, d.p90))
        )
    out.print(table)
    out.print(
        f"closed form (inputs at their means): {_money(result.closed_form, currency)} per unit "
        f"sold; {result.units_sold:,} units: {_money(result.total_cost, currency)} in all "
        f"({result.trials:,} trials, seed {result.seed})"
    )
    breakdown = Table("component", "per unit sold", "per return", title="Breakdown (means)")
    for name, value in result.breakdown.items():
        breakdown.add_row(name, _money(value), _money(result.breakdown_per_return[name]))
    out.print(breakdown)
    tornado = Table("input", "P10 → result", "P90 → result", "swing", title="Tornado (top 8)")
    for bar in result.tornado[:8]:
        tornado.add_row(
            bar.input,
            f"{bar.low_input:.4g} → {bar.result_at_low:.2f}",
            f"{bar.high_input:.4g} → {bar.result_at_high:.2f}",
            f"{bar.swing:.2f}",
        )
    out.print(tornado)
    be = result.break_even
    out.print(
        f"break-even yield: {_share(be.yield_)}; break-even resale value at the expected yield: "
        f"{_money(be.recovery_value, currency)} ({_share(be.recovery_share)} of the price); "
        f"refurbishing beats writing off in {be.probability_refurbishing_wins:.1%} of trials. "
        f"{be.note}."
    )
    if result.what_ifs:
        sides = Table("scenario", "mean", "P10", "P50", "P90", "share of revenue", "change")
        sides.add_row(
            "base",
            *(_money(v) for v in (stats.mean, stats.p10, stats.p50, stats.p90)),
            _share(share.mean),
            "",
        )
        for w in result.what_ifs:
            s = w.net_per_unit_sold
            sides.add_row(
                w.name,
                *(_money(v) for v in (s.mean, s.p10, s.p50, s.p90)),
                _share(w.share_of_revenue.mean),
                f"{w.change_from_base:+.2f}",
            )
        out.print(sides)


# --- forecast ----------------------------------------------------------------------------


def _read_csv(path: Path, today: date) -> Any:
    from backhaul.planning import series

    if not path.is_file():
        fail(f"{path}: no such file")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in series.COLUMNS if c not in columns]
        if missing:
            fail(
                f"{path}: missing column(s) {', '.join(missing)} (need {', '.join(series.COLUMNS)})"
            )
        reader.fieldnames = columns
        return series.read_rows(reader, today=today, source=path.name)


def _hubs_from_database() -> dict[str, str]:
    """Hubs by region from the configured database, if there is one; else none."""
    from backhaul.settings import get_settings

    url = get_settings().database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if not path or not Path(path).is_file():
            return {}
    try:
        from backhaul.planning import service

        with transaction(write=False) as (session, actor):
            return service.hubs_by_region(session, actor)
    except Exception:  # no database to ask: hubs are named after regions
        return {}


def _parse_hubs(text: str) -> dict[str, str]:
    hubs = {}
    for pair in text.split(","):
        region, sep, hub = pair.partition("=")
        if not sep or not region.strip() or not hub.strip():
            fail(f"--hubs takes REGION=HUB pairs, e.g. US=HUB-US,EU=HUB-EU; got '{pair}'")
        hubs[region.strip().upper()] = hub.strip().upper()
    return hubs


def _load_standards(directory: Path | None) -> dict[str, Any]:
    from backhaul.planning.scenario import load_scenario_text
    from backhaul.planning.workload import Standards

    if directory is None:
        return {}
    if not directory.is_dir():
        fail(f"{directory}: not a directory of scenario files")
    standards = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            scenario = load_scenario_text(path.read_text(encoding="utf-8"))
        except ValidationFailed as error:
            fail(f"{path} is not a valid scenario:\n{_problems(error)}")
        standards[scenario.product.sku] = Standards.of(scenario)
    return standards


@app.command()
def forecast(
    returns: Annotated[
        Path | None,
        typer.Option(
            help="Returns CSV: date, sku, region, quantity[, fault_code]; "
            "without it, the database's history"
        ),
    ] = None,
    sales: Annotated[
        Path | None, typer.Option(help="Sales CSV: date, sku, region, quantity")
    ] = None,
    horizon: Annotated[int, typer.Option(help="Weeks to forecast", min=1, max=52)] = 12,
    by: Annotated[str, typer.Option(help="Series: any of sku, region, hub")] = "sku,region",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write forecast.csv, backtest.csv, charts here")
    ] = None,
    windows: Annotated[int, typer.Option(help="Backtest origins", min=2, max=12)] = 4,
    jobs: Annotated[int, typer.Option(help="Worker processes (0: every core)", min=0)] = 0,
    scenarios: Annotated[
        Path | None,
        typer.Option(help="Directory of scenario TOMLs: standard minutes and parts per SKU"),
    ] = None,
    hubs: Annotated[
        str | None, typer.Option(help="REGION=HUB pairs (default: the database's hubs)")
    ] = None,
) -> None:
    """Forecast returns per week, backtest the models, and plan hub hours and parts.

    Forecasts with 80% and 95% intervals; prints the backtest (MASE per model against the
    seasonal naive baseline, the chosen model per series, and the sum of all series)."""
    from backhaul.planning import charts, series, service, workload
    from backhaul.planning import forecast as forecasting

    today = _today()
    try:
        grouping = series.parse_by(by)
    except ValueError as error:
        fail(str(error))
    jobs = jobs or forecasting.default_jobs()
    standards = _load_standards(scenarios)
    sources: dict[str, int] = {}
    if returns is None:
        if sales is not None:
            fail("--sales needs --returns (without files, both come from the database)")
        with transaction(write=False) as (session, actor):
            found = service.history(session, actor)
            hub_codes = _parse_hubs(hubs) if hubs else service.hubs_by_region(session, actor)
            if not standards:
                standards = service.recorded_standards(
                    session, actor, {r.sku for r in found.returns}
                )
        sales_rows, return_rows, sources = found.sales, found.returns, found.sources
    else:
        loaded_returns = _read_csv(returns, today)
        loaded_sales = _read_csv(sales, today) if sales else None
        _report_rows(returns, loaded_returns)
        if loaded_sales is not None and sales is not None:
            _report_rows(sales, loaded_sales)
        return_rows = loaded_returns.rows
        sales_rows = loaded_sales.rows if loaded_sales else []
        hub_codes = _parse_hubs(hubs) if hubs else _hubs_from_database()
    regions = {r.region for r in return_rows} | {r.region for r in sales_rows}
    hub_of = workload.hub_map(regions, hub_codes)
    built = service.panels(sales_rows, return_rows, grouping, today, hub_of)
    if built is None:
        fail("no returns to forecast from")
    panel, sales_panel = built
    for name, quantity in sources.items():
        out.print(f"{name}: {quantity:,}")
    with progress_bar() as bar:
        task = bar.add_task("backtesting and forecasting", total=len(panel.series))
        result = forecasting.run(
            panel,
            sales_panel,
            horizon=horizon,
            windows=windows,
            jobs=jobs,
            progress=lambda n: bar.advance(task, n),
        )
    for note in result.notes:
        err.print(f"[yellow]note:[/] {note}")
    _print_backtest(result)
    hours = workload.hub_hours(result, hub_of, standards)
    parts = workload.parts_demand(result, hub_of, standards)
    _print_hours(hours)
    if out_dir is not None:
        written = _write_forecast(out_dir, result, hours, parts, hub_of)
        figures = charts.forecast_figures(result, hours)
        written += charts.write_png(figures, out_dir)
        written.append(charts.write_html(figures, out_dir, "Returns forecast"))
        out.print("wrote " + ", ".join(str(p) for p in written))


def _report_rows(path: Path, loaded: Any) -> None:
    out.print(f"{path.name}: {len(loaded.rows):,} rows used, {loaded.skipped:,} skipped")
    if loaded.problems:
        table = Table("row", "field", "reason", title=f"{path.name}: skipped rows (first 20)")
        for problem in loaded.problems[:20]:
            table.add_row(str(problem.row), problem.field, problem.reason)
        err.print(table)


def _print_backtest(result: Any) -> None:
    from backhaul.planning.forecast import CHOSEN, OVERALL

    models = [*result.models, CHOSEN]
    scores = {(s.series, s.model): s for s in result.scores}
    table = Table(
        title=f"Backtest MASE: {result.windows} origins, {result.horizon}-week forecasts "
        "(lower is better; 1 = the in-sample one-step naive error)",
    )
    table.add_column("series", no_wrap=True)
    for model in models:
        table.add_column(model.replace("_", " "), justify="right")
    table.add_column("chosen", no_wrap=True)
    table.add_column("bias", justify="right")
    names = [*sorted({s.series for s in result.scores} - {OVERALL}), OVERALL]
    shown = names if len(names) <= 31 else [*names[:30], OVERALL]
    for name in shown:
        row = [scores.get((name, m)) for m in models]
        chosen = next((s.model for s in result.scores if s.series == name and s.chosen), "")
        chosen_score = scores.get((name, CHOSEN))
        table.add_row(
            f"[bold]{name}[/]" if name == OVERALL else name,
            *("—" if s is None or s.mase is None else f"{s.mase:.3f}" for s in row),
            "rolling" if name == OVERALL else chosen,
            _share(chosen_score.bias) if chosen_score else "—",
        )
    out.print(table)
    if len(names) > len(shown):
        out.print(f"… and {len(names) - len(shown):,} more series in backtest.csv")
    counts: dict[str, int] = {}
    for forecast in result.forecasts.values():
        counts[forecast.model] = counts.get(forecast.model, 0) + 1
    out.print("chosen per series: " + ", ".join(f"{m} {n:,}" for m, n in sorted(counts.items())))


def _print_hours(hours: list[Any]) -> None:
    if not hours:
        return
    table = Table("hub", "week", "returns", "80% interval", "technician hours", "80% interval")
    for row in hours[: 4 * 13]:
        table.add_row(
            row.hub,
            row.week.isoformat(),
            f"{row.returns:,.1f}",
            f"{row.returns_lo80:,.1f} – {row.returns_hi80:,.1f}",
            f"{row.hours:,.1f}",
            f"{row.hours_lo80:,.1f} – {row.hours_hi80:,.1f}",
        )
    out.print(table)


def _write_forecast(
    out_dir: Path, result: Any, hours: list[Any], parts: list[Any], hub_of: dict[str, str]
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    by = result.panel.by
    with_hub = "hub" not in by and "region" in by
    forecast_path = out_dir / "forecast.csv"
    with forecast_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "week",
                *by,
                *(["hub"] if with_hub else []),
                "model",
                "forecast",
                "lo80",
                "hi80",
                "lo95",
                "hi95",
            ]
        )
        for key, forecast in result.forecasts.items():
            p = forecast.prediction
            hub = []
            if with_hub:
                region = key[by.index("region")]
                hub = [hub_of.get(region, region)]
            for k, week in enumerate(result.weeks):
                writer.writerow(
                    [
                        week.isoformat(),
                        *key,
                        *hub,
                        forecast.model,
                        *(f"{v[k]:.3f}" for v in (p.mean, p.lo80, p.hi80, p.lo95, p.hi95)),
                    ]
                )
    backtest_path = out_dir / "backtest.csv"
    with backtest_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["series", "model", "mase", "bias", "chosen"])
        for score in result.scores:
            writer.writerow(
                [
                    score.series,
                    score.model,
                    "" if score.mase is None else f"{score.mase:.4f}",
                    "" if score.bias is None else f"{score.bias:.4f}",
                    "true" if score.chosen else "false",
                ]
            )
    hours_path = out_dir / "hours.csv"
    with hours_path.open("w", newline="", encoding="utf-8") as handle:
        named = csv.DictWriter(handle, fieldnames=list(asdict(hours[0])) if hours else ["hub"])
        named.writeheader()
        for row in hours:
            named.writerow(
                {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(row).items()}
            )
    parts_path = out_dir / "parts.csv"
    with parts_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["hub", "week", "sku", "fault_code", "part", "quantity"])
        for part in parts:
            writer.writerow(
                [
                    part.hub,
                    part.week.isoformat(),
                    part.sku,
                    part.fault_code,
                    part.part,
                    f"{part.quantity:.3f}",
                ]
            )
    return [forecast_path, backtest_path, hours_path, parts_path]


# --- history -----------------------------------------------------------------------------


@history_app.command("import")
def history_import(
    file: Annotated[Path, typer.Argument(help="CSV: date, sku, region, quantity[, fault_code]")],
    kind: Annotated[str, typer.Option(help="sales or returns")] = "returns",
    source: Annotated[
        str | None, typer.Option(help="Name of this history (default: the file name)")
    ] = None,
) -> None:
    """Import weekly history from a previous system (re-importing a source replaces it)."""
    from backhaul.planning import service
    from backhaul.planning.models import HistoryKind

    if kind not in ("sales", "returns"):
        fail("--kind is sales or returns")
    if not file.is_file():
        fail(f"{file}: no such file")
    with file.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with transaction(write=True) as (session, actor), progress_bar() as bar:
        task = bar.add_task(f"importing {file.name}", total=None)
        summary = service.import_history(
            session,
            actor,
            rows,
            kind=HistoryKind(kind),
            source=source or file.name,
            today=_today(),
            progress=lambda n: bar.advance(task, n),
        )
    out.print(
        f"{summary.kind} history '{summary.source}': {summary.rows_read:,} rows read, "
        f"{summary.weeks_written:,} weekly rows ({summary.quantity:,} units) written, "
        f"{summary.skipped:,} skipped"
        + (f"; replaced {summary.replaced:,} rows imported before" if summary.replaced else "")
    )
    if summary.problems:
        table = Table("row", "field", "reason", title="Skipped rows (first 20)")
        for problem in summary.problems[:20]:
            table.add_row(str(problem.row), problem.field, problem.reason)
        out.print(table)


@history_app.command("demo-export")
def history_demo_export(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the CSV files")],
    seed: Annotated[int, typer.Option(help="The demo's seed")] = 7,
    units: Annotated[int, typer.Option(help="The demo's sold units", min=1)] = 40_000,
) -> None:
    """Write the demo world's sales and returns as CSV, with the truth behind them.

    sales.csv and returns.csv are daily; truth.json has each product's return rate and
    return-lag curve, to check `backhaul forecast` against."""
    from backhaul.demo.returns_history import TRUTH, demo_history, lag_curve

    history = demo_history(seed, units)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows, fields in (
        ("sales.csv", history.sales_rows(), ["date", "sku", "region", "quantity"]),
        ("returns.csv", history.return_rows(), ["date", "sku", "region", "quantity", "fault_code"]),
    ):
        with (out_dir / name).open("w", newline="", encoding="utf-8") as handle:
            table = csv.DictWriter(handle, fieldnames=fields)
            table.writeheader()
            table.writerows(rows)
    truth = {
        sku: asdict(behaviour) | {"lag_curve": [round(p, 6) for p in lag_curve(sku, 105)]}
        for sku, behaviour in TRUTH.items()
    }
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    out.print(
        f"wrote {out_dir / 'sales.csv'} ({sum(history.sales.values()):,} units sold), "
        f"{out_dir / 'returns.csv'} ({len(history.returns):,} returns up to "
        f"{history.end.isoformat()}) and {out_dir / 'truth.json'}"
    )
