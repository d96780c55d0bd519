"""Scenario files and distributions: bad input fails with the field and the reason; every
distribution's mean and quantiles match what its draws do."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from backhaul.kit.errors import ValidationFailed
from backhaul.planning.distributions import Beta, LogNormal, Normal, Triangular, Uniform
from backhaul.planning.scenario import load_scenario_text, parse_scenario
from tests.planning.factories import EXAMPLES, hand


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"returns.rate": 1.5}, "returns.rate", "must not go above 1"),
        (
            {"returns.rate": {"dist": "normal", "mean": 0.05, "sd": 0.03}},
            "returns.rate",
            "must not go below 0",
        ),
        (
            {"returns.rate": {"dist": "triangular", "low": 0.1, "mode": 0.05, "high": 0.2}},
            "returns.rate",
            "low <= mode <= high",
        ),
        ({"returns.rate": {"dist": "gamma", "k": 2}}, "returns.rate", "unknown dist 'gamma'"),
        ({"returns.rate": {"low": 0.1, "high": 0.2}}, "returns.rate", "a table with dist ="),
        ({"returns.rate": "eight percent"}, "returns.rate", ""),
        ({"returns.rate": None}, "returns.rate", "Field required"),
        ({"hub.labour_rate": -3}, "hub.labour_rate", "must not go below 0"),
        ({"minutes.polish": 5}, "minutes.polish", "unknown step 'polish'"),
        ({"minutes.test": {"minutes": 5, "share": 2}}, "minutes.test.share", "less than or equal"),
        ({"product.price": 0}, "product.price", "greater than 0"),
        ({"product.currency": "dollars"}, "product.currency", "pattern"),
        ({"product.colour": "red"}, "product.colour", "Extra inputs are not permitted"),
        ({"recovery.liquidation.mix": 0.9}, "recovery", "must add up to 1, not 1.4"),
        ({"refurbishment.harvest_value": 500}, "refurbishment.harvest_value", "exceed its price"),
        (
            {"refurbishment.yield": {"dist": "beta", "mean": 0.5, "sd": 0.6}},
            "refurbishment.yield",
            "sd must be above 0 and below",
        ),
        ({"refurbishment": None}, "refurbishment", "Field required"),
    ],
)
def test_a_bad_scenario_names_the_field_and_the_reason(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_scenario(hand(**changes))
    assert caught.value.field == field
    assert reason in caught.value.detail


def test_every_problem_is_listed_not_only_the_first() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_scenario(hand(**{"returns.rate": 2, "hub.labour_rate": -1}))
    fields = [e["field"] for e in caught.value.extra["errors"]]
    assert fields == ["returns.rate", "hub.labour_rate"]


def test_a_toml_syntax_error_names_the_line() -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_scenario_text('[product]\nsku = "X"\nprice = = 3\n')
    assert caught.value.field == "file"
    assert "line 3" in caught.value.detail


def test_numbers_are_fixed_and_yield_is_spelled_yield() -> None:
    example = load_scenario_text((EXAMPLES / "spk-100.toml").read_text())
    assert example.hub.labour_rate.dist == "fixed"
    assert example.refurbishment.yield_.dist == "beta"
    assert example.minutes["test"].share == 0.85


DISTRIBUTIONS = [
    Uniform(dist="uniform", low=2, high=5),
    Triangular(dist="triangular", low=1, mode=2, high=6),
    Normal.model_validate({"dist": "normal", "mean": 10, "sd": 2}),
    LogNormal.model_validate({"dist": "lognormal", "mean": 4, "sd": 3}),
    Beta.model_validate({"dist": "beta", "mean": 0.3, "sd": 0.1}),
    Beta.model_validate({"dist": "beta", "alpha": 2, "beta": 5, "low": 10, "high": 20}),
]


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=lambda d: d.dist)
def test_draws_match_the_distribution_mean_and_quantiles(dist: Any) -> None:
    draws = np.asarray(dist.draw(np.random.default_rng(1), 400_000))
    assert draws.mean() == pytest.approx(dist.mean, rel=0.01)
    for p in (0.1, 0.5, 0.9):
        assert np.quantile(draws, p) == pytest.approx(dist.quantile(p), rel=0.01, abs=1e-3)


def test_beta_from_mean_and_sd_has_that_mean_and_sd() -> None:
    dist = Beta.model_validate({"dist": "beta", "mean": 0.7, "sd": 0.06})
    draws = np.asarray(dist.draw(np.random.default_rng(2), 400_000))
    assert draws.mean() == pytest.approx(0.7, abs=1e-3)
    assert draws.std() == pytest.approx(0.06, rel=0.01)
