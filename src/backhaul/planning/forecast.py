"""The returns forecast: statsforecast models and the sales-cohort model per weekly series,
a rolling-origin backtest that picks the model per series, and forecasts with 80% and 95%
intervals. Pure computation: rows in, numbers out (the caller reads files or the database).

Models:
- `seasonal_naive`: the same week last year (the baseline; the last week when the history is
  shorter than a year).
- `auto_ets`: exponential smoothing with additive errors (return counts can be zero, where
  multiplicative errors are undefined) and the trend (none, additive, damped) chosen by AICc;
  no seasonal state (a 52-week season is beyond ETS; seasonality reaches returns through the
  sales cohorts instead).
- `auto_theta`: the optimised Theta model, seasonally adjusted when two years show a 52-week
  season (one variant, not all four: a quarter of the time for 1,000 series).
- `cohort`: the sales-cohort model of `cohort.py` (only when sales are given).

Backtest: `windows` forecast origins, `horizon` weeks apart, ending at the last week. At each
origin every model is fitted on the weeks before it and forecasts the next `horizon` weeks.
MASE = mean absolute error / the in-sample mean absolute error of the one-step naive forecast
(the mean absolute level if the series never changes, 1 if it is all zeros); bias = (forecast
- actual) / actual, summed over the scored weeks. The first window only warms up the choice:
scores are over the later windows. `chosen` is the model picked at each origin from the
windows before it (so its score is honest: no peeking), and the model used for the forecast
is the one with the lowest MASE. The series `overall` is the sum of all series.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from multiprocessing import get_context
from typing import Any

import numpy as np

from backhaul.planning import cohort
from backhaul.planning.series import Array, Panel

STAT_MODELS = ("seasonal_naive", "auto_ets", "auto_theta")
COHORT = "cohort"
BASELINE = "seasonal_naive"
CHOSEN = "chosen"
OVERALL = "overall"
SEASON = 52
Z = {80: 1.2815515655446004, 95: 1.959963984540054}
MIN_TRAIN = 26
PARALLEL_FROM = 64  # series; below this, worker start-up costs more than it saves


@dataclass
class Prediction:
    """A forecast path with its 80% and 95% intervals (all at least zero)."""

    mean: Array
    lo80: Array
    hi80: Array
    lo95: Array
    hi95: Array

    @classmethod
    def point(cls, mean: Array) -> Prediction:
        return cls(mean, mean, mean, mean, mean)

    @classmethod
    def normal(cls, mean: Array, sd: Array) -> Prediction:
        return cls(
            mean,
            np.maximum(mean - Z[80] * sd, 0),
            mean + Z[80] * sd,
            np.maximum(mean - Z[95] * sd, 0),
            mean + Z[95] * sd,
        )


def _fallback(y: Array, h: int) -> Prediction:
    level = float(y[-8:].mean()) if len(y) else 0.0
    spread = float(y[-8:].std()) if len(y) > 1 else 0.0
    return Prediction.normal(np.full(h, level), np.full(h, spread))


def _model(name: str, length: int) -> Any:
    from statsforecast.models import AutoETS, AutoTheta, Naive, SeasonalNaive

    if name == "seasonal_naive":
        return SeasonalNaive(season_length=SEASON) if length >= SEASON else Naive()
    if name == "auto_ets":
        return AutoETS(season_length=1, model="AZN")
    return AutoTheta(season_length=SEASON, model="OTM")


def predict_statistical(model: str, y: Array, h: int, intervals: bool = True) -> Prediction:
    """Fit one statsforecast model on `y` and forecast `h` weeks (never below zero).
    Without `intervals` (the backtest needs none) only the mean path is computed."""
    if not y.any():
        return Prediction.point(np.zeros(h))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = _model(model, len(y))
            out = (
                fitted.forecast(y=y, h=h, level=[80, 95])
                if intervals
                else fitted.forecast(y=y, h=h)
            )
    except Exception:  # a model that cannot fit this series: the recent level instead
        return _fallback(y, h)
    mean = np.asarray(out["mean"], dtype=float)
    if not np.all(np.isfinite(mean)):
        return _fallback(y, h)
    if not intervals:
        return Prediction.point(np.maximum(mean, 0))

    def band(name: str) -> Array:
        values: Array = np.maximum(np.nan_to_num(np.asarray(out[name], dtype=float), nan=0.0), 0)
        return values

    return Prediction(
        np.maximum(mean, 0), band("lo-80"), band("hi-80"), band("lo-95"), band("hi-95")
    )


def mase(actual: Array, forecast: Array, train: Array) -> float:
    """Mean absolute scaled error against the one-step naive forecast's in-sample error."""
    scale = float(np.mean(np.abs(np.diff(train)))) if len(train) > 1 else 0.0
    if scale == 0:
        scale = float(np.mean(np.abs(train))) if len(train) else 0.0
    if scale == 0:
        scale = 1.0
    return float(np.mean(np.abs(actual - forecast))) / scale


