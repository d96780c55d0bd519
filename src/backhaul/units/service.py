"""Serial-registry use cases: import sold units, look units up."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice, repeat
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text
from sqlalchemy.orm import Session

from backhaul.catalog.models import Product, Site
from backhaul.db import utcnow
from backhaul.kit import exception_queue
from backhaul.kit.auth import Actor
from backhaul.kit.changes import record_change
from backhaul.kit.visibility import visible
from backhaul.processing.states import State
from backhaul.units.models import ImportBatch, Unit
from backhaul.units.registry import (
    ProductRule,
    Rejection,
    SoldColumns,
    check_rows,
    normalise_serial,
)

CHUNK = 5000
MAX_REPORTED_REJECTIONS = 1000


@dataclass
class ImportSummary:
    """What an import did: rows added, skipped as already registered, and refused with reasons."""

    batch_id: int | None = None
    added: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)


def _product_rules(session: Session, actor: Actor) -> dict[str, ProductRule]:
    products = session.scalars(visible(actor, select(Product), Product))
    return {
        p.sku: ProductRule(p.id, p.brand_id, re.compile(p.serial_pattern), p.warranty_months)
        for p in products
    }


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def import_units(
    session: Session,
    actor: Actor,
    rows: Iterable[Any],
    *,
    source: str,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Register sold units; bad rows are refused (and queued) without stopping the good ones.

    A serial already registered with the same order counts as a duplicate (importing a file
    twice adds nothing); the same serial on a different order is refused.
    """
    actor.require("units.import")
    rules = _product_rules(session, actor)
    now = utcnow()
    summary = ImportSummary()
    digest = hashlib.sha256()
    batch = ImportBatch(
        source=source[:300],
        rows_sha256="",
        added=0,
        duplicates=0,
        rejected=0,
        actor_name=actor.username,
        created_at=now,
    )
    session.add(batch)
    session.flush()
    writer = _UnitWriter(session, batch.id)
    row_number = 0
    for chunk in _chunks(rows, CHUNK):
        checked, rejections = check_rows(row_number + 1, chunk, rules, now)
        for rejection in rejections:
            _reject(session, summary, rejection, chunk[rejection.row - row_number - 1], source)
        row_number += len(chunk)
        fresh = _drop_duplicates(session, summary, checked, source=source)
        if fresh.serial:
            writer.insert(fresh)
            digest.update(_digest_rows(fresh).encode())
            summary.added += len(fresh.serial)
        if progress:
            progress(len(chunk))
    batch.rows_sha256 = digest.hexdigest()
    batch.added, batch.duplicates, batch.rejected = (
        summary.added,
        summary.duplicates,
        summary.rejected,
    )
    session.flush()
    summary.batch_id = batch.id
    record_change(
        session,
        actor,
        "units.imported",
        "import",
        str(batch.id),
        None,
        {
            "source": batch.source,
            "added": summary.added,
            "duplicates": summary.duplicates,
            "rejected": summary.rejected,
            "rows_sha256": batch.rows_sha256,
        },
    )
    return summary


def _reject(
    session: Session, summary: ImportSummary, rejection: Rejection, raw: Any, source: str
) -> None:
    summary.rejected += 1
    if len(summary.rejections) < MAX_REPORTED_REJECTIONS:
        summary.rejections.append(rejection)
    exception_queue.add(
        session,
        "import_row",
        f"row {rejection.row}: {rejection.field}: {rejection.reason}",
        {"source": source, "row": rejection.row, "data": _printable(raw)},
        reference=rejection.serial,
    )


