"""JSON-ready values (`jsonable`) and their text (`json_bytes`): what audit records, outbox
events, step evidence and the steps' answers are made of."""

from __future__ import annotations

import enum
import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backhaul.kit.jsonable import json_bytes, jsonable

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25,
)


class Colour(enum.StrEnum):
    red = "red"


class Level(enum.IntEnum):
    high = 3


def test_domain_values_become_json_values() -> None:
    value = {
        "price": Decimal("19.90"),
        "at": datetime(2026, 12, 5, 3, 0, tzinfo=UTC),
        "day": date(2026, 12, 5),
        "colour": Colour.red,
        "level": Level.high,
        7: ("a", 1),
        "tags": {"b", "a"},
        "nested": [{"x": Decimal("1")}],
    }
    converted = jsonable(value)
    assert converted == {
        "price": "19.90",
        "at": "2026-12-05T03:00:00+00:00",
        "day": "2026-12-05",
        "colour": "red",
        "level": 3,
        "7": ["a", 1],
        "tags": ["a", "b"],
        "nested": [{"x": "1"}],
    }
    # Enum members become their plain values, not members that merely compare equal.
    assert type(converted["colour"]) is str and type(converted["level"]) is int


def test_a_value_with_no_json_form_is_refused_by_type() -> None:
    with pytest.raises(TypeError, match="cannot turn object into JSON"):
        jsonable({"fine": 1, "odd": object()})


@given(JSON_VALUES)
def test_json_bytes_reads_back_as_the_value_json_reads(value: Any) -> None:
    text = json_bytes(value)
    assert json.loads(text) == value == json.loads(json.dumps(value))
    assert jsonable(value) == value  # JSON values are already JSON-ready


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_json_bytes_refuses_what_json_has_no_word_for(bad: float) -> None:
    with pytest.raises(ValueError, match="NaN or Infinity"):
        json_bytes({"unit": {"history": [{"evidence": {"measurements": {"gain": bad}}}]}})


def test_json_bytes_keeps_the_words_nan_and_infinity_inside_text() -> None:
    value = {"notes": "NaN on the label; Infinity edition", "NaN": -1.5}
    assert json.loads(json_bytes(value)) == value
