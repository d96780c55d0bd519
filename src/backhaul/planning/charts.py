"""Charts of cost-model and forecast results: plotly figures (the pages and the interactive
HTML files; plotly.js comes from the plotly wheel, never a CDN) and the same charts as PNG
(matplotlib)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backhaul.planning.costmodel import CostResult
from backhaul.planning.forecast import BASELINE, CHOSEN, OVERALL, ForecastResult, Z
from backhaul.planning.workload import HubWeek

ACCENT = "#0b6e4f"
MUTED = "#5b6475"
WARN = "#a15c00"
BAND = "rgba(11,110,79,0.15)"
BAND_WIDE = "rgba(11,110,79,0.08)"
COMPONENT_LABELS = {
    "refund": "refund",
    "inbound_shipping": "inbound shipping",
    "labour": "labour",
    "materials": "materials",
    "firmware": "firmware infrastructure",
    "overhead": "overhead",
    "tariffs": "tariffs",
    "resale": "resale of refurbished units",
    "harvest_and_recycling": "parts harvest less recycling",
}


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the plotly wheel."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    return {
        "template": "none",
        "title": {"text": title, "x": 0, "font": {"size": 15}},
        "xaxis": {
            "title": {"text": x},
            "gridcolor": "#eef0f4",
            "zeroline": False,
            "automargin": True,
        },
        "yaxis": {
            "title": {"text": y},
            "gridcolor": "#eef0f4",
            "zeroline": False,
            "automargin": True,
        },
        "margin": {"l": 70, "r": 20, "t": 50, "b": 55},
        "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#1d2330"},
        "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0, "yanchor": "bottom"},
        "height": 360,
        **extra,
    }


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


# --- cost model --------------------------------------------------------------------------


def cost_figures(result: CostResult) -> dict[str, dict[str, Any]]:
    """Histogram, tornado, breakdown and side-by-side scenarios, as plotly figure dicts."""
    currency = result.currency
    edges = np.asarray(result.histogram_edges)
    centres = (edges[:-1] + edges[1:]) / 2
    stats = result.net_per_unit_sold
    lines = [
        {
            "type": "line",
            "x0": value,
            "x1": value,
            "y0": 0,
            "y1": 1,
            "yref": "paper",
            "line": {"color": colour, "dash": dash, "width": 2},
        }
        for value, colour, dash in (
            (stats.p10, MUTED, "dot"),
            (stats.p50, ACCENT, "solid"),
            (stats.p90, MUTED, "dot"),
        )
    ]
    histogram = {
        "data": [
            {
                "type": "bar",
                "x": centres.tolist(),
                "y": result.histogram_counts,
                "marker": {"color": BAND.replace("0.15", "0.55")},
                "hovertemplate": "%{x:.2f}: %{y} trials<extra></extra>",
                "name": "trials",
            }
        ],
        "layout": _layout(
            f"Net return cost per unit sold ({result.trials:,} trials)",
            f"{currency} per unit sold (dotted: P10 {stats.p10:.2f} and P90 {stats.p90:.2f};"
            f" line: P50 {stats.p50:.2f})",
            "trials",
            shapes=lines,
            bargap=0.02,
            showlegend=False,
        ),
    }
    bars = list(reversed(result.tornado[:12]))
    base = result.closed_form
    tornado = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [b.input for b in bars],
                "x": [b.result_at_low - base for b in bars],
                "base": base,
                "name": "input at its P10",
                "marker": {"color": ACCENT},
                "customdata": [[b.low_input, b.result_at_low] for b in bars],
                "hovertemplate": "%{y} = %{customdata[0]:.4g}: %{customdata[1]:.2f}<extra></extra>",
            },
            {
                "type": "bar",
                "orientation": "h",
                "y": [b.input for b in bars],
                "x": [b.result_at_high - base for b in bars],
                "base": base,
                "name": "input at its P90",
                "marker": {"color": WARN},
                "customdata": [[b.high_input, b.result_at_high] for b in bars],
                "hovertemplate": "%{y} = %{customdata[0]:.4g}: %{customdata[1]:.2f}<extra></extra>",
            },
        ],
        "layout": _layout(
            "What moves it most: each input at its P10 and P90",
            f"{currency} per unit sold (the others at their means: {base:.2f})",
            "",
            barmode="overlay",
            height=max(300, 60 + 28 * len(bars)),
            margin={"l": 230, "r": 20, "t": 50, "b": 55},
        ),
    }
    names = [COMPONENT_LABELS[k] for k in result.breakdown]
    values = list(result.breakdown.values())
    breakdown = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": list(reversed(names)),
                "x": list(reversed(values)),
                "marker": {"color": [ACCENT if v >= 0 else WARN for v in reversed(values)]},
                "hovertemplate": "%{y}: %{x:.2f}<extra></extra>",
            }
        ],
        "layout": _layout(
            "Where it goes, per unit sold",
            f"{currency} per unit sold (negative: value recovered)",
            "",
            margin={"l": 230, "r": 20, "t": 50, "b": 55},
            showlegend=False,
        ),
    }
    rows = [("base case", stats)]
    if result.downside is not None:
        rows.append(("downside return rate", result.downside))
    rows += [(w.name, w.net_per_unit_sold) for w in result.what_ifs]
    names = [name for name, _ in rows][::-1]
    ordered = [stats_ for _, stats_ in rows][::-1]
    scenarios = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": names,
                "x": [s.p50 for s in ordered],
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [s.p90 - s.p50 for s in ordered],
                    "arrayminus": [s.p50 - s.p10 for s in ordered],
                    "color": MUTED,
                },
                "marker": {"color": [WARN] * (len(rows) - 1) + [ACCENT]},
                "hovertemplate": "%{y}: P50 %{x:.2f}<extra></extra>",
            }
        ],
        "layout": _layout(
            "Scenarios side by side: P50, whiskers P10 to P90",
            f"{currency} per unit sold",
            "",
            showlegend=False,
            height=max(260, 90 + 45 * len(rows)),
            margin={"l": 230, "r": 20, "t": 50, "b": 55},
        ),
    }
    return {
        "histogram": histogram,
        "tornado": tornado,
        "breakdown": breakdown,
        "scenarios": scenarios,
    }


# --- forecast ----------------------------------------------------------------------------


def _aggregate(result: ForecastResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.zeros(result.horizon)
    var95 = np.zeros(result.horizon)
    var80 = np.zeros(result.horizon)
    for forecast in result.forecasts.values():
        p = forecast.prediction
        mean += p.mean
        var95 += ((p.hi95 - p.lo95) / (2 * Z[95])) ** 2
        var80 += ((p.hi80 - p.lo80) / (2 * Z[80])) ** 2
    return mean, np.sqrt(var80), np.sqrt(var95)


def forecast_figures(result: ForecastResult, hours: Sequence[HubWeek]) -> dict[str, dict[str, Any]]:
    """Aggregate history and forecast with bands, hours per hub, and the backtest."""
    history = result.panel.total()
    weeks = [d.isoformat() for d in result.panel.span.mondays()]
    future = [d.isoformat() for d in result.weeks]
    mean, sd80, sd95 = _aggregate(result)
    baseline = sum(
        (f.baseline.mean for f in result.forecasts.values()), start=np.zeros(result.horizon)
    )
    lo95, hi95 = np.maximum(mean - Z[95] * sd95, 0), mean + Z[95] * sd95
    lo80, hi80 = np.maximum(mean - Z[80] * sd80, 0), mean + Z[80] * sd80
    returns = {
        "data": [
            {
                "type": "scatter",
                "x": future + future[::-1],
                "y": hi95.tolist() + lo95[::-1].tolist(),
                "fill": "toself",
                "fillcolor": BAND_WIDE,
                "line": {"width": 0},
                "name": "95% interval",
                "hoverinfo": "skip",
            },
            {
                "type": "scatter",
                "x": future + future[::-1],
                "y": hi80.tolist() + lo80[::-1].tolist(),
                "fill": "toself",
                "fillcolor": BAND,
                "line": {"width": 0},
                "name": "80% interval",
                "hoverinfo": "skip",
            },
            {
                "type": "scatter",
                "x": weeks,
                "y": history.tolist(),
                "mode": "lines",
                "line": {"color": "#1d2330", "width": 1.5},
                "name": "returns (history)",
            },
            {
                "type": "scatter",
                "x": future,
                "y": mean.tolist(),
                "mode": "lines",
                "line": {"color": ACCENT, "width": 2.5},
                "name": "forecast (chosen models)",
            },
            {
                "type": "scatter",
                "x": future,
                "y": baseline.tolist(),
                "mode": "lines",
                "line": {"color": MUTED, "dash": "dot", "width": 1.5},
                "name": "seasonal naive",
            },
        ],
        "layout": _layout(
            f"Returns per week, all series, and the next {result.horizon} weeks",
            "week",
            "returns",
            height=380,
        ),
    }
    hubs = sorted({h.hub for h in hours})
    hub_traces = []
    for hub in hubs:
        rows = [h for h in hours if h.hub == hub]
        hub_traces.append(
            {
                "type": "bar",
                "name": hub,
                "x": [h.week.isoformat() for h in rows],
                "y": [h.hours for h in rows],
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [h.hours_hi80 - h.hours for h in rows],
                    "arrayminus": [h.hours - h.hours_lo80 for h in rows],
                    "color": MUTED,
                    "thickness": 1,
                },
                "hovertemplate": f"{hub} %{{x}}: %{{y:.1f}} h<extra></extra>",
            }
        )
    staffing = {
        "data": hub_traces,
        "layout": _layout("Technician hours per hub and week", "week (whiskers: 80%)", "hours"),
    }
    overall = [s for s in result.scores if s.series == OVERALL]
    backtest = {
        "data": [
            {
                "type": "bar",
                "x": [s.model for s in overall],
                "y": [s.mase for s in overall],
                "marker": {
                    "color": [
                        ACCENT if s.model == CHOSEN else (MUTED if s.model == BASELINE else WARN)
                        for s in overall
                    ]
                },
                "hovertemplate": "%{x}: MASE %{y:.3f}<extra></extra>",
            }
        ],
        "layout": _layout(
            "Backtest on the sum of all series",
            f"MASE over {max(result.windows - 1, 0)} scored windows (lower is better)",
            "MASE",
            showlegend=False,
        ),
    }
    return {"returns": returns, "staffing": staffing, "backtest": backtest}


# --- files -------------------------------------------------------------------------------


def figure_json(figure: dict[str, Any]) -> str:
    """A figure as JSON for a page's script (safe inside a <script> element)."""
    text = json.dumps(figure, separators=(",", ":"), default=float)
    return text.replace("</", "<\\/")