def bias(actual_total: float, forecast_total: float) -> float | None:
    """Over (+) or under (-) forecast as a share of the actual."""
    return None if actual_total == 0 else (forecast_total - actual_total) / actual_total


@dataclass(frozen=True)
class Score:
    """One row of backtest.csv."""

    series: str
    model: str
    mase: float | None
    bias: float | None
    chosen: bool


@dataclass
class SeriesForecast:
    """The forecast of one series with the chosen model (and the baseline beside it)."""

    key: tuple[str, ...]
    model: str
    prediction: Prediction
    baseline: Prediction


@dataclass
class ForecastResult:
    """Everything a forecast run produced."""

    panel: Panel
    sales: Panel | None
    horizon: int
    windows: int
    origins: list[int]
    weeks: list[date]
    forecasts: dict[tuple[str, ...], SeriesForecast]
    scores: list[Score]
    cohort_fits: dict[str, cohort.CohortFit]
    notes: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return [*STAT_MODELS, *([COHORT] if self.sales is not None else [])]

    def overall(self, model: str) -> Score | None:
        return next((s for s in self.scores if s.series == OVERALL and s.model == model), None)

    def chosen_model(self, key: tuple[str, ...]) -> str:
        return self.forecasts[key].model


def series_name(key: tuple[str, ...]) -> str:
    return "/".join(key)


def _worker(
    task: tuple[list[Array], list[int], int, int],
) -> list[tuple[dict[str, list[Prediction]], dict[str, Prediction]]]:
    """Backtest and final forecasts of the statistical models for a batch of series."""
    ys, origins, h, horizon = task
    out = []
    for y in ys:
        windows = {
            model: [predict_statistical(model, y[:origin], h, False) for origin in origins]
            for model in STAT_MODELS
        }
        finals = {model: predict_statistical(model, y, horizon) for model in STAT_MODELS}
        out.append((windows, finals))
    return out


def _run_statistical(
    ys: list[Array],
    origins: list[int],
    h: int,
    horizon: int,
    jobs: int,
    progress: Callable[[int], None] | None,
) -> list[tuple[dict[str, list[Prediction]], dict[str, Prediction]]]:
    size = max(1, math.ceil(len(ys) / (max(jobs, 1) * 8)))
    batches = [(ys[i : i + size], origins, h, horizon) for i in range(0, len(ys), size)]
    results = []
    if jobs <= 1 or len(ys) < PARALLEL_FROM:
        for batch in batches:
            results.extend(_worker(batch))
            if progress:
                progress(len(batch[0]))
        return results
    # Fresh interpreters: forking a process that runs threads (a server) is not safe.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        for batch, done in zip(batches, pool.map(_worker, batches), strict=True):
            results.extend(done)
            if progress:
                progress(len(batch[0]))
    return results


