"""check_rows (a chunk of rows, column by column) decides every row exactly as check_row does,
row by row: the same units with the same values and types, the same rejections, in order."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backhaul.units.registry import (
    FIELDS,
    ProductRule,
    Rejection,
    SoldColumns,
    SoldUnit,
    check_row,
    check_rows,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PRODUCTS = {
    "SPK-100": ProductRule(1, 1, re.compile(r"SPK[0-9]{6}"), 12),
    "CAM-9": ProductRule(2, 2, re.compile(r"CAM-[0-9A-F]{4}"), 25),
    "ANY-1": ProductRule(3, 1, re.compile(r".*"), 1),  # even an empty serial would match
}
GOOD = {
    "serial": "SPK000001",
    "sku": "SPK-100",
    "order_ref": "O-1",
    "customer_email": "ada@example.com",
    "sold_at": "2024-01-31T10:00:00Z",
    "region": "US",
    "channel": "web",
    "price": "129.50",
    "currency": "USD",
}
# Values at and around each check's edges (valid ones too), and what else a file may hold.
ANYWHERE = ["", "  ", "\t", "\n", None, 7, 1.5, True, ["x"]]
EDGES: dict[str, list[Any]] = {
    "serial": [
        "spk000002",
        " SPK000003\t",
        "SPK12",
        "SPK0000001",
        "SPK" + "1" * 70,
        "CAM-00ff",
        " cam-0A1B ",
        "cam-zzzz",
        "ÿpk000001",
        "X" * 64,
        "X" * 65,
    ],
    "sku": ["spk-100", " SPK-100\n", "CAM-9", "cam-9 ", "ANY-1", "NOPE", "SPK-1000"],
    "order_ref": ["O-2", " O-2 ", "O" * 64, "O" * 65, " " + "O" * 64 + " ", "Ö"],
    "customer_email": [
        " Ada@Example.COM ",
        "nobody",
        "a b@c.d",
        "x@y",
        "é@ü.de",
        "a@b.c\nd",
        "a@b.c\n",
        "A" * 249 + "@b.co",  # 254 characters
        "a" * 250 + "@b.co",
    ],
    "sold_at": [
        "2024-01-31",
        "2024-01-31T10:00:00+09:00",
        " 2024-01-31 10:00:00-05:30 ",
        "2024-01-31T10:00:00.5Z",
        "2024-02-29T23:59:59.999999-00:30",
        "2024-02-30",
        "31/01/2024",
        "20240131T100000Z",
        "2027-01-01",
        "2026-11-22T12:00:00Z",
        "2026-11-22T12:00:00.000001Z",
        "2026-11-22T13:00:00+01:00",
        "2026-11-22T13:00:01+01:00",
        "2026-11-22T07:00:01-05:00",
        "2026-11-23",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:00:00-05:00",
        datetime(2024, 1, 31, 10, 0, tzinfo=timezone(timedelta(hours=2))),
    ],
    "region": ["us", " de ", "GBR", "Europe", "E1", "U"],
    "channel": ["Retail", " MARKET ", "c" * 40, "C" * 41, " " + "c" * 40 + " "],
    "price": [
        "129.5",
        "0",
        "-0",
        "0.00",
        "-0.00",
        "1e2",
        "1E-2",
        "1.234",
        "-1",
        "abc",
        "NaN",
        "-Infinity",
        "1e10",
        "9999999999.99",
        " 12.10 ",
        "00012.1",
        "1_000",
        129,
    ],
    "currency": ["usd", " eur ", "EURO", "U1D", "JP"],
}


def _row_by_row(first_row: int, raws: list[Any]) -> tuple[list[SoldUnit], list[Rejection]]:
    outcomes = [check_row(first_row + i, raw, PRODUCTS, NOW) for i, raw in enumerate(raws)]
    return (
        [o for o in outcomes if isinstance(o, SoldUnit)],
        [o for o in outcomes if isinstance(o, Rejection)],
    )


def _assert_decided_as_check_row(first_row: int, raws: list[Any]) -> None:
    columns, rejections = check_rows(first_row, raws, PRODUCTS, NOW)
    assert len({len(column) for column in columns}) == 1
    units, expected_rejections = _row_by_row(first_row, raws)
    # repr: values that are equal but of another type or form (Decimal 1.0 and 1.00, 0 and
    # -0, naive and aware times) differ there.
    assert repr([SoldUnit(*values) for values in zip(*columns, strict=True)]) == repr(units)
    assert rejections == expected_rejections


def test_each_edge_in_an_otherwise_good_row_is_decided_as_check_row_decides_it() -> None:
    raws: list[Any] = [GOOD]
    for name in FIELDS:
        raws += [GOOD | {name: value} for value in [*EDGES[name], *ANYWHERE]]
        raws.append({key: value for key, value in GOOD.items() if key != name})
    # A product whose pattern takes any serial: only the serial's length and blankness count.
    raws += [GOOD | {"sku": "ANY-1", "serial": serial} for serial in EDGES["serial"] + ANYWHERE]
    raws += [None, "a row", ["a", "row"], GOOD | {"extra": "ignored"}]
    _assert_decided_as_check_row(1, raws)
    _assert_decided_as_check_row(1001, list(reversed(raws)))


_TIMEZONES = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5, minutes=-30))]
)


def _odd(name: str) -> st.SearchStrategy[Any]:
    """An edge value of the field, or random text, or for a sale time any time at all."""
    listed = st.sampled_from([*EDGES[name], *ANYWHERE])
    odd = st.one_of(listed, listed, listed, st.text(max_size=12))
    if name == "sold_at":
        times = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=_TIMEZONES)
        odd |= times.map(datetime.isoformat) | times
    return odd


def _varied(*values: str) -> st.SearchStrategy[str]:
    """One of `values`, possibly lower-cased, upper-cased or padded with whitespace."""
    forms = [str, str.lower, str.upper, lambda text: f" {text}\t"]
    return st.builds(
        lambda value, form: form(value), st.sampled_from(values), st.sampled_from(forms)
    )


# Rows a shop would send: every field valid, in the forms an export varies in; serials and
# orders repeat.
_VALID: dict[str, st.SearchStrategy[Any]] = {
    "serial": st.integers(0, 30).map(lambda n: f"SPK{n:06d}").flatmap(_varied),
    "sku": _varied("SPK-100"),
    "order_ref": st.integers(0, 9).map(lambda n: f"O-{n}"),
    "customer_email": _varied("a@example.com", "Bo@Example.org"),
    "sold_at": st.datetimes(datetime(2000, 1, 1), datetime(2026, 11, 22), timezones=_TIMEZONES)
    .map(datetime.isoformat)
    .filter(lambda text: datetime.fromisoformat(text).astimezone(UTC) <= NOW)
    | st.dates(max_value=NOW.date()).map(str),
    "region": _varied("US", "DE", "GBR"),
    "channel": _varied("web", "Retail"),
    "price": st.decimals(0, 10**6, places=2).map(str) | st.sampled_from(["0", "-0.00", "12.5"]),
    "currency": _varied("USD", "EUR"),
}
# ...with up to two fields odd and one left out.
_ROW = st.builds(
    lambda valid, odd, missing: {k: v for k, v in (valid | odd).items() if k not in missing},
    st.fixed_dictionaries(_VALID),
    st.lists(st.sampled_from(FIELDS), max_size=2, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({name: _odd(name) for name in names})
    ),
    st.sets(st.sampled_from(FIELDS), max_size=1),
)
_NOT_A_ROW = st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)


def _with_non_rows(rows: list[Any], non_rows: list[tuple[int, Any]]) -> list[Any]:
    for position, value in non_rows:
        rows.insert(position, value)
    return rows


# Mostly objects: offered either, hypothesis draws mostly the simpler non-rows.
_CHUNK = st.builds(
    _with_non_rows,
    st.lists(_ROW, min_size=1, max_size=40),
    st.lists(st.tuples(st.integers(0, 40), _NOT_A_ROW), max_size=2),
)


@settings(max_examples=300)
@given(st.integers(1, 10**6), _CHUNK)
def test_a_chunk_is_decided_as_check_row_decides_each_row(first_row: int, raws: list[Any]) -> None:
    _assert_decided_as_check_row(first_row, raws)


@given(st.lists(st.fixed_dictionaries({name: _odd(name) for name in FIELDS}), max_size=20))
def test_rows_of_odd_values_are_decided_as_check_row_decides_each_row(raws: list[Any]) -> None:
    _assert_decided_as_check_row(1, raws)


def test_the_columns_are_the_fields_of_a_sold_unit() -> None:
    assert SoldColumns._fields == SoldUnit._fields


def test_an_empty_chunk_has_no_units() -> None:
    _assert_decided_as_check_row(1, [])