def _printable(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {
            str(k)[:64]: (v if isinstance(v, int | float | bool) or v is None else str(v)[:200])
            for k, v in list(raw.items())[:20]
        }
    return str(raw)[:500]


def _drop_duplicates(
    session: Session, summary: ImportSummary, checked: SoldColumns, *, source: str
) -> SoldColumns:
    """The units whose serial is not registered yet (nor earlier in the chunk)."""
    serials = checked.serial
    if not serials:
        return checked
    if session.get_bind().dialect.name == "sqlite":  # one JSON parameter, not thousands
        found = session.execute(_REGISTERED_SQLITE, {"serials": json.dumps(serials)})
    else:
        found = session.execute(_REGISTERED, {"serials": serials})
    existing: dict[str, str] = {serial: order_ref for serial, order_ref in found}
    if not existing and len(set(serials)) == len(serials):
        return checked  # the usual case: every serial is new
    kept_order: dict[str, str] = {}  # serial -> order of the unit kept for it in this chunk
    keep: list[bool] = []
    for serial, order_ref in zip(serials, checked.order_ref, strict=True):
        known_order = existing.get(serial) or kept_order.get(serial)
        keep.append(known_order is None)
        if known_order is None:
            kept_order[serial] = order_ref
        elif known_order == order_ref:
            summary.duplicates += 1
        else:
            rejection = Rejection(0, serial, "serial", f"already registered on order {known_order}")
            _reject(session, summary, rejection, {"serial": serial, "order_ref": order_ref}, source)
    return checked.select(keep)


# Built once: coercing thousands of serials into a fresh IN clause per chunk cost more than
# the query.
_REGISTERED = select(Unit.serial, Unit.order_ref).where(
    Unit.serial.in_(bindparam("serials", expanding=True))
)
_REGISTERED_SQLITE = text(
    "SELECT serial, order_ref FROM units WHERE serial IN (SELECT value FROM json_each(:serials))"
)
# canonical_json's settings, in one encoder made once (json.dumps makes one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def _canonical_key(serial: str, order_ref: str, sku: str) -> str:
    """canonical_json([serial, order_ref, sku]): the batch digest's bytes for one row. Text
    that JSON need not escape (nearly all of it) is quoted directly; the rest is encoded."""
    if _NEEDS_ESCAPE.search(serial + order_ref + sku) is None:
        return f'["{serial}","{order_ref}","{sku}"]'
    return _CANONICAL.encode([serial, order_ref, sku])


def _digest_rows(units: SoldColumns) -> str:
    """What the batch digest takes in for these units."""
    return "".join(map(_canonical_key, units.serial, units.order_ref, units.sku))


# The columns an import writes, in order (the import benchmark's raw reference uses them too).
UNIT_COLUMNS = (
    "serial",
    "brand_id",
    "product_id",
    "state",
    "site_id",
    "version",
    "order_ref",
    "customer_email",
    "sold_at",
    "region",
    "channel",
    "price",
    "currency",
    "warranty_end",
    "import_batch_id",
    "ever_activated",
    "step_count",
)


def sqlite_utc_text(value: datetime) -> str:
    """The text SQLAlchemy stores on SQLite for a UTC time (UTCDateTime's bind processors in
    one C call; the registry's checks make every sold_at UTC)."""
    return value.isoformat(" ", "microseconds")[:26]


def _once_per_value(process: Callable[[Any], Any], column: list[Any]) -> Iterator[Any]:
    """`map(process, column)`, calling `process` once per distinct value (warranty ends
    repeat: a chunk of sales spans a few days)."""
    processed = {value: process(value) for value in set(column)}
    return map(processed.__getitem__, column)


class _UnitWriter:
    """Inserts sold units, one executemany per chunk, in the session's transaction.

    The statement is compiled once for the database's dialect and each value goes through the
    column type's own bind processor, so the rows stored are exactly those an ORM or Core
    INSERT stores; what is skipped is the per-row, per-column bookkeeping of those layers,
    which cost three to four times the database's own work (see docs/performance.md).
    """

    def __init__(self, session: Session, batch_id: int) -> None:
        self.connection = session.connection()
        dialect = self.connection.dialect
        table = cast(Table, Unit.__table__)
        compiled = insert(table).compile(dialect=dialect, column_keys=list(UNIT_COLUMNS))
        self.sql = str(compiled)
        self.order = list(compiled.positiontup or ()) if compiled.positional else None

        def processor(name: str) -> Callable[[Any], Any]:
            type_ = table.c[name].type
            process = type_.dialect_impl(dialect).bind_processor(dialect)
            return process or (lambda value: value)

        self.sold_at, self.price, self.warranty_end = (
            processor(name) for name in ("sold_at", "price", "warranty_end")
        )
        if dialect.name == "sqlite":  # the same text as UTCDateTime's processor, faster
            self.sold_at = sqlite_utc_text
        constants = {
            "state": State.in_field,
            "site_id": None,
            "version": 1,
            "import_batch_id": batch_id,
            "ever_activated": False,
            "step_count": 0,
        }
        self.constants = {name: processor(name)(value) for name, value in constants.items()}

    def insert(self, units: SoldColumns) -> None:
        count = len(units.serial)
        values: dict[str, Iterable[Any]] = {
            "serial": units.serial,
            "brand_id": units.brand_id,
            "product_id": units.product_id,
            "order_ref": units.order_ref,
            "customer_email": units.customer_email,
            "sold_at": map(self.sold_at, units.sold_at),
            "region": units.region,
            "channel": units.channel,
            "price": map(self.price, units.price),
            "currency": units.currency,
            "warranty_end": _once_per_value(self.warranty_end, units.warranty_end),
        }
        values.update((name, repeat(value, count)) for name, value in self.constants.items())
        params: list[Any]
        if self.order is None:  # named parameters (psycopg)
            names = list(values)
            rows = zip(*values.values(), strict=True)
            params = [dict(zip(names, row, strict=True)) for row in rows]
        else:
            params = list(zip(*(values[name] for name in self.order), strict=True))
        self.connection.exec_driver_sql(self.sql, params)


def list_units(
    session: Session,
    actor: Actor,
    *,
    sku: str | None = None,
    state: State | None = None,
    site: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[Unit]:
    """Units in the actor's scope, by serial, optionally filtered; page with `after`."""
    actor.require("units.read")
    statement = visible(actor, select(Unit), Unit).order_by(Unit.serial).limit(limit)
    if sku:
        statement = statement.where(Unit.product.has(Product.sku == sku.strip().upper()))
    if state:
        statement = statement.where(Unit.state == state)
    if site:
        statement = statement.where(Unit.site.has(Site.code == site.strip().upper()))
    if after:
        statement = statement.where(Unit.serial > normalise_serial(after))
    return list(session.scalars(statement))


def count_by_state(session: Session, actor: Actor) -> dict[str, int]:
    """How many units in the actor's scope are in each state."""
    actor.require("units.read")
    statement = visible(actor, select(Unit.state, func.count()).group_by(Unit.state), Unit)
    return {state.value: count for state, count in session.execute(statement)}