def _line_of(key: tuple[str, ...], by: tuple[str, ...]) -> str:
    return key[by.index("sku")] if "sku" in by else series_name(key)


def _cohort_predictions(
    panel: Panel, sales: Panel, end: int, h: int
) -> dict[tuple[str, ...], Prediction]:
    """Fit the cohort model per line on weeks before `end`; forecast each series h weeks."""
    by = panel.by
    line_sales: dict[str, Array] = {}
    line_returns: dict[str, Array] = {}
    for key, values in sales.series.items():
        line = _line_of(key, by)
        line_sales[line] = line_sales.get(line, np.zeros(end)) + values[:end]
    for key, values in panel.series.items():
        line = _line_of(key, by)
        line_returns[line] = line_returns.get(line, np.zeros(end)) + values[:end]
        line_sales.setdefault(line, np.zeros(end))
    fits = cohort.fit_lines(line_sales, line_returns)
    out = {}
    for key, values in panel.series.items():
        fit = fits[_line_of(key, by)]
        own_sales = sales.series.get(key, np.zeros(panel.span.weeks))[:end]
        mean, dispersion = cohort.forecast(fit, own_sales, values[:end], h)
        out[key] = Prediction.normal(mean, np.sqrt(dispersion * mean))
    return out


def fit_lines(panel: Panel, sales: Panel) -> dict[str, cohort.CohortFit]:
    """The cohort model's fit per product line on the whole history."""
    by = panel.by
    line_sales: dict[str, Array] = {}
    line_returns: dict[str, Array] = {}
    weeks = panel.span.weeks
    for key, values in sales.series.items():
        line = _line_of(key, by)
        line_sales[line] = line_sales.get(line, np.zeros(weeks)) + values
    for key, values in panel.series.items():
        line = _line_of(key, by)
        line_returns[line] = line_returns.get(line, np.zeros(weeks)) + values
        line_sales.setdefault(line, np.zeros(weeks))
    return cohort.fit_lines(line_sales, line_returns)


