"""The demo world's return history: which of its sold units came back, when and why, drawn
from a documented truth so that the forecast and the cost model's calibration can be checked
against it.

The truth, per product (`TRUTH`):

| product | return rate | change of mind | its mean lag | defects' mean lag | warranty |
|---|---|---|---|---|---|
| SPK-100 speaker     |  8% | 60% of returns | 1.0 week | 20 weeks | 52 weeks |
| RNG-200 health ring | 14% | 75% of returns | 1.5 weeks | 30 weeks | 104 weeks |
| TAB-K8 kids tablet  | 10% | 50% of returns | 1.0 week | 16 weeks | 52 weeks |
| CAM-AI1 AI camera   |  7% | 45% of returns | 1.2 weeks | 26 weeks | 104 weeks |

Each sold unit comes back with its product's return rate. A returning unit is a change of mind
(with the share above) or a defect. A change of mind comes back k weeks after the sale with a
geometric probability of mean "its mean lag", cut at the 5-week return window (30 days plus
transit); a defect with a discretised exponential of mean "defects' mean lag", cut at the end
of the warranty. The return-lag curve is the mixture of the two (`lag_curve`). A change of mind
has no fault code; a defect has one, drawn from the product's fault mix. The day within the
week is uniform. Only returns before the end of the demo's sales (`SALES_END`) are history;
the rest is the future a forecast should see coming.

Seasonality comes from the sales (the demo sells more in November and December), not from
the return behaviour, which is the same in every week of the year.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from backhaul.demo.world import SALES_END, sold_units
from backhaul.kit.auth import Actor

RETURN_WINDOW_WEEKS = 5
REGIONS = ("US", "EU", "UK", "JP")


@dataclass(frozen=True)
class ReturnBehaviour:
    """How one product's units come back."""

    rate: float
    change_of_mind_share: float
    change_of_mind_weeks: float
    defect_weeks: float
    warranty_weeks: int
    faults: dict[str, float] = field(default_factory=dict)


TRUTH: dict[str, ReturnBehaviour] = {
    "SPK-100": ReturnBehaviour(
        0.08,
        0.60,
        1.0,
        20.0,
        52,
        {"AUD.DRIVER": 0.35, "MIC.ARRAY": 0.25, "WIFI.MODULE": 0.20, "PSU.ADAPTER": 0.20},
    ),
    "RNG-200": ReturnBehaviour(
        0.14, 0.75, 1.5, 30.0, 104, {"BAT.CELL": 0.40, "SNS.PPG": 0.30, "CHG.COIL": 0.30}
    ),
    "TAB-K8": ReturnBehaviour(
        0.10,
        0.50,
        1.0,
        16.0,
        52,
        {"DSP.TOUCH": 0.35, "BAT.CELL": 0.25, "CHG.PORT": 0.25, "BTN.POWER": 0.15},
    ),
    "CAM-AI1": ReturnBehaviour(
        0.07,
        0.45,
        1.2,
        26.0,
        104,
        {"IR.CUT": 0.30, "SNS.IMAGE": 0.25, "NPU.BOARD": 0.20, "WIFI.MODULE": 0.25},
    ),
}


def _geometric(mean: float, weeks: int) -> list[float]:
    ratio = mean / (1 + mean)
    weights = [(1 - ratio) * ratio**k for k in range(weeks)]
    total = sum(weights)
    return [w / total for w in weights]


def _exponential(mean: float, weeks: int) -> list[float]:
    weights = [math.exp(-k / mean) for k in range(weeks)]
    total = sum(weights)
    return [w / total for w in weights]


def change_of_mind_curve(behaviour: ReturnBehaviour, weeks: int) -> list[float]:
    """P(lag = k weeks) for a change-of-mind return, k = 0 .. weeks - 1."""
    inside = _geometric(behaviour.change_of_mind_weeks, RETURN_WINDOW_WEEKS)
    return inside + [0.0] * (weeks - RETURN_WINDOW_WEEKS)


def defect_curve(behaviour: ReturnBehaviour, weeks: int) -> list[float]:
    """P(lag = k weeks) for a defect return, k = 0 .. weeks - 1."""
    inside = _exponential(behaviour.defect_weeks, behaviour.warranty_weeks)
    return (inside + [0.0] * weeks)[:weeks]


def lag_curve(sku: str, weeks: int = 105) -> list[float]:
    """The true return-lag curve of a product: P(a return comes k weeks after the sale)."""
    behaviour = TRUTH[sku]
    share = behaviour.change_of_mind_share
    mind = change_of_mind_curve(behaviour, weeks)
    defect = defect_curve(behaviour, weeks)
    return [share * m + (1 - share) * d for m, d in zip(mind, defect, strict=True)]


@dataclass(frozen=True)
class Return:
    """One returned demo unit."""

    day: date
    sku: str
    region: str
    fault_code: str
    serial: str


