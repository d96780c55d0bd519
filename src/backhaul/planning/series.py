"""Sales and returns as weekly series: rows in, problems reported, weeks out. Pure.

Rows have `date, sku, region, quantity` (and, for returns, an optional `fault_code`) at any
frequency. Weeks start on Monday. Missing weeks are zeros. A row that is unparsable, negative
or dated after today is reported with its reason and skipped, never used. The last week is
used only once it is over: a week that has not ended by today is reported and left out.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

Array = np.ndarray[Any, np.dtype[np.float64]]
COLUMNS = ("date", "sku", "region", "quantity")
KEYS = ("sku", "region", "hub")
_SKU = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,39}$")
_REGION = re.compile(r"^[A-Z]{2,3}$")
_FAULT = re.compile(r"^[A-Z0-9]{2,12}(\.[A-Z0-9]{2,12}){0,4}$")
MAX_REPORTED = 1000


@dataclass(frozen=True, slots=True)
class Row:
    """One valid row."""

    day: date
    sku: str
    region: str
    quantity: int
    fault_code: str = ""
    line: int = 0  # the data row it came from (1 = first), 0 when not from a file


@dataclass(frozen=True, slots=True)
class Problem:
    """A row that was skipped, and why (row 1 is the first data row)."""

    source: str
    row: int
    field: str
    reason: str


@dataclass
class Loaded:
    """What reading a file gave: the valid rows and the skipped ones."""

    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0


def monday(day: date) -> date:
    """The Monday starting the week of `day`."""
    return day - timedelta(days=day.weekday())


def _parse_date(text: str) -> date:
    text = text.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).date()


def _parse_quantity(text: str) -> int:
    number = float(text.strip())
    if not math.isfinite(number) or number != int(number):
        raise ValueError("not a whole number")
    return int(number)


def read_rows(records: Iterable[Mapping[str, Any]], *, today: date, source: str = "rows") -> Loaded:
    """Check each record; keep the good ones, report the others with their reason."""
    loaded = Loaded()

    def skip(row: int, name: str, reason: str) -> None:
        loaded.skipped += 1
        if len(loaded.problems) < MAX_REPORTED:
            loaded.problems.append(Problem(source, row, name, reason))

    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            skip(number, "row", "not a row with named columns")
            continue
        missing = [c for c in COLUMNS if record.get(c) in (None, "")]
        if missing:
            skip(number, missing[0], "missing")
            continue
        try:
            day = _parse_date(str(record["date"]))
        except ValueError:
            skip(number, "date", f"not a date: {str(record['date'])[:40]!r}")
            continue
        if day > today:
            skip(number, "date", f"{day.isoformat()} is after today ({today.isoformat()})")
            continue
        sku = str(record["sku"]).strip().upper()
        if not _SKU.match(sku):
            skip(number, "sku", f"not a SKU: {sku[:40]!r}")
            continue
        region = str(record["region"]).strip().upper()
        if not _REGION.match(region):
            skip(number, "region", f"not a region code: {region[:40]!r}")
            continue
        try:
            quantity = _parse_quantity(str(record["quantity"]))
        except (ValueError, OverflowError):
            skip(number, "quantity", f"not a whole number: {str(record['quantity'])[:40]!r}")
            continue
        if quantity < 0:
            skip(number, "quantity", f"negative ({quantity})")
            continue
        fault = str(record.get("fault_code") or "").strip().upper()
        if fault and not _FAULT.match(fault):
            skip(number, "fault_code", f"not a fault code: {fault[:40]!r}")
            continue
        loaded.rows.append(Row(day, sku, region, quantity, fault, number))
    return loaded


@dataclass
class WeekSpan:
    """The weeks a forecast learns from: `first` .. `last` (Mondays), and what was cut."""

    first: date
    last: date
    notes: list[str] = field(default_factory=list)

    @property
    def weeks(self) -> int:
        return (self.last - self.first).days // 7 + 1

    def index(self, day: date) -> int:
        return (monday(day) - self.first).days // 7

    def mondays(self) -> list[date]:
        return [self.first + timedelta(weeks=k) for k in range(self.weeks)]


def week_span(days: Iterable[date], today: date) -> WeekSpan | None:
    """From the first week with data to the last week that is over by today."""
    first = last = None
    for day in days:
        first = day if first is None or day < first else first
        last = day if last is None or day > last else last
    if first is None or last is None:
        return None
    span = WeekSpan(monday(first), monday(last))
    if span.last + timedelta(days=6) >= today:
        span.notes.append(
            f"the week of {span.last.isoformat()} is not over on {today.isoformat()}: left out"
        )
        span.last -= timedelta(weeks=1)
    return span if span.last >= span.first else None


@dataclass
class Panel:
    """Weekly series over one span, keyed by the grouping (e.g. ("SPK-100", "US"))."""

    span: WeekSpan
    by: tuple[str, ...]
    series: dict[tuple[str, ...], Array]
    faults: dict[str, dict[str, float]] = field(default_factory=dict)  # sku -> code -> count

    def total(self) -> Array:
        out = np.zeros(self.span.weeks)
        for values in self.series.values():
            out += values
        return out


def key_of(row: Row, by: tuple[str, ...], hub_of: Mapping[str, str]) -> tuple[str, ...]:
    """A row's series key for the grouping."""
    parts = {"sku": row.sku, "region": row.region, "hub": hub_of.get(row.region, row.region)}
    return tuple(parts[name] for name in by)


def weekly(
    rows: Iterable[Row],
    span: WeekSpan,
    by: tuple[str, ...],
    hub_of: Mapping[str, str] | None = None,
) -> Panel:
    """Sum rows into weeks inside the span (rows outside it are ignored)."""
    hubs = hub_of or {}
    series: dict[tuple[str, ...], Array] = defaultdict(lambda: np.zeros(span.weeks))
    faults: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        week = span.index(row.day)
        if 0 <= week < span.weeks:
            series[key_of(row, by, hubs)][week] += row.quantity
            faults[row.sku][row.fault_code] += row.quantity
    return Panel(
        span,
        by,
        dict(sorted(series.items())),
        {sku: dict(codes) for sku, codes in faults.items()},
    )


def parse_by(text: str) -> tuple[str, ...]:
    """`sku,region` → ("sku", "region"); unknown names are a ValueError naming them."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in KEYS]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(
            f"--by takes a comma-separated list of {', '.join(KEYS)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    return names
