"""The sales-cohort return model: returns in week t are the sum over past sales weeks of
sales × the probability that a unit comes back k weeks after its sale. Pure numpy and scipy.

The probability per lag, q[k] = rate × lag[k], is a non-negative mix of fixed decay shapes
(exponentials with mean lags from half a week to over a year, each summing to one over two
years), fitted by non-negative least squares per product line. The fitted return rate is the
sum of the mix weights; the lag curve is the mix divided by it. A line with little return
history yet borrows the lag curve of all lines together and fits only its own rate, so a
product that has sales but few returns can be forecast.

Seasonality comes in with the sales: each sales week's cohort carries its season into the
returns it makes, and future sales weeks (needed for returns that come back within the
horizon) are projected with last year's same weeks scaled by this year's growth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, np.dtype[np.float64]]
LAG_WEEKS = 104
SHAPE_MEANS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
MIN_RETURNS = 30  # below this a line borrows the pooled lag curve
MIN_SALES_WEEKS = 8
SEASON = 52


def shapes(lag_weeks: int = LAG_WEEKS) -> Array:
    """The decay shapes, one per row, each summing to one."""
    k = np.arange(lag_weeks)
    rows = np.exp(-k[None, :] / np.asarray(SHAPE_MEANS)[:, None])
    normalised: Array = rows / rows.sum(axis=1, keepdims=True)
    return normalised


def convolve(sales: Array, q: Array) -> Array:
    """Expected returns per week from weekly sales and per-lag return probabilities."""
    out: Array = np.convolve(sales, q)[: len(sales)]
    return out


@dataclass(frozen=True)
class CohortFit:
    """A product line's return behaviour, as fitted."""

    rate: float
    lag: Array  # P(return comes k weeks after sale | it comes back), sums to 1
    rate_se: float
    returns_seen: float
    exposure: float  # units sold weighted by the share of their returns already due
    pooled: bool

    @property
    def q(self) -> Array:
        out: Array = self.rate * self.lag
        return out

    def mean_lag(self) -> float:
        return float(np.dot(np.arange(len(self.lag)), self.lag))


def _design(sales: Array, basis: Array) -> Array:
    return np.stack([convolve(sales, row) for row in basis], axis=1)


def _finish(rate: float, lag: Array, sales: Array, returns: Array, pooled: bool) -> CohortFit:
    n = min(len(sales), len(lag))
    weights = np.ones(len(sales))
    # Units sold j weeks before the last week have had lags 0..j to come back so far.
    weights[len(sales) - n :] = np.cumsum(lag[:n])[::-1]
    exposure = float(sales @ weights)
    seen = float(returns.sum())
    se = float(np.sqrt(max(rate, 1e-12) * (1 - min(rate, 1.0)) / exposure)) if exposure else 0.0
    return CohortFit(float(rate), lag, se, seen, exposure, pooled)


def fit(sales: Array, returns: Array, lag_weeks: int = LAG_WEEKS) -> CohortFit:
    """Fit a line's return rate and lag curve from its weekly sales and returns."""
    from scipy.optimize import nnls  # imported when used: scipy is 40 MiB per process

    basis = shapes(lag_weeks)
    weights, _residual = nnls(_design(sales, basis), returns, maxiter=50 * len(basis))
    rate = float(weights.sum())
    if rate <= 0:
        return _finish(0.0, basis[0], sales, returns, pooled=False)
    lag: Array = weights @ basis / rate
    return _finish(rate, lag, sales, returns, pooled=False)


def fit_with_lag(sales: Array, returns: Array, lag: Array, prior_rate: float) -> CohortFit:
    """Fit only the rate, with a borrowed lag curve (a line with little history)."""
    expected = convolve(sales, lag)
    denominator = float(expected @ expected)
    rate = float(expected @ returns) / denominator if denominator > 0 else prior_rate
    if returns.sum() == 0:
        rate = prior_rate
    return _finish(max(rate, 0.0), lag, sales, returns, pooled=True)


def fit_lines(
    sales: dict[str, Array], returns: dict[str, Array], lag_weeks: int = LAG_WEEKS
) -> dict[str, CohortFit]:
    """Fit every product line; lines with little history borrow the pooled lag curve."""
    zeros = np.zeros(len(next(iter(sales.values())))) if sales else np.zeros(0)
    total_sales = sum(sales.values(), start=zeros.copy())
    total_returns = sum(returns.values(), start=zeros.copy())
    pooled = fit(total_sales, total_returns, lag_weeks) if len(zeros) else None
    fits: dict[str, CohortFit] = {}
    for line, line_sales in sales.items():
        line_returns = returns.get(line, np.zeros_like(line_sales))
        enough = (
            line_returns.sum() >= MIN_RETURNS and np.count_nonzero(line_sales) >= MIN_SALES_WEEKS
        )
        if enough or pooled is None:
            fits[line] = fit(line_sales, line_returns, lag_weeks)
        else:
            fits[line] = fit_with_lag(line_sales, line_returns, pooled.lag, pooled.rate)
    return fits


def project_sales(sales: Array, horizon: int) -> Array:
    """Future weekly sales: last year's same weeks scaled by growth, or the recent average."""
    if horizon <= 0:
        return np.zeros(0)
    if len(sales) >= SEASON + 13:
        recent = sales[-13:].sum()
        year_before = sales[-SEASON - 13 : -SEASON].sum()
        growth = float(np.clip(recent / year_before, 0.5, 2.0)) if year_before > 0 else 1.0
        out: Array = np.array([sales[len(sales) - SEASON + h] for h in range(horizon)], dtype=float)
        return out * growth
    level = float(sales[-8:].mean()) if len(sales) else 0.0
    return np.full(horizon, level)


def forecast(
    fit_: CohortFit,
    sales: Array,
    returns: Array,
    horizon: int,
    future_sales: Array | None = None,
) -> tuple[Array, Array]:
    """Expected returns for the next `horizon` weeks, and the dispersion of counts around the
    expected values in the history (1 = Poisson; larger = noisier)."""
    if horizon > SEASON:
        raise ValueError("the cohort projection reaches at most a year ahead")
    future = project_sales(sales, horizon) if future_sales is None else future_sales
    extended = np.concatenate([sales, future])
    expected = convolve(extended, fit_.q)
    fitted = expected[: len(sales)]
    mask = fitted > 0
    dof = max(int(mask.sum()) - len(SHAPE_MEANS), 1)
    ratio = float(((returns[mask] - fitted[mask]) ** 2 / fitted[mask]).sum()) / dof
    dispersion = max(1.0, ratio) if mask.any() else 1.0
    mean: Array = expected[len(sales) :]
    return mean, np.full(horizon, dispersion)
