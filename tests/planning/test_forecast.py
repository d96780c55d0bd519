"""The forecast: rows become weeks (bad rows reported, never used), the cohort model recovers
the demo world's known return rates, the backtest beats seasonal naive, and forecasts become
hub hours and spare parts."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from backhaul.demo.returns_history import TRUTH, demo_history, lag_curve
from backhaul.planning import cohort, forecast, series, workload
from backhaul.planning.scenario import PartUse

TODAY = date(2026, 11, 22)


@pytest.fixture(scope="module")
def demo_run() -> forecast.ForecastResult:
    """The demo world's two years (40,000 units sold), forecast by SKU and region."""
    history = demo_history(seed=7, units=40_000)
    sales = series.read_rows(history.sales_rows(), today=TODAY)
    returns = series.read_rows(history.return_rows(), today=TODAY)
    assert sales.skipped == returns.skipped == 0
    span = series.week_span([r.day for r in sales.rows + returns.rows], TODAY)
    assert span is not None
    by = ("sku", "region")
    return forecast.run(
        series.weekly(returns.rows, span, by), series.weekly(sales.rows, span, by), horizon=12
    )


def test_the_cohort_model_recovers_each_demo_products_return_rate_within_10_percent(
    demo_run: forecast.ForecastResult,
) -> None:
    assert set(demo_run.cohort_fits) == set(TRUTH)
    for sku, truth in TRUTH.items():
        fitted = demo_run.cohort_fits[sku].rate
        assert abs(fitted / truth.rate - 1) < 0.10, (sku, fitted, truth.rate)


def test_the_chosen_models_beat_seasonal_naive_on_the_aggregate_weekly_series(
    demo_run: forecast.ForecastResult,
) -> None:
    chosen = demo_run.overall(forecast.CHOSEN)
    baseline = demo_run.overall(forecast.BASELINE)
    assert chosen is not None and baseline is not None
    assert chosen.mase is not None and baseline.mase is not None
    assert chosen.mase < baseline.mase
    assert demo_run.windows == 4
    # Every series has one chosen model and a row per model plus its rolling choice.
    for key in demo_run.forecasts:
        name = forecast.series_name(key)
        rows = [s for s in demo_run.scores if s.series == name]
        assert {s.model for s in rows} == {*demo_run.models, forecast.CHOSEN}
        assert sum(s.chosen for s in rows) == 1


def test_forecasts_have_ordered_intervals_and_start_the_week_after_the_history(
    demo_run: forecast.ForecastResult,
) -> None:
    assert demo_run.weeks[0] == demo_run.panel.span.last + timedelta(weeks=1)
    assert all(week.weekday() == 0 for week in demo_run.weeks)
    for f in demo_run.forecasts.values():
        p = f.prediction
        assert np.all(p.lo95 <= p.lo80 + 1e-9) and np.all(p.lo80 <= p.mean + 1e-9)
        assert np.all(p.mean <= p.hi80 + 1e-9) and np.all(p.hi80 <= p.hi95 + 1e-9)
        assert np.all(p.lo95 >= 0)


def test_a_noise_free_cohort_is_fitted_exactly() -> None:
    rng = np.random.default_rng(3)
    sales = rng.uniform(50, 150, 104)
    lag = np.array(lag_curve("SPK-100", cohort.LAG_WEEKS))
    returns = cohort.convolve(sales, 0.08 * lag)
    fit = cohort.fit(sales, returns)
    assert fit.rate == pytest.approx(0.08, rel=0.01)
    assert np.abs(cohort.convolve(sales, fit.q) - returns).max() < 0.05 * returns.max()


def test_a_line_with_few_returns_borrows_the_pooled_lag_curve() -> None:
    weeks = 60
    rng = np.random.default_rng(5)
    big_sales = rng.uniform(200, 300, weeks)
    new_sales = np.zeros(weeks)
    new_sales[-6:] = 100  # launched six weeks ago: sales, hardly any returns yet
    lag = np.array(lag_curve("TAB-K8", cohort.LAG_WEEKS))
    big_returns = rng.poisson(cohort.convolve(big_sales, 0.1 * lag)).astype(float)
    new_returns = np.zeros(weeks)
    new_returns[-3:] = [2, 3, 4]
    fits = cohort.fit_lines(
        {"OLD": big_sales, "NEW": new_sales}, {"OLD": big_returns, "NEW": new_returns}
    )
    assert not fits["OLD"].pooled and fits["NEW"].pooled
    assert np.allclose(fits["NEW"].lag, fits["OLD"].lag, atol=0.05)
    mean, _ = cohort.forecast(fits["NEW"], new_sales, new_returns, 8)
    assert mean.sum() > 0  # forecast from its sales alone


def test_mase_is_the_error_scaled_by_the_naive_in_sample_error() -> None:
    train = np.array([10.0, 12.0, 11.0, 13.0])  # one-step naive errors 2, 1, 2: scale 5/3
    actual = np.array([12.0, 14.0])
    assert forecast.mase(actual, np.array([13.0, 13.0]), train) == pytest.approx(1.0 / (5 / 3))
    assert forecast.mase(actual, actual, train) == 0
    assert forecast.bias(10.0, 12.0) == pytest.approx(0.2)
    assert forecast.bias(0.0, 3.0) is None


def _rows(*records: dict[str, object]) -> series.Loaded:
    return series.read_rows(records, today=TODAY, source="test.csv")


