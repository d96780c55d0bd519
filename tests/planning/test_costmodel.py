"""The cost model against hand-computed cases, its Monte Carlo against the closed form, and
monotonicity: more returns never cost less, a better yield never costs more."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backhaul.planning import costmodel
from backhaul.planning.scenario import load_scenario_text
from tests.planning.factories import EXAMPLES, hand, scenario

# The HAND scenario worked out by hand, per return (USD):
#   refund                      100.00
#   inbound shipping              8.00
#   labour   (3 + 6 + 4 + 0.5 × 10 = 18 min) × 30 / 60 = 9.00
#   materials 3.00, firmware 0.50, overhead 2.00
#   tariffs   0.2 × 0.05 × 100 = 1.00
#   resale    − 0.6 × 100 × (0.5 × 0.7 + 0.5 × 0.3) = − 30.00
#   harvest and recycling  − 0.4 × (0.25 × 8 − 0.75 × 1) = − 0.50
#   net per return = 93.00; per unit sold at a 10% return rate = 9.30 (9.3% of the 100 price)
#   writing off instead: 100 + 8 + (3 + 4) × 0.5 + 2 + 1 + 1 = 115.50 per return
#   break-even yield: (11 × 0.5 + 3 + 0.5 − 1 − 1.25) / (50 − 1.25) = 6.75 / 48.75
#   break-even resale value at the 60% yield: 1.25 + 6.75 / 0.6 = 12.50 (12.5% of the price)
PER_RETURN = {
    "refund": 100.0,
    "inbound_shipping": 8.0,
    "labour": 9.0,
    "materials": 3.0,
    "firmware": 0.5,
    "overhead": 2.0,
    "tariffs": 1.0,
    "resale": -30.0,
    "harvest_and_recycling": -0.5,
}


def cents(value: float) -> float:
    return round(value, 2)


def test_fixed_inputs_give_the_hand_computed_answer_to_the_cent() -> None:
    result = costmodel.run(scenario(), trials=1000, seed=3)
    assert cents(result.closed_form) == 9.30
    stats = result.net_per_unit_sold
    assert [cents(v) for v in (stats.mean, stats.p10, stats.p50, stats.p90)] == [9.30] * 4
    assert result.share_of_revenue.mean == pytest.approx(0.093)
    assert cents(result.total_cost) == 9300.00
    assert {k: cents(v) for k, v in result.breakdown_per_return.items()} == PER_RETURN
    assert {k: cents(v) for k, v in result.breakdown.items()} == {
        k: cents(v * 0.1) for k, v in PER_RETURN.items()
    }
    assert cents(sum(result.breakdown.values())) == 9.30


def test_break_even_yield_and_resale_value_are_where_refurbishing_equals_writing_off() -> None:
    result = costmodel.run(scenario(), trials=100, seed=1)
    assert result.break_even.yield_ == pytest.approx(6.75 / 48.75)
    assert result.break_even.recovery_value == pytest.approx(12.50)
    assert result.break_even.recovery_share == pytest.approx(0.125)
    assert result.break_even.probability_refurbishing_wins == 1.0
    # At exactly the break-even yield, refurbishing costs what writing off does.
    at_break_even = scenario(**{"refurbishment.yield": 6.75 / 48.75})
    values = costmodel.means(at_break_even)
    cost = costmodel.per_return(values, at_break_even)
    assert float(cost.net) == pytest.approx(115.50)
    assert float(cost.write_off) == pytest.approx(115.50)


def test_break_even_says_never_when_resale_cannot_cover_refurbishing() -> None:
    cheap = scenario(
        **{
            "recovery.refurbished_store.share": 0.01,
            "recovery.liquidation.share": 0.01,
            "hub.materials": 90.0,
        }
    )
    result = costmodel.run(cheap, trials=100, seed=1)
    assert result.break_even.yield_ is None
    assert "never" in result.break_even.note
    assert result.break_even.probability_refurbishing_wins == 0.0


def test_what_ifs_move_the_cost_by_their_hand_computed_amount() -> None:
    data = hand(
        what_if=[
            {"name": "duty 30%", "tariff_rate": 0.30},
            {"name": "suppliers +10%", "supplier_price_change": 0.10},
            {"name": "hub currency +10%", "fx_change": 0.10},
        ]
    )
    from backhaul.planning.scenario import parse_scenario

    result = costmodel.run(parse_scenario(data), trials=200, seed=1)
    changes = {w.name: w.change_from_base for w in result.what_ifs}
    # Per unit sold, at the 10% return rate:
    #   duty:          0.1 × 0.2 × (0.30 − 0.05) × 100            = 0.50
    #   suppliers:     0.1 × 0.10 × (3 materials + 0.5 firmware)    = 0.035
    #   hub currency:  0.1 × 0.10 × (9 labour + 3 materials + 2 overhead + 0.4 × 0.75 recycling)
    #                                                              = 0.143
    assert changes == pytest.approx(
        {"duty 30%": 0.50, "suppliers +10%": 0.035, "hub currency +10%": 0.143}
    )


def test_the_downside_case_scales_with_its_rate() -> None:
    result = costmodel.run(scenario(**{"returns.downside_rate": 0.15}), trials=100, seed=1)
    assert result.downside is not None
    assert cents(result.downside.mean) == cents(0.15 * 93.0)


UNCERTAIN: dict[str, Any] = {
    "returns.rate": {"dist": "triangular", "low": 0.05, "mode": 0.08, "high": 0.14},
    "returns.inbound_shipping": {"dist": "uniform", "low": 6, "high": 10},
    "hub.labour_rate": {"dist": "normal", "mean": 30, "sd": 3},
    "hub.overhead": {"dist": "lognormal", "mean": 2, "sd": 1},
    "minutes.inspect": {"dist": "triangular", "low": 4, "mode": 6, "high": 12},
    "refurbishment.yield": {"dist": "beta", "mean": 0.6, "sd": 0.1},
    "refurbishment.harvest_value": {"dist": "uniform", "low": 2, "high": 14},
    "recovery.refurbished_store.share": {"dist": "uniform", "low": 0.6, "high": 0.8},
}


def test_monte_carlo_means_converge_to_the_closed_form() -> None:
    uncertain = scenario(**UNCERTAIN)
    exact = costmodel.closed_form(uncertain)
    errors = []
    for trials in (10_000, 1_000_000):
        sim = costmodel.simulate(uncertain, trials, seed=11)
        mean = float(sim.net_per_unit_sold.mean())
        standard_error = float(sim.net_per_unit_sold.std()) / math.sqrt(trials)
        assert abs(mean - exact) < 4 * standard_error, (trials, mean, exact)
        errors.append(abs(mean - exact))
    assert errors[1] < 0.01  # a cent at a million trials
    # Each component's mean converges too (the breakdown adds up to the total).
    result = costmodel.run(uncertain, trials=400_000, seed=5)
    assert sum(result.breakdown.values()) == pytest.approx(result.net_per_unit_sold.mean)
    assert result.net_per_unit_sold.mean == pytest.approx(exact, rel=0.003)
    assert result.net_per_unit_sold.p10 < result.net_per_unit_sold.p50
    assert result.net_per_unit_sold.p50 < result.net_per_unit_sold.p90


def test_the_same_seed_gives_the_same_result_and_another_seed_does_not() -> None:
    uncertain = scenario(**UNCERTAIN)
    first = costmodel.run(uncertain, trials=300_000, seed=7)
    again = costmodel.run(uncertain, trials=300_000, seed=7)
    other = costmodel.run(uncertain, trials=300_000, seed=8)
    assert first.as_json() == again.as_json()
    assert first.net_per_unit_sold != other.net_per_unit_sold


def test_the_tornado_ranks_the_inputs_that_move_the_result_most_first() -> None:
    bars = costmodel.tornado(scenario(**UNCERTAIN))
    assert bars[0].input == "returns.rate"
    assert [b.swing for b in bars] == sorted((b.swing for b in bars), reverse=True)
    assert {b.input for b in bars} == set(UNCERTAIN)  # fixed inputs have no bar
    rate = next(b for b in bars if b.input == "returns.rate")
    assert rate.result_at_low < rate.result_at_high
    yield_bar = next(b for b in bars if b.input == "refurbishment.yield")
    assert yield_bar.result_at_low > yield_bar.result_at_high


def test_the_histogram_holds_every_trial() -> None:
    result = costmodel.run(scenario(**UNCERTAIN), trials=50_000, seed=2)
    assert sum(result.histogram_counts) == 50_000
    assert len(result.histogram_edges) == len(result.histogram_counts) + 1
    as_json = result.as_json()
    assert set(as_json["net_cost_per_unit_sold"]) == {"mean", "p10", "p50", "p90"}
    assert {"share_of_revenue", "breakdown", "break_even_yield"} <= set(as_json)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_example_scenario_runs(path: Any) -> None:
    example = load_scenario_text(path.read_text())
    result = costmodel.run(example, trials=20_000, seed=1)
    assert 0 < result.share_of_revenue.mean < 0.5
    assert result.net_per_unit_sold.mean == pytest.approx(result.closed_form, rel=0.02)
    assert result.break_even.yield_ is not None and 0 <= result.break_even.yield_ < 1
    assert result.downside is not None
    assert result.downside.mean > result.net_per_unit_sold.mean
    assert len(result.what_ifs) >= 2


def test_four_examples_ship_one_per_demo_product() -> None:
    skus = {load_scenario_text(p.read_text()).product.sku for p in EXAMPLES.glob("*.toml")}
    assert skus == {"SPK-100", "RNG-200", "TAB-K8", "CAM-AI1"}


# --- monotonicity ------------------------------------------------------------------------

share = st.floats(0, 1)
money = st.floats(0, 500)


@st.composite
def fixed_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    price = draw(st.floats(1, 2000))
    mix = draw(share)
    return hand(
        **{
            "product.price": price,
            "returns.rate": draw(share),
            "returns.inbound_shipping": draw(money),
            "returns.cross_border_share": draw(share),
            "returns.tariff_rate": draw(share),
            "hub.fx": draw(st.floats(0.001, 200)),
            "hub.labour_rate": draw(money),
            "hub.overhead": draw(money),
            "hub.materials": draw(money),
            "hub.recycling_cost": draw(money),
            "minutes.inspect": draw(st.floats(0, 120)),
            "minutes.test": {"minutes": draw(st.floats(0, 120)), "share": draw(share)},
            "refurbishment.yield": draw(share),
            "refurbishment.firmware_infrastructure": draw(money),
            "refurbishment.harvest_share": draw(share),
            "refurbishment.harvest_value": draw(st.floats(0, 1)) * price,
            "recovery.refurbished_store": {"share": draw(share), "mix": mix},
            "recovery.liquidation": {"share": draw(share), "mix": 1 - mix},
        }
    )


def _cost(data: dict[str, Any], **changes: Any) -> float:
    from backhaul.planning.scenario import parse_scenario

    for path, value in changes.items():
        section, name = path.split(".")
        data[section][name] = value
    return costmodel.closed_form(parse_scenario(data))


@settings(max_examples=200, deadline=None)
@given(fixed_scenarios(), share, share)
def test_a_higher_return_rate_never_lowers_the_cost(
    data: dict[str, Any], a: float, b: float
) -> None:
    low, high = sorted((a, b))
    assert _cost(data, **{"returns.rate": low}) <= _cost(data, **{"returns.rate": high}) + 1e-9


@settings(max_examples=200, deadline=None)
@given(fixed_scenarios(), share, share)
def test_a_higher_yield_never_raises_the_cost(data: dict[str, Any], a: float, b: float) -> None:
    low, high = sorted((a, b))
    at_low = _cost(data, **{"refurbishment.yield": low})
    at_high = _cost(data, **{"refurbishment.yield": high})
    assert at_high <= at_low + 1e-9 * max(1.0, abs(at_low))


@settings(max_examples=25, deadline=None)
@given(st.floats(0, 0.4), st.floats(0.001, 0.3))
def test_shifting_the_rate_distribution_up_raises_every_trial(low: float, shift: float) -> None:
    # Same seed, so the same underlying draws: each trial's rate moves up by `shift`.
    base = scenario(
        **UNCERTAIN | {"returns.rate": {"dist": "uniform", "low": low, "high": low + 0.2}}
    )
    moved = scenario(
        **UNCERTAIN
        | {"returns.rate": {"dist": "uniform", "low": low + shift, "high": low + 0.2 + shift}}
    )
    before = costmodel.simulate(base, 5000, seed=4).net_per_unit_sold
    after = costmodel.simulate(moved, 5000, seed=4).net_per_unit_sold
    assert np.all(after >= before)
