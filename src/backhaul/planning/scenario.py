"""A return-cost scenario: what one product's returns will cost, as a brand writes it down
before launch (TOML file, API body or page form). Parsing only; no I/O.

Money is in the product's currency, except the hub's own costs (labour rate, overhead,
materials, recycling), which are in the hub's currency and converted with `hub.fx`.
"""

from __future__ import annotations

import tomllib
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from backhaul.kit.errors import ValidationFailed
from backhaul.planning.distributions import KINDS, Dist, Fixed, within

# The processing steps that take a technician's time at a hub, in lifecycle order.
LABOUR_STEPS = (
    "receive",
    "inspect",
    "sanitize",
    "flash",
    "test",
    "grade",
    "disposition",
    "repackage",
)
# What a hub must do even when it writes every return off: take custody and wipe the data.
WRITE_OFF_STEPS = frozenset({"receive", "sanitize"})

Share = Annotated[Dist, AfterValidator(within(0.0, 1.0, "a share"))]
Amount = Annotated[Dist, AfterValidator(within(0.0, None, "an amount"))]
Minutes = Annotated[Dist, AfterValidator(within(0.0, 24 * 60, "minutes"))]
Rate = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Change = Annotated[float, Field(gt=-1, le=10, allow_inf_nan=False)]
Text = Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)]
CurrencyCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{3}$", strip_whitespace=True, to_upper=True)
]
ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


def _fixed(value: float) -> Fixed:
    return Fixed(value=value)


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ProductPart(Part):
    """The product being launched."""

    sku: Annotated[str, StringConstraints(min_length=1, max_length=40, strip_whitespace=True)]
    name: Text = ""
    currency: CurrencyCode
    price: float = Field(gt=0, le=1e9, allow_inf_nan=False, description="Selling price per unit")
    units_sold: int = Field(gt=0, le=10**10, description="Units expected to sell")


class ReturnsPart(Part):
    """How many come back and what getting them back costs."""

    rate: Share = Field(description="Share of units sold that come back (base case)")
    downside_rate: Share | None = Field(None, description="The same in the downside case")
    inbound_shipping: Amount = Field(description="Label and carriage per return")
    cross_border_share: Share = Field(
        default_factory=lambda: _fixed(0.0), description="Share of returns crossing a border"
    )
    tariff_rate: Rate = Field(0.0, description="Duty on the price of a cross-border return")


class HubPart(Part):
    """The hub that processes the returns, with its costs in its own currency."""

    site: Text = ""
    currency: CurrencyCode
    fx: float = Field(
        1.0, gt=0, le=1e6, allow_inf_nan=False, description="Product currency per hub currency"
    )
    labour_rate: Amount = Field(description="Cost of a technician hour")
    overhead: Amount = Field(default_factory=lambda: _fixed(0.0), description="Per return")
    materials: Amount = Field(
        default_factory=lambda: _fixed(0.0), description="Per refurbished return: box, label"
    )
    recycling_cost: Amount = Field(default_factory=lambda: _fixed(0.0), description="Per unit")


class StepLabour(Part):
    """Labour minutes of one step, and the share of returns that go through it."""

    minutes: Minutes
    share: Rate = 1.0


def _known_step(name: str) -> str:
    if name not in LABOUR_STEPS:
        raise ValueError(f"unknown step '{name}': use {', '.join(LABOUR_STEPS)}")
    return name


def _step_labour(value: Any) -> Any:
    if isinstance(value, int | float) or (isinstance(value, dict) and "dist" in value):
        return {"minutes": value}
    return value


class RefurbishmentPart(Part):
    """What comes of the returns that are processed."""

    yield_: Share = Field(alias="yield", description="Share of returns resold after refurbishing")
    firmware_infrastructure: Amount = Field(
        default_factory=lambda: _fixed(0.0), description="Flash rigs, image hosting, per return"
    )
    harvest_share: Share = Field(
        default_factory=lambda: _fixed(0.0), description="Share of the rest harvested for parts"
    )
    harvest_value: Amount = Field(
        default_factory=lambda: _fixed(0.0), description="Parts value of one harvested unit"
    )


class Channel(Part):
    """A resale channel: what it pays as a share of the new price, and its share of the mix."""

    share: Share
    mix: Rate


class PartUse(Part):
    """The spare part a fault code calls for, and how many of it one repair uses."""

    part: Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)]
    per_repair: float = Field(1.0, ge=0, le=100, allow_inf_nan=False)


FaultCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,12}(\.[A-Z0-9]{2,12}){0,4}$")]


class WhatIf(Part):
    """A side-by-side variant: exchange rate, tariffs, supplier prices."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=80, strip_whitespace=True)]
    fx_change: Change = Field(0.0, description="Hub currency against the product's: +0.1 = 10%")
    tariff_rate: Rate | None = None
    cross_border_share: Rate | None = None
    supplier_price_change: Change = Field(0.0, description="Materials and firmware prices")
    labour_rate_change: Change = 0.0


class Scenario(Part):
    """One product's returns, end to end."""

    product: ProductPart
    returns: ReturnsPart
    hub: HubPart
    minutes: dict[
        Annotated[str, AfterValidator(_known_step)],
        Annotated[StepLabour, BeforeValidator(_step_labour)],
    ] = Field(default_factory=dict)
    refurbishment: RefurbishmentPart
    recovery: dict[ChannelName, Channel] = Field(min_length=1, max_length=10)
    what_if: list[WhatIf] = Field(default_factory=list, max_length=10)
    parts: dict[FaultCode, PartUse] = Field(default_factory=dict, max_length=200)

    def standard_minutes(self) -> float:
        """Expected technician minutes per return (each step's mean minutes × its share)."""
        return sum(labour.share * labour.minutes.mean for labour in self.minutes.values())

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        mix = sum(channel.mix for channel in self.recovery.values())
        if abs(mix - 1.0) > 1e-6:
            raise _located(("recovery",), f"the channel mixes must add up to 1, not {mix:g}")
        price = self.product.price
        _, harvest_high = self.refurbishment.harvest_value.bounds()
        if harvest_high > price + 1e-9:
            raise _located(
                ("refurbishment", "harvest_value"),
                f"parts from one unit worth up to {harvest_high:.4g} exceed its price {price:g}",
            )
        return self


class _Located(ValueError):
    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _located(loc: tuple[str, ...], message: str) -> _Located:
    return _Located(loc, message)


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted field path, without the union's tag names."""
    parts = [
        str(p)
        for p in loc
        if p not in KINDS and p != "[key]" and not str(p).startswith("function-")
    ]
    return ".".join(parts).replace("yield_", "yield") or "scenario"


def parse_scenario(data: Any) -> Scenario:
    """Check a scenario; the first problem becomes a ValidationFailed naming the field."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        problems = [_problem(e) for e in error.errors()]
        field, message = problems[0]
        raise ValidationFailed(
            message, field=field, errors=[{"field": f, "message": m} for f, m in problems]
        ) from None


def _problem(error: Any) -> tuple[str, str]:
    context = error.get("ctx", {}).get("error")
    if isinstance(context, _Located):
        return ".".join(context.loc), str(context)
    return field_path(error["loc"]), str(error["msg"]).removeprefix("Value error, ")


def load_scenario_text(text: str) -> Scenario:
    """Parse a scenario from TOML text; syntax errors name the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValidationFailed(f"not valid TOML: {error}", field="file") from None
    return parse_scenario(data)