def test_bad_rows_are_reported_with_their_reason_and_skipped() -> None:
    loaded = _rows(
        {"date": "2026-10-05", "sku": "spk-100", "region": "us", "quantity": "3"},
        {"date": "2026-10-06", "sku": "SPK-100", "region": "US", "quantity": "-2"},
        {"date": "yesterday", "sku": "SPK-100", "region": "US", "quantity": "1"},
        {"date": "2026-12-24", "sku": "SPK-100", "region": "US", "quantity": "1"},
        {"date": "2026-10-07", "sku": "SPK-100", "region": "US", "quantity": "2.5"},
        {"date": "2026-10-07", "sku": "SPK-100", "region": "", "quantity": "1"},
        {"date": "2026-10-08T09:30:00Z", "sku": "SPK-100", "region": "US", "quantity": "4.0"},
    )
    assert [(r.day, r.sku, r.region, r.quantity) for r in loaded.rows] == [
        (date(2026, 10, 5), "SPK-100", "US", 3),
        (date(2026, 10, 8), "SPK-100", "US", 4),
    ]
    assert [(p.row, p.field) for p in loaded.problems] == [
        (2, "quantity"),
        (3, "date"),
        (4, "date"),
        (5, "quantity"),
        (6, "region"),
    ]
    assert "negative" in loaded.problems[0].reason
    assert "after today (2026-11-22)" in loaded.problems[2].reason
    assert loaded.skipped == 5


def test_rows_of_any_frequency_become_weeks_and_missing_weeks_are_zeros() -> None:
    loaded = _rows(
        {"date": "2026-09-07", "sku": "A1", "region": "US", "quantity": "2"},  # Monday
        {"date": "2026-09-13", "sku": "A1", "region": "US", "quantity": "3"},  # Sunday, same week
        {"date": "2026-10-01", "sku": "A1", "region": "EU", "quantity": "5"},  # 3 weeks later
    )
    span = series.week_span([r.day for r in loaded.rows], TODAY)
    assert span is not None and span.first == date(2026, 9, 7) and span.weeks == 4
    panel = series.weekly(loaded.rows, span, ("sku",))
    assert panel.series[("A1",)].tolist() == [5, 0, 0, 5]
    by_region = series.weekly(loaded.rows, span, ("region",))
    assert by_region.series[("EU",)].tolist() == [0, 0, 0, 5]


def test_a_week_that_is_not_over_is_left_out_and_said_so() -> None:
    # Today is Sunday 2026-11-22: the week of Monday 2026-11-16 ends today, so it is not over.
    span = series.week_span([date(2026, 11, 2), date(2026, 11, 17)], TODAY)
    assert span is not None and span.last == date(2026, 11, 9)
    assert "2026-11-16 is not over" in span.notes[0]


def test_by_names_are_checked() -> None:
    assert series.parse_by("sku, region") == ("sku", "region")
    with pytest.raises(ValueError, match="unknown: colour"):
        series.parse_by("sku,colour")


def test_a_short_history_is_forecast_without_a_backtest() -> None:
    span = series.WeekSpan(date(2026, 9, 7), date(2026, 11, 9))
    panel = series.Panel(span, ("sku",), {("A1",): np.arange(10, dtype=float)})
    result = forecast.run(panel, None, horizon=4)
    assert result.windows == 0
    assert "too few for a backtest" in result.notes[0]
    assert result.forecasts[("A1",)].model == "auto_ets"
    assert not [s for s in result.scores if s.series == forecast.OVERALL]


def test_forecasts_become_hub_hours_and_parts() -> None:
    span = series.WeekSpan(date(2026, 1, 5), date(2026, 11, 9))
    weeks = span.weeks
    panel = series.Panel(
        span,
        ("sku", "region"),
        {("A1", "US"): np.full(weeks, 10.0), ("A1", "UK"): np.full(weeks, 6.0)},
        faults={"A1": {"": 12.0, "BAT.CELL": 4.0, "DSP.TOUCH": 4.0}},
    )
    result = forecast.run(panel, None, horizon=3)
    hub_of = workload.hub_map(["US", "UK"], {"US": "HUB-US", "EU": "HUB-EU"})
    assert hub_of == {"US": "HUB-US", "UK": "HUB-EU"}  # the UK has no hub: the EU's
    standards = {
        "A1": workload.Standards(
            30.0, {"BAT.CELL": PartUse(part="battery", per_repair=2)}, "scenario"
        )
    }
    hours = workload.hub_hours(result, hub_of, standards)
    us = [h for h in hours if h.hub == "HUB-US"]
    assert len(us) == 3 and us[0].returns == pytest.approx(10.0)
    assert us[0].hours == pytest.approx(10.0 * 30 / 60)
    assert us[0].hours_lo80 <= us[0].hours <= us[0].hours_hi80
    parts = workload.parts_demand(result, hub_of, standards)
    eu_week = {
        (p.part, p.fault_code): p.quantity
        for p in parts
        if p.hub == "HUB-EU" and p.week == result.weeks[0]
    }
    # 6 returns a week × 4/20 with a swollen battery × 2 batteries; 6 × 4/20 displays.
    assert eu_week == pytest.approx({("battery", "BAT.CELL"): 2.4, ("DSP.TOUCH", "DSP.TOUCH"): 1.2})
