"""Uncertain inputs: the distributions a scenario may give, each with its mean, its quantiles
and a seeded, vectorised draw. Pure: the random generator is passed in.

In a scenario file an input is either a number (fixed) or a table naming its distribution:

    rate = 0.08
    rate = { dist = "uniform", low = 0.06, high = 0.11 }
    rate = { dist = "triangular", low = 0.06, mode = 0.08, high = 0.12 }
    rate = { dist = "normal", mean = 0.08, sd = 0.01 }
    rate = { dist = "lognormal", mean = 0.08, sd = 0.02 }     # mean and sd of the value itself
    rate = { dist = "beta", alpha = 8, beta = 92 }              # or mean = 0.08, sd = 0.027
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Values = float | np.ndarray[Any, np.dtype[np.float64]]
KINDS = ("fixed", "uniform", "triangular", "normal", "lognormal", "beta")
# Unbounded distributions are judged on these quantiles when a field must stay in a range.
TAIL = 0.001


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def mean(self) -> float:
        raise NotImplementedError

    def quantile(self, p: float) -> float:
        """The value below which a share `p` of draws fall."""
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, n: int) -> Values:
        """`n` draws (a plain float for a fixed value: it broadcasts and costs nothing)."""
        raise NotImplementedError

    @property
    def uncertain(self) -> bool:
        return True

    def bounds(self) -> tuple[float, float]:
        """Where the draws lie: the support, or the 0.1% and 99.9% quantiles when unbounded."""
        return self.quantile(0.0), self.quantile(1.0)

    def describe(self) -> str:
        """A short human description, e.g. 'triangular 0.06 / 0.08 / 0.12'."""
        fields = self.model_dump(exclude={"dist"})
        return f"{self.model_dump()['dist']} " + " / ".join(f"{v:g}" for v in fields.values())


class Fixed(_Dist):
    """A known value."""

    dist: Literal["fixed"] = "fixed"
    value: float = Field(allow_inf_nan=False)

    @property
    def mean(self) -> float:
        return self.value

    @property
    def uncertain(self) -> bool:
        return False

    def quantile(self, p: float) -> float:
        return self.value

    def draw(self, rng: np.random.Generator, n: int) -> Values:
        return self.value

    def describe(self) -> str:
        return f"{self.value:g}"


class Uniform(_Dist):
    """Any value between low and high, equally likely."""

    dist: Literal["uniform"]
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) must not be above high ({self.high:g})")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def quantile(self, p: float) -> float:
        return self.low + p * (self.high - self.low)

    def draw(self, rng: np.random.Generator, n: int) -> Values:
        return rng.uniform(self.low, self.high, n)


class Triangular(_Dist):
    """Lowest, most likely and highest value: the usual way to write down a judgement."""

    dist: Literal["triangular"]
    low: float = Field(allow_inf_nan=False)
    mode: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high:
            raise ValueError(
                f"needs low <= mode <= high, got {self.low:g}, {self.mode:g}, {self.high:g}"
            )
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    def quantile(self, p: float) -> float:
        a, c, b = self.low, self.mode, self.high
        if b == a:
            return a
        if p < (c - a) / (b - a):
            return a + math.sqrt(p * (b - a) * (c - a))
        return b - math.sqrt((1 - p) * (b - a) * (b - c))

    def draw(self, rng: np.random.Generator, n: int) -> Values:
        if self.low == self.high:
            return self.low
        return rng.triangular(self.low, self.mode, self.high, n)


class Normal(_Dist):
    """Symmetric uncertainty around a mean; unbounded, so fields with limits check its tails."""

    dist: Literal["normal"]
    mean_: float = Field(alias="mean", allow_inf_nan=False)
    sd: float = Field(ge=0, allow_inf_nan=False)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def mean(self) -> float:
        return self.mean_

    def quantile(self, p: float) -> float:
        if self.sd == 0:
            return self.mean_
        return NormalDist(self.mean_, self.sd).inv_cdf(min(max(p, TAIL), 1 - TAIL))

    def draw(self, rng: np.random.Generator, n: int) -> Values:
        return rng.normal(self.mean_, self.sd, n)

    def describe(self) -> str:
        return f"normal mean {self.mean_:g}, sd {self.sd:g}"


class LogNormal(_Dist):
    """A positive value with a long right tail, given by its own mean and standard deviation."""

    dist: Literal["lognormal"]
    mean_: float = Field(alias="mean", gt=0, allow_inf_nan=False)
    sd: float = Field(ge=0, allow_inf_nan=False)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def _log_params(self) -> tuple[float, float]:
        sigma2 = math.log1p((self.sd / self.mean_) ** 2)
        return math.log(self.mean_) - sigma2 / 2, math.sqrt(sigma2)

    @property
    def mean(self) -> float:
        return self.mean_

    def quantile(self, p: float) -> float:
        mu, sigma = self._log_params
        if sigma == 0:
            return self.mean_
        if p <= 0:
            return 0.0
        return math.exp(NormalDist(mu, sigma).inv_cdf(min(p, 1 - TAIL)))

    def draw(self, rng: np.random.Generator, n: int) -> Values:
        mu, sigma = self._log_params
        return rng.lognormal(mu, sigma, n)

    def describe(self) -> str:
        return f"lognormal mean {self.mean_:g}, sd {self.sd:g}"


class Beta(_Dist):
    """A share between low and high (0 and 1 unless given), by alpha and beta or mean and sd."""

    dist: Literal["beta"]
    alpha: float = Field(gt=0, le=1e6, allow_inf_nan=False)
    beta: float = Field(gt=0, le=1e6, allow_inf_nan=False)
    low: float = Field(0.0, allow_inf_nan=False)
    high: float = Field(1.0, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _from_mean_and_sd(cls, data: Any) -> Any:
        if not isinstance(data, dict) or ("mean" not in data and "sd" not in data):
            return data
        if "alpha" in data or "beta" in data:
            raise ValueError("give either alpha and beta, or mean and sd, not both")
        data = dict(data)
        mean, sd = data.pop("mean", None), data.pop("sd", None)
        low, high = data.get("low", 0.0), data.get("high", 1.0)
        if not all(isinstance(v, int | float) for v in (mean, sd, low, high)):
            raise ValueError("mean, sd, low and high must be numbers")
        assert isinstance(mean, int | float) and isinstance(sd, int | float)
        if not low < mean < high:
            raise ValueError(f"mean must lie strictly between {low:g} and {high:g}")
        m, s = (mean - low) / (high - low), sd / (high - low)
        if not 0 < s * s < m * (1 - m):
            raise ValueError(
                f"sd must be above 0 and below {math.sqrt(m * (1 - m)) * (high - low):.4g} "
                "for this mean"
            )
        k = m * (1 - m) / (s * s) - 1
        data["alpha"], data["beta"] = m * k, (1 - m) * k
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Beta:
        if not self.low < self.high:
            raise ValueError("low must be below high")
        return self

    @property
    def mean(self) -> float:
        return self.low + (self.high - self.low) * self.alpha / (self.alpha + self.beta)

    def quantile(self, p: float) -> float:
        from scipy.special import betaincinv  # imported when used: scipy is 40 MiB per process

        return self.low + (self.high - self.low) * float(betaincinv(self.alpha, self.beta, p))

    def draw(self, rng: np.random.Generator, n: int) -> Values:
        draws = rng.beta(self.alpha, self.beta, n)
        if self.low == 0.0 and self.high == 1.0:
            return draws
        return self.low + (self.high - self.low) * draws

    def describe(self) -> str:
        return f"beta mean {self.mean:.4g} (alpha {self.alpha:.4g}, beta {self.beta:.4g})"


def _number_is_fixed(value: Any) -> Any:
    """A bare number means a fixed value; a table must say which distribution it is."""
    if isinstance(value, bool):
        raise ValueError("expected a number or a distribution table, not true/false")
    if isinstance(value, int | float):
        return {"dist": "fixed", "value": value}
    if isinstance(value, dict) and "dist" not in value:
        raise ValueError("a number, or a table with dist = " + ", ".join(f'"{k}"' for k in KINDS))
    if isinstance(value, dict) and value.get("dist") not in KINDS:
        raise ValueError(f"unknown dist {value.get('dist')!r}: use one of " + ", ".join(KINDS))
    return value


Dist = Annotated[
    Fixed | Uniform | Triangular | Normal | LogNormal | Beta,
    Field(discriminator="dist"),
    BeforeValidator(_number_is_fixed),
]
AnyDist = Fixed | Uniform | Triangular | Normal | LogNormal | Beta


def within(low: float | None, high: float | None, what: str) -> Any:
    """A check that a distribution's draws stay within [low, high] (unbounded tails: 99.8%)."""

    def check(dist: AnyDist) -> AnyDist:
        lo, hi = dist.bounds()
        if low is not None and lo < low - 1e-12:
            raise ValueError(
                f"{what} must not go below {low:g}, but this {dist.dist} reaches {lo:.4g}"
                + (" (use lognormal, beta or triangular)" if dist.dist == "normal" else "")
            )
        if high is not None and hi > high + 1e-12:
            raise ValueError(
                f"{what} must not go above {high:g}, but this {dist.dist} reaches {hi:.4g}"
            )
        return dist

    return check