@dataclass
class DemoHistory:
    """The demo's daily sales and its returns (history, and the ones still to come)."""

    sales: Counter[tuple[date, str, str]]
    returns: list[Return]
    future_returns: list[Return]
    end: date

    def sales_rows(self) -> list[dict[str, Any]]:
        """Daily sales as `date, sku, region, quantity` rows."""
        return [
            {"date": d.isoformat(), "sku": sku, "region": region, "quantity": n}
            for (d, sku, region), n in sorted(self.sales.items())
        ]

    def return_rows(self) -> list[dict[str, Any]]:
        """Daily returns as `date, sku, region, quantity, fault_code` rows."""
        counts = Counter((r.day, r.sku, r.region, r.fault_code) for r in self.returns)
        return [
            {"date": d.isoformat(), "sku": sku, "region": region, "quantity": n, "fault_code": c}
            for (d, sku, region, c), n in sorted(counts.items())
        ]


def _draw_lag(rng: random.Random, curve: list[float]) -> int:
    return rng.choices(range(len(curve)), weights=curve)[0]


def draw_returns(
    seed: int, sold: Iterable[dict[str, Any]], end: datetime = SALES_END
) -> DemoHistory:
    """Decide, unit by unit, which sold units come back, when and with which fault."""
    rng = random.Random(f"returns-{seed}")
    curves = {sku: (change_of_mind_curve(b, 105), defect_curve(b, 105)) for sku, b in TRUTH.items()}
    sales: Counter[tuple[date, str, str]] = Counter()
    history: list[Return] = []
    future: list[Return] = []
    for unit in sold:
        sku, region = unit["sku"], unit["region"]
        sold_at = datetime.fromisoformat(unit["sold_at"])
        sales[(sold_at.date(), sku, region)] += 1
        behaviour = TRUTH[sku]
        if rng.random() >= behaviour.rate:
            continue
        change_of_mind = rng.random() < behaviour.change_of_mind_share
        mind, defect = curves[sku]
        weeks = _draw_lag(rng, mind if change_of_mind else defect)
        fault = ""
        if not change_of_mind:
            codes = list(behaviour.faults)
            fault = rng.choices(codes, weights=[behaviour.faults[c] for c in codes])[0]
        at = sold_at + timedelta(days=7 * weeks + rng.random() * 7)
        record = Return(at.date(), sku, region, fault, unit["serial"])
        (history if at < end else future).append(record)
    return DemoHistory(sales, history, future, end.date())


def demo_history(seed: int = 7, units: int = 40_000) -> DemoHistory:
    """The returns of the demo world that `backhaul demo --seed SEED --units UNITS` loads."""
    return draw_returns(seed, sold_units(seed, units))


@dataclass
class SyntheticPanel:
    """Many weekly series drawn from the same kind of truth (for benchmarks and tests)."""

    first_week: date
    sales: dict[tuple[str, str], list[float]]
    returns: dict[tuple[str, str], list[float]]
    truth: dict[str, ReturnBehaviour]


def synthetic_series(
    series: int = 1000, weeks: int = 104, seed: int = 1, regions: tuple[str, ...] = REGIONS
) -> SyntheticPanel:
    """`series` weekly (sku, region) series: sales with growth and a November-December peak,
    returns drawn week by week (Poisson) from each SKU's random but recorded truth."""
    import numpy as np

    rng = np.random.default_rng(seed)
    first = date(2024, 11, 4)
    skus = math.ceil(series / len(regions))
    truth: dict[str, ReturnBehaviour] = {}
    sales: dict[tuple[str, str], list[float]] = {}
    returns: dict[tuple[str, str], list[float]] = {}
    week_of_year = np.array([(first + timedelta(weeks=k)).isocalendar()[1] for k in range(weeks)])
    season = 1 + 0.8 * np.isin(week_of_year, range(45, 53))
    for number in range(skus):
        sku = f"SYN-{number:04d}"
        behaviour = ReturnBehaviour(
            rate=float(rng.uniform(0.03, 0.16)),
            change_of_mind_share=float(rng.uniform(0.3, 0.8)),
            change_of_mind_weeks=float(rng.uniform(0.5, 2.0)),
            defect_weeks=float(rng.uniform(8, 40)),
            warranty_weeks=int(rng.choice([52, 104])),
        )
        truth[sku] = behaviour
        share = behaviour.change_of_mind_share
        curve = np.array(
            [
                share * m + (1 - share) * d
                for m, d in zip(
                    change_of_mind_curve(behaviour, weeks),
                    defect_curve(behaviour, weeks),
                    strict=True,
                )
            ]
        )
        for region in regions:
            if len(sales) == series:
                break
            level = rng.uniform(5, 400)
            growth = np.exp(rng.uniform(-0.4, 0.8) * np.arange(weeks) / 52)
            weekly_sales = rng.poisson(level * growth * season).astype(float)
            expected = np.convolve(weekly_sales, behaviour.rate * curve)[:weeks]
            sales[(sku, region)] = weekly_sales.tolist()
            returns[(sku, region)] = rng.poisson(expected).astype(float).tolist()
    return SyntheticPanel(first, sales, returns, truth)


def load_returns_history(session: Session, actor: Actor, *, seed: int, units: int) -> int:
    """Store the demo's return history in the database as imported weekly history (the way a
    brand brings its previous system's returns); returns how many returns it holds."""
    from backhaul.db import utcnow
    from backhaul.planning.models import HistoryKind
    from backhaul.planning.service import import_history

    history = demo_history(seed, units)
    summary = import_history(
        session,
        actor,
        history.return_rows(),
        kind=HistoryKind.returns,
        source=f"demo seed {seed}: returns until {history.end.isoformat()}",
        today=max(utcnow().date(), history.end),
    )
    return summary.quantity
