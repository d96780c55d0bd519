"""Lookup: `GET /api/v1/units/{serial}` (the unit and its whole history) at 1,000,000 units.

The database is the import benchmark's (or, run alone, one built the same way): 1,000,000 sold
units. Through the real server (`backhaul serve`, one worker) some of them are then taken
through authorize, ship and the eight processing steps, so that they have a history of ten
entries. Then random lookups, a third of them of units with a history, first from one client
(the latency of a lookup) and then from eight at once (under load). The server's RSS is
watched throughout.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx

from benchmarks import imports, world
from benchmarks.common import (
    Check,
    Load,
    Request,
    Result,
    admin_token,
    backhaul_server,
    bearer,
    checked,
    console,
    fresh_dir,
    json_request,
    latency_summary,
    run_load,
    server,
)

UNITS = 1_000_000
HISTORY_UNITS = 240
LOOKUPS_ONE_CLIENT = 2000
LOOKUPS_EIGHT_CLIENTS = 4000
CLIENTS = 8
TARGET_P99_MS = 15.0


def _lookups(
    token: str, units: int, with_history: list[str], count: int, rng: random.Random
) -> list[Request]:
    headers = bearer(token)
    serials = [
        rng.choice(with_history) if i % 3 == 0 else world.serial(rng.randint(1, units))
        for i in range(count)
    ]
    return [json_request("GET", f"/api/v1/units/{s}", headers=headers) for s in serials]


def _row(name: str, load: Load, server_cpu: float) -> dict[str, Any]:
    return {
        "run": name,
        "lookups": len(load.latencies),
        "errors": len(load.errors),
        "lookups_per_s": round(load.rate, 1),
        **latency_summary(load.latencies),
        "server_cpu_ms_per_lookup": round(1000 * server_cpu / max(1, len(load.latencies)), 2),
        "other_processes_cpus": load.others_cpus(server_cpu),
    }


def _next_restocked(n: int, units: int) -> int:
    """The first unit from n on that the engine restocks (at any spacing of the picks: a fixed
    stride can land on one market only)."""
    while n < units and not world.restocked(n):
        n += 1
    return n


def run(scale: float = 1.0, workdir: Path | None = None, database: Path | None = None) -> Result:
    """`database`: a database with the sold units already imported (the import benchmark's)."""
    units = max(1000, int(UNITS * scale))
    with tempfile.TemporaryDirectory(prefix="bench-lookup-") as tmp:
        workdir = fresh_dir(workdir or Path(tmp))
        if database is not None and database.exists():
            shutil.copy(database, workdir / "backhaul.db")
        else:
            console.print(f"[bold]lookup[/]: importing {units:,} sold units first")
            imports.build(workdir, units)
        token = admin_token(workdir)
        step = max(1, units // HISTORY_UNITS)
        # Units the disposition engine restocks (a dollar sale worth reselling), so that every
        # one of them goes through all ten steps: the engine prices yen sales of 49 or free
        # units for harvest, rightly.
        with_history = [
            world.serial(_next_restocked(n, units)) for n in range(step // 2 + 1, units + 1, step)
        ][:HISTORY_UNITS]
        rng = random.Random(7)
        with server("backhaul-lookup", backhaul_server(workdir), workdir) as srv:
            with httpx.Client(base_url=srv.base_url, headers=bearer(token), timeout=60) as http:
                checked(http.post("/api/v1/sites", json=world.site_payload()), 201)
                world.add_calibrated_rig(http)
                world.add_firmware_and_plan(http)
                tokens = world.technician_tokens(http, CLIENTS)
            console.print(f"[bold]lookup[/]: {len(with_history)} units through ten steps each")
            world.intake(srv.base_url, token, with_history, CLIENTS)
            mine = [with_history[i::CLIENTS] for i in range(CLIENTS)]
            history_load = run_load(srv.base_url, world.process_jobs(tokens, mine))
            if history_load.errors:
                raise RuntimeError(f"steps failed: {history_load.errors[:3]}")
            run_load(srv.base_url, [_lookups(token, units, with_history, 200, rng)])  # warm-up
            srv.reset_peak()
            console.print(f"[bold]lookup[/]: {LOOKUPS_ONE_CLIENT:,} lookups from one client")
            with srv.profiled("lookup-1-client"):
                cpu = srv.cpu_seconds()
                one = run_load(
                    srv.base_url, [_lookups(token, units, with_history, LOOKUPS_ONE_CLIENT, rng)]
                )
                one_cpu = srv.cpu_seconds() - cpu
            console.print(f"[bold]lookup[/]: {LOOKUPS_EIGHT_CLIENTS:,} lookups from 8 clients")
            per_client = LOOKUPS_EIGHT_CLIENTS // CLIENTS
            with srv.profiled("lookup-8-clients"):
                cpu = srv.cpu_seconds()
                eight = run_load(
                    srv.base_url,
                    [_lookups(token, units, with_history, per_client, rng) for _ in range(CLIENTS)],
                )
                eight_cpu = srv.cpu_seconds() - cpu
            rss_now, rss_lookups = srv.rss_mib()
            rss_whole = srv.peak_whole_run_mib()
        for load in (one, eight):
            if load.errors:
                raise RuntimeError(f"lookups failed: {load.errors[:3]}")
        result = Result("lookup")
        result.rows = [_row("1 client", one, one_cpu), _row("8 clients", eight, eight_cpu)]
        p99_one, p99_eight = (latency_summary(x.latencies)["p99_ms"] for x in (one, eight))
        result.checks = [
            Check("p99, 1 client", p99_one, TARGET_P99_MS, "ms", False),
            Check("p99, 8 clients", p99_eight, TARGET_P99_MS, "ms", False),
        ]
        result.details = {
            "units": units,
            "units_with_history": len(with_history),
            "history_entries_per_such_unit": 10,
            "share_of_lookups_for_units_with_history": "1/3",
            "server_rss_mib": {
                "peak_during_lookups": rss_lookups,
                "peak_whole_server_run": rss_whole,
                "at_end": rss_now,
            },
        }
    return result