def plan_windows(weeks: int, horizon: int, windows: int) -> list[int]:
    """Backtest origins: `windows` of them, `horizon` apart, the last ending at the last week."""
    possible = max((weeks - MIN_TRAIN) // horizon, 0)
    count = min(windows, possible)
    return [weeks - (count - w) * horizon for w in range(count)]


def run(
    panel: Panel,
    sales: Panel | None = None,
    *,
    horizon: int = 12,
    windows: int = 4,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> ForecastResult:
    """Backtest every model on every series, choose per series, and forecast `horizon` weeks.
    `progress` is called with the number of series done, batch by batch."""
    if not 1 <= horizon <= SEASON:
        raise ValueError("the horizon must be between 1 and 52 weeks")
    weeks = panel.span.weeks
    notes: list[str] = []
    if sales is not None and sales.span.first != panel.span.first:
        raise ValueError("sales and returns must cover the same weeks")
    origins = plan_windows(weeks, horizon, windows)
    if len(origins) < 2:
        notes.append(
            f"{weeks} weeks of history are too few for a backtest of {horizon}-week forecasts "
            f"(need {MIN_TRAIN + 2 * horizon}): models are not compared"
        )
    keys = list(panel.series)
    ys = [panel.series[k] for k in keys]
    statistical = _run_statistical(ys, origins, horizon, horizon, jobs, progress)
    cohort_windows: list[dict[tuple[str, ...], Prediction]] = []
    cohort_final: dict[tuple[str, ...], Prediction] = {}
    if sales is not None:
        cohort_windows = [_cohort_predictions(panel, sales, o, horizon) for o in origins]
        cohort_final = _cohort_predictions(panel, sales, weeks, horizon)
    models = [*STAT_MODELS, *([COHORT] if sales is not None else [])]

    def window_prediction(index: int, model: str, w: int) -> Array:
        if model == COHORT:
            return cohort_windows[w][keys[index]].mean
        return statistical[index][0][model][w].mean

    scores: list[Score] = []
    forecasts: dict[tuple[str, ...], SeriesForecast] = {}
    scored = range(1, len(origins))
    per_window_mase: dict[tuple[int, str], list[float]] = {}
    rolling_choice: dict[tuple[int, int], str] = {}
    for i, key in enumerate(keys):
        y = ys[i]
        for model in models:
            per_window_mase[(i, model)] = [
                mase(y[o : o + horizon], window_prediction(i, model, w), y[:o])
                for w, o in enumerate(origins)
            ]
        for w in scored:
            rolling_choice[(i, w)] = min(
                models, key=lambda m: (float(np.mean(per_window_mase[(i, m)][:w])), _rank(m))
            )
        table = {}
        for model in models:
            values = [per_window_mase[(i, model)][w] for w in scored]
            actual = sum(float(y[origins[w] : origins[w] + horizon].sum()) for w in scored)
            predicted = sum(float(window_prediction(i, model, w).sum()) for w in scored)
            table[model] = (float(np.mean(values)) if values else None, bias(actual, predicted))
        chosen = (
            min(models, key=lambda m: (table[m][0] or 0.0, _rank(m)))
            if scored
            else (COHORT if sales is not None else "auto_ets")
        )
        name = series_name(key)
        for model in models:
            scores.append(Score(name, model, *table[model], chosen=model == chosen))
        if scored:
            chosen_values = [per_window_mase[(i, rolling_choice[(i, w)])][w] for w in scored]
            actual = sum(float(y[origins[w] : origins[w] + horizon].sum()) for w in scored)
            predicted = sum(
                float(window_prediction(i, rolling_choice[(i, w)], w).sum()) for w in scored
            )
            scores.append(
                Score(name, CHOSEN, float(np.mean(chosen_values)), bias(actual, predicted), False)
            )
        final = cohort_final[key] if chosen == COHORT else statistical[i][1][chosen]
        forecasts[key] = SeriesForecast(key, chosen, final, statistical[i][1][BASELINE])
    if scored:
        scores.extend(
            _overall(panel, keys, origins, horizon, models, window_prediction, rolling_choice)
        )
    last = panel.span.last
    return ForecastResult(
        panel=panel,
        sales=sales,
        horizon=horizon,
        windows=len(origins),
        origins=origins,
        weeks=[last + timedelta(weeks=k + 1) for k in range(horizon)],
        forecasts=forecasts,
        scores=scores,
        cohort_fits=fit_lines(panel, sales) if sales is not None else {},
        notes=notes + panel.span.notes,
    )


def _rank(model: str) -> int:
    """Ties go to the simpler model."""
    order = (BASELINE, "auto_ets", "auto_theta", COHORT)
    return order.index(model)


def _overall(
    panel: Panel,
    keys: Sequence[tuple[str, ...]],
    origins: list[int],
    horizon: int,
    models: list[str],
    window_prediction: Callable[[int, str, int], Array],
    rolling_choice: dict[tuple[int, int], str],
) -> list[Score]:
    """The backtest of the aggregate weekly series: every series summed."""
    total = panel.total()
    scored = range(1, len(origins))
    rows = []
    for model in [*models, CHOSEN]:
        values, actual, predicted = [], 0.0, 0.0
        for w in scored:
            o = origins[w]
            forecast = np.zeros(horizon)
            for i in range(len(keys)):
                chosen = rolling_choice[(i, w)] if model == CHOSEN else model
                forecast = forecast + window_prediction(i, chosen, w)
            values.append(mase(total[o : o + horizon], forecast, total[:o]))
            actual += float(total[o : o + horizon].sum())
            predicted += float(forecast.sum())
        rows.append(
            Score(OVERALL, model, float(np.mean(values)), bias(actual, predicted), model == CHOSEN)
        )
    return rows


def default_jobs() -> int:
    """Worker processes for large runs: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
