"""Scenario data for the planning tests: a hand-computable base, and helpers to vary it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from backhaul.planning.scenario import Scenario, parse_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Every input fixed, so the result can be worked out by hand (see test_costmodel.py).
HAND: dict[str, Any] = {
    "product": {"sku": "HAND-1", "currency": "USD", "price": 100.0, "units_sold": 1000},
    "returns": {
        "rate": 0.10,
        "inbound_shipping": 8.0,
        "cross_border_share": 0.2,
        "tariff_rate": 0.05,
    },
    "hub": {
        "currency": "USD",
        "fx": 1.0,
        "labour_rate": 30.0,
        "overhead": 2.0,
        "materials": 3.0,
        "recycling_cost": 1.0,
    },
    "minutes": {"receive": 3, "inspect": 6, "sanitize": 4, "test": {"minutes": 10, "share": 0.5}},
    "refurbishment": {
        "yield": 0.6,
        "firmware_infrastructure": 0.5,
        "harvest_share": 0.25,
        "harvest_value": 8.0,
    },
    "recovery": {
        "refurbished_store": {"share": 0.7, "mix": 0.5},
        "liquidation": {"share": 0.3, "mix": 0.5},
    },
}


def hand(**changes: Any) -> dict[str, Any]:
    """A deep copy of HAND with dotted-path changes: hand(**{"returns.rate": 0.2})."""
    data = copy.deepcopy(HAND)
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = data
        for name in parents:
            target = target.setdefault(name, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return data


def scenario(**changes: Any) -> Scenario:
    return parse_scenario(hand(**changes))
