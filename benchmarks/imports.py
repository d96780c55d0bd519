"""Import: 1,000,000 sold units through the service against a bare executemany of the same rows.

Backhaul: `backhaul.units.service.import_units` inside one `session_scope`, which is what
`backhaul units import FILE` does once the file is parsed (the rows are dicts of text, as
csv.DictReader gives them; making them is not timed). Raw: the rows exactly as the service
stored them, read back, then `executemany` into the same table of a copy of the same empty
database, one transaction, with the same connection settings. Both times include the commit.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from backhaul.units.service import UNIT_COLUMNS
from benchmarks import rawsql, world
from benchmarks.common import (
    Check,
    Result,
    console,
    create_database,
    fresh_dir,
    machine_busy_seconds,
)

UNITS = 1_000_000
TARGET_RATE = 100_000.0
TARGET_SHARE = 20.0
COLUMNS = UNIT_COLUMNS  # the same rows the service writes


def use_database(workdir: Path) -> None:
    """Point this process's Backhaul at the database in `workdir`."""
    from backhaul.db import dispose_engines
    from backhaul.settings import get_settings

    os.environ["BACKHAUL_DATABASE_URL"] = f"sqlite:///{workdir / 'backhaul.db'}"
    os.environ["BACKHAUL_KEYS_DIR"] = str(workdir / "keys")
    get_settings.cache_clear()
    dispose_engines()


def add_product(workdir: Path) -> None:
    """The product the units belong to, through the catalog service."""
    from backhaul.catalog.schemas import ProductIn
    from backhaul.catalog.service import create_product
    from backhaul.db import dispose_engines, session_scope
    from backhaul.kit.auth import cli_actor

    use_database(workdir)
    product = ProductIn(
        sku=world.SKU,
        name="Smart speaker",
        family="audio",
        category="smart speaker",
        serial_pattern=r"SPK[0-9]{7}",
        regulated="none",
        battery="none",
        weight_g=800,
        msrp=Decimal("129.00"),
        currency="USD",
        hs_code="8518.22",
        warranty_months=12,
    )
    with session_scope() as session:
        create_product(session, cli_actor("bench"), product)
    dispose_engines()


@dataclass
class Timed:
    """One timed run: wall seconds, rows written, this process's CPU seconds, and how many CPUs
    other processes kept busy meanwhile (on two cores, anything above 0 slows the run)."""

    seconds: float
    rows: int
    cpu: float
    others_cpus: float

    def row(self, name: str) -> dict[str, Any]:
        return {
            "run": name,
            "rows": self.rows,
            "seconds": round(self.seconds, 2),
            "rows_per_s": round(self.rows / self.seconds),
            "cpu_us_per_row": round(1e6 * self.cpu / self.rows, 2),
            "other_processes_cpus": self.others_cpus,
        }


def _timed(started: float, cpu: float, busy: float, rows: int) -> Timed:
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    others = max(0.0, machine_busy_seconds() - busy - cpu) / seconds
    return Timed(seconds, rows, cpu, round(others, 2))


def service_import(workdir: Path, rows: list[dict[str, Any]]) -> Timed:
    """Import the rows as `backhaul units import` does."""
    from backhaul.db import dispose_engines, session_scope
    from backhaul.kit.auth import cli_actor
    from backhaul.units.service import import_units

    use_database(workdir)
    busy, cpu, started = machine_busy_seconds(), time.process_time(), time.perf_counter()
    with session_scope() as session:
        summary = import_units(session, cli_actor("bench"), rows, source="benchmark")
    timed = _timed(started, cpu, busy, summary.added)
    dispose_engines()
    if summary.rejected or summary.duplicates:
        raise RuntimeError(f"import refused rows: {summary.rejections[:3]}")
    return timed


def raw_import(source: Path, target: Path) -> Timed:
    """executemany the rows the service stored (read back from `source`) into `target`."""
    names = ", ".join(COLUMNS)
    reader = rawsql.connect(f"sqlite:///{source}")
    stored = reader.execute(f"SELECT {names} FROM units ORDER BY id").fetchall()
    batch = reader.execute(
        "SELECT id, source, rows_sha256, added, duplicates, rejected, actor_name, created_at"
        " FROM import_batches"
    ).fetchall()
    reader.close()
    db = rawsql.connect(f"sqlite:///{target}")
    placeholders = ", ".join("?" for _ in COLUMNS)
    busy, cpu, started = machine_busy_seconds(), time.process_time(), time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO import_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
    db.executemany(f"INSERT INTO units ({names}) VALUES ({placeholders})", stored)
    db.execute("COMMIT")
    timed = _timed(started, cpu, busy, len(stored))
    count = db.execute("SELECT count(*) FROM units").fetchone()[0]
    db.close()
    if count != len(stored):
        raise RuntimeError(f"raw import wrote {count} rows, not {len(stored)}")
    return timed


def build(workdir: Path, units: int) -> tuple[float, int, float]:
    """A database in `workdir` with `units` sold units imported through the service and the
    catalog the other benchmarks need; (import seconds, rows added, seconds to make rows)."""
    create_database(workdir)
    add_product(workdir)
    started = time.perf_counter()
    rows = [world.sold_row(n) for n in range(1, units + 1)]
    made = time.perf_counter() - started
    timed = service_import(workdir, rows)
    return timed.seconds, timed.rows, made


def run(scale: float = 1.0, keep: Path | None = None) -> Result:
    units = max(1000, int(UNITS * scale))
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        workdir = fresh_dir(keep or Path(tmp))
        service_dir, raw_dir = workdir / "service", workdir / "raw"
        create_database(service_dir)
        add_product(service_dir)
        raw_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(service_dir / "backhaul.db", raw_dir / "backhaul.db")  # same empty schema
        console.print(f"[bold]import[/]: making {units:,} rows")
        started = time.perf_counter()
        rows = [world.sold_row(n) for n in range(1, units + 1)]
        made = time.perf_counter() - started
        console.print(f"[bold]import[/]: {units:,} rows through units.service.import_units")
        service = service_import(service_dir, rows)
        del rows
        console.print("[bold]import[/]: the same rows with a bare executemany")
        raw = raw_import(service_dir / "backhaul.db", raw_dir / "backhaul.db")
        service_rate, raw_rate = service.rows / service.seconds, raw.rows / raw.seconds
        share = 100 * service_rate / raw_rate
        result = Result("import")
        result.rows = [
            service.row("backhaul: units.service.import_units"),
            raw.row("raw: sqlite3 executemany"),
        ]
        result.checks = [
            Check("rows/s through the service", round(service_rate), TARGET_RATE, "rows/s", True),
            Check("share of raw executemany", round(share, 1), TARGET_SHARE, "%", True),
        ]
        result.details = {
            "units": units,
            "seconds_to_make_input_rows_not_timed": round(made, 2),
            "database_mib": round((service_dir / "backhaul.db").stat().st_size / 2**20, 1),
        }
    return result
