"""The import's fast paths produce exactly what SQLAlchemy's own layers would: the stored text
of a sale time on SQLite, and the batch digest's canonical JSON of each row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from backhaul.db import UTCDateTime
from backhaul.kit.signing import canonical_json
from backhaul.units.service import _canonical_key, sqlite_utc_text

_DIALECT = sqlite.dialect()
_ORM_BIND = UTCDateTime().dialect_impl(_DIALECT).bind_processor(_DIALECT)


def _stored_by_sqlalchemy(value: datetime) -> str:
    assert _ORM_BIND is not None  # UTCDateTime's conversion, then SQLite's DATETIME text
    return str(_ORM_BIND(value))


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 1),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=9))]),
    )
)
def test_a_sale_time_is_stored_as_sqlalchemy_would_store_it(value: datetime) -> None:
    utc = value.astimezone(UTC)  # check_row hands the writer UTC times
    assert sqlite_utc_text(utc) == _stored_by_sqlalchemy(utc)


@given(st.text(max_size=20), st.text(max_size=20), st.text(max_size=20))
def test_the_batch_digest_row_is_canonical_json(serial: str, order_ref: str, sku: str) -> None:
    assert _canonical_key(serial, order_ref, sku).encode() == canonical_json(
        [serial, order_ref, sku]
    )
