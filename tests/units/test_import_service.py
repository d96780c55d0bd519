"""import_units end to end on the test database (SQLite, or PostgreSQL under
scripts/with-postgres): what it stores, counts and refuses, whatever the chunk size."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from backhaul.catalog.schemas import ProductIn
from backhaul.catalog.service import create_product
from backhaul.db import session_scope
from backhaul.kit.auth import cli_actor
from backhaul.kit.signing import canonical_json
from backhaul.units import service
from backhaul.units.models import ImportBatch, Unit
from backhaul.units.service import ImportSummary, import_units
from tests.conftest import fresh_database, product_payload

ACTOR = cli_actor("pytest")


def _sale(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "serial": f"SPK{n:06d}",
        "sku": "SPK-100",
        "order_ref": f"O-{(n + 1) // 2}",
        "customer_email": f"customer{n}@example.com",
        "sold_at": f"2025-01-{n % 28 + 1:02d}T10:{n % 60:02d}:00Z",
        "region": "US",
        "channel": "webstore",
        "price": f"{100 + n}.50",
        "currency": "USD",
    } | changes


FIRST_FILE: list[Any] = [
    _sale(1),
    _sale(2, serial=" spk000002 ", region="de", currency="eur", sold_at="2025-01-31"),
    _sale(3, sold_at="2025-03-01T01:00:00+09:00", price="0", customer_email=" Bo@Example.COM "),
    _sale(4, price=129),  # not text: check_row decides
    _sale(5, sku="NOPE"),
    _sale(6, serial="SPK12"),
    "not a row",
    _sale(7, sold_at="2999-01-01"),
    _sale(8, price="1.234"),
    _sale(1),  # the same sale twice in one file: a duplicate
    _sale(9),
    _sale(9, order_ref="O-OTHER"),  # the same serial on another order: refused
    _sale(10, customer_email=""),
    _sale(11),
]
SECOND_FILE: list[Any] = [
    _sale(11),  # already registered: a duplicate
    _sale(3, order_ref="O-OTHER"),  # already registered on another order: refused
    _sale(12),
]


def _add_speaker() -> None:
    with session_scope() as session:
        create_product(session, ACTOR, ProductIn.model_validate(product_payload()))


def _import(rows: list[Any]) -> ImportSummary:
    with session_scope() as session:
        return import_units(session, ACTOR, rows, source="sales.csv")


def _stored() -> list[tuple[Any, ...]]:
    with session_scope(write=False) as session:
        units = session.scalars(select(Unit).order_by(Unit.id))
        return [
            (
                u.serial,
                u.order_ref,
                u.customer_email,
                u.sold_at,
                u.region,
                u.channel,
                u.price,
                u.currency,
                u.warranty_end,
                u.state.value,
            )
            for u in units
        ]


def _run_both_files() -> tuple[ImportSummary, ImportSummary, list[tuple[Any, ...]]]:
    _add_speaker()
    return _import(FIRST_FILE), _import(SECOND_FILE), _stored()


def test_an_import_stores_the_good_rows_counts_duplicates_and_names_each_refusal(
    database: str,
) -> None:
    first, second, stored = _run_both_files()
    assert (first.added, first.duplicates, first.rejected) == (6, 1, 7)
    assert [(r.row, r.field) for r in first.rejections] == [
        (5, "sku"),
        (6, "serial"),
        (7, "row"),
        (8, "sold_at"),
        (9, "price"),
        (13, "customer_email"),
        (0, "serial"),  # serials already taken are found after the rows' own checks
    ]
    assert first.rejections[-1].reason == "already registered on order O-5"
    assert (second.added, second.duplicates, second.rejected) == (1, 1, 1)
    assert second.rejections[0].reason == "already registered on order O-2"
    assert [s[0] for s in stored] == [
        "SPK000001",
        "SPK000002",
        "SPK000003",
        "SPK000004",
        "SPK000009",
        "SPK000011",
        "SPK000012",
    ]
    spk2, spk3, spk4 = stored[1], stored[2], stored[3]
    assert (spk2[3].isoformat(), spk2[4], spk2[7], str(spk2[8])) == (
        "2025-01-31T00:00:00+00:00",
        "DE",
        "EUR",
        "2026-01-31",
    )
    assert (spk3[2], spk3[3].isoformat(), spk3[6]) == (
        "bo@example.com",
        "2025-02-28T16:00:00+00:00",
        Decimal("0.00"),
    )
    assert spk4[6] == Decimal("129.00") and spk4[9] == "in_field"


def test_the_batch_records_the_counts_and_the_digest_of_the_rows_added(database: str) -> None:
    first, _, stored = _run_both_files()
    keys = b"".join(canonical_json([serial, order, "SPK-100"]) for serial, order, *_ in stored[:6])
    with session_scope(write=False) as session:
        batch = session.get(ImportBatch, first.batch_id)
        assert batch is not None
        assert (batch.added, batch.duplicates, batch.rejected) == (6, 1, 7)
        assert batch.rows_sha256 == hashlib.sha256(keys).hexdigest()


def _outcome(
    summaries: tuple[ImportSummary, ImportSummary, list[tuple[Any, ...]]],
) -> list[Any]:
    *imports, stored = summaries
    return [
        *[(s.added, s.duplicates, s.rejected, sorted(map(repr, s.rejections))) for s in imports],
        stored,
    ]


def _batch_digests() -> list[str]:
    with session_scope(write=False) as session:
        return list(session.scalars(select(ImportBatch.rows_sha256).order_by(ImportBatch.id)))


def test_the_chunk_size_changes_nothing_but_the_order_of_the_refusals(
    database: str, monkeypatch: pytest.MonkeyPatch, migrated_template: str, tmp_path: Path
) -> None:
    whole = _outcome(_run_both_files()), _batch_digests()
    (tmp_path / "chunked").mkdir()
    fresh_database(migrated_template, tmp_path / "chunked", monkeypatch)
    monkeypatch.setattr(service, "CHUNK", 3)
    chunked = _outcome(_run_both_files()), _batch_digests()
    assert chunked == whole