def write_html(figures: dict[str, dict[str, Any]], out: Path, title: str) -> Path:
    """One self-contained page of interactive charts, with plotly.min.js copied beside it."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / "plotly.min.js"
    if not target.exists():
        target.write_bytes(plotly_js_path().read_bytes())
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{title}</title><script src='plotly.min.js'></script></head>",
        "<body style='font-family:system-ui,sans-serif;max-width:1100px;margin:1rem auto'>",
        f"<h1 style='font-size:1.3rem'>{title}</h1>",
    ]
    for name, figure in figures.items():
        parts.append(f"<div id='{name}'></div>")
        parts.append(
            f"<script>Plotly.newPlot('{name}', ...(f => [f.data, f.layout])"
            f"({figure_json(figure)}), {{responsive: true, displaylogo: false}});</script>"
        )
    parts.append("</body></html>")
    path = out / "charts.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def write_png(figures: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    """The same charts as PNG files (matplotlib draws them from the figure data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in figures.items():
        layout = figure["layout"]
        fig, ax = plt.subplots(figsize=(9, max(3.6, layout.get("height", 360) / 100)), dpi=110)
        for trace in figure["data"]:
            _draw(ax, trace, layout)
        ax.set_title(layout["title"]["text"], loc="left", fontsize=10)
        ax.set_xlabel(layout["xaxis"]["title"]["text"])
        ax.set_ylabel(layout["yaxis"]["title"]["text"])
        for shape in layout.get("shapes", []):
            ax.axvline(shape["x0"], color=shape["line"]["color"], linestyle=":", linewidth=1.2)
        ax.grid(alpha=0.25)
        _handles, labels = ax.get_legend_handles_labels()
        if labels and layout.get("showlegend", True):
            ax.legend(fontsize=8, loc="best")
        if _dated(figure):
            fig.autofmt_xdate()
        fig.tight_layout()
        path = out / f"{name}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def _colour(value: Any) -> Any:
    """A plotly colour (or list of them) as matplotlib takes it."""
    if isinstance(value, list):
        return [_colour(v) for v in value]
    if isinstance(value, str) and value.startswith("rgba("):
        r, g, b, a = (float(p) for p in value[5:-1].split(","))
        return (r / 255, g / 255, b / 255, a)
    return value


def _dated(figure: dict[str, Any]) -> bool:
    xs: list[Any] = (figure["data"][0].get("x") or []) if figure["data"] else []
    return bool(xs) and isinstance(xs[0], str) and len(xs[0]) == 10 and xs[0][4] == "-"


def _draw(ax: Any, trace: dict[str, Any], layout: dict[str, Any]) -> None:
    from datetime import date

    def xs(values: list[Any]) -> list[Any]:
        if values and isinstance(values[0], str) and len(values[0]) == 10 and values[0][4] == "-":
            return [date.fromisoformat(v) for v in values]
        return values

    name = trace.get("name")
    if trace["type"] == "bar" and trace.get("orientation") == "h":
        base = trace.get("base", 0)
        colour = _colour(trace["marker"]["color"])
        error = trace.get("error_x")
        xerr = [error["arrayminus"], error["array"]] if error else None
        ax.barh(trace["y"], trace["x"], left=base, xerr=xerr, color=colour, label=name, alpha=0.85)
        if base:
            ax.axvline(base, color=MUTED, linewidth=0.8)
    elif trace["type"] == "bar":
        error = trace.get("error_y")
        yerr = [error["arrayminus"], error["array"]] if error else None
        x = xs(trace["x"])
        width: float = 0.8
        if x and isinstance(x[0], date):
            width = 5
        elif len(x) > 1 and isinstance(x[0], int | float):
            width = float(x[1] - x[0]) * 0.95
        colour = _colour(trace.get("marker", {}).get("color"))
        ax.bar(x, trace["y"], width=width, yerr=yerr, color=colour, label=name, alpha=0.8)
    elif trace.get("fill") == "toself":
        x, y = xs(trace["x"]), trace["y"]
        ax.fill(x, y, color=ACCENT, alpha=0.15 if "95" not in (name or "") else 0.08, label=name)
    else:
        line = trace.get("line", {})
        style = ":" if line.get("dash") == "dot" else "-"
        ax.plot(
            xs(trace["x"]),
            trace["y"],
            style,
            color=line.get("color", ACCENT),
            linewidth=line.get("width", 1.5),
            label=name,
        )
