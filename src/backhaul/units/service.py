"""Serial-registry use cases: import sold units, look units up."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
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
from backhaul.units.registry import ProductRule, Rejection, SoldUnit, check_row, normalise_serial

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
        checked: list[SoldUnit] = []
        for raw in chunk:
            row_number += 1
            outcome = check_row(row_number, raw, rules, now)
            if isinstance(outcome, Rejection):
                _reject(session, summary, outcome, raw, source)
            else:
                checked.append(outcome)
        fresh = _drop_duplicates(session, summary, checked, raw_rows=chunk, source=source)
        if fresh:
            writer.insert(fresh)
            digest.update("".join([_canonical_key(u) for u in fresh]).encode())
            summary.added += len(fresh)
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
    session: Session,
    summary: ImportSummary,
    checked: list[SoldUnit],
    *,
    raw_rows: list[Any],
    source: str,
) -> list[SoldUnit]:
    if not checked:
        return []
    serials = [u.serial for u in checked]
    if session.get_bind().dialect.name == "sqlite":  # one JSON parameter, not thousands
        found = session.execute(_REGISTERED_SQLITE, {"serials": json.dumps(serials)})
    else:
        found = session.execute(_REGISTERED, {"serials": serials})
    existing: dict[str, str] = {serial: order_ref for serial, order_ref in found}
    fresh: dict[str, SoldUnit] = {}
    for unit in checked:
        known_order = existing.get(unit.serial) or (
            fresh[unit.serial].order_ref if unit.serial in fresh else None
        )
        if known_order is None:
            fresh[unit.serial] = unit
        elif known_order == unit.order_ref:
            summary.duplicates += 1
        else:
            rejection = Rejection(
                0, unit.serial, "serial", f"already registered on order {known_order}"
            )
            _reject(
                session,
                summary,
                rejection,
                {"serial": unit.serial, "order_ref": unit.order_ref},
                source,
            )
    return list(fresh.values())


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


def _canonical_key(unit: SoldUnit) -> str:
    """canonical_json([serial, order_ref, sku]): the batch digest's bytes for one row. Text
    that JSON need not escape (nearly all of it) is quoted directly; the rest is encoded."""
    if _NEEDS_ESCAPE.search(unit.serial + unit.order_ref + unit.sku) is None:
        return f'["{unit.serial}","{unit.order_ref}","{unit.sku}"]'
    return _CANONICAL.encode([unit.serial, unit.order_ref, unit.sku])


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
    one C call; check_row makes every sold_at UTC)."""
    return value.isoformat(" ", "microseconds")[:26]


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
        constants = {
            "state": State.in_field,
            "site_id": None,
            "version": 1,
            "import_batch_id": batch_id,
            "ever_activated": False,
            "step_count": 0,
        }
        self.constants = {name: processor(name)(value) for name, value in constants.items()}

    def _values(self, unit: SoldUnit) -> dict[str, Any]:
        return {
            "serial": unit.serial,
            "brand_id": unit.brand_id,
            "product_id": unit.product_id,
            "order_ref": unit.order_ref,
            "customer_email": unit.customer_email,
            "sold_at": self.sold_at(unit.sold_at),
            "region": unit.region,
            "channel": unit.channel,
            "price": self.price(unit.price),
            "currency": unit.currency,
            "warranty_end": self.warranty_end(unit.warranty_end),
        } | self.constants

    def insert(self, units: list[SoldUnit]) -> None:
        if self.order != list(UNIT_COLUMNS) or self.connection.dialect.name != "sqlite":
            rows = [self._values(unit) for unit in units]
            order = self.order
            params: list[Any] = (
                rows if order is None else [tuple([r[name] for name in order]) for r in rows]
            )
            self.connection.exec_driver_sql(self.sql, params)
            return
        # sqlite3: positional, in UNIT_COLUMNS order; tuples made directly (the hot path).
        price = self.price
        c = self.constants
        state, site, version, batch = c["state"], c["site_id"], c["version"], c["import_batch_id"]
        activated, steps = c["ever_activated"], c["step_count"]
        self.connection.exec_driver_sql(
            self.sql,
            [
                (
                    u.serial,
                    u.brand_id,
                    u.product_id,
                    state,
                    site,
                    version,
                    u.order_ref,
                    u.customer_email,
                    sqlite_utc_text(u.sold_at),
                    u.region,
                    u.channel,
                    price(u.price),
                    u.currency,
                    u.warranty_end.isoformat(),
                    batch,
                    activated,
                    steps,
                )
                for u in units
            ],
        )


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
