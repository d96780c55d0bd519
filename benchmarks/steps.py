"""Steps through the HTTP API against the storage limit and the framework limit.

1. Backhaul: `backhaul serve` (uvicorn, one worker) on a SQLite file; 8 clients, each with its
   own technician key and keep-alive connection, push their units through receive → inspect →
   sanitize → flash → test → grade → disposition → repackage.
2. Storage limit: the same rows (unit update, step row, hash-chained audit row, outbox row),
   one transaction per step, written by a bare Python loop on the driver (sqlite3).
3. Framework limit: a bare FastAPI endpoint on uvicorn (one worker) writing those rows with
   plain SQL, driven by the same 8 clients.
4. Plumbing floor: Backhaul's own application (middleware, token, If-Match, evidence model,
   transaction and write lock, commit) writing those rows with plain SQL instead of running
   the step (benchmarks/floor_app.py), same clients and keys. Not a target: it splits the
   distance between 1 and 3 into what the plumbing costs and what the domain costs.
All four on the same database file. `steps-postgres` runs the same four on an empty
PostgreSQL database (`scripts/with-postgres python -m benchmarks steps-postgres`, as `make
bench` does), the loop and the bare endpoint with psycopg; its figures have no targets.
The machine is shared and its speed drifts, so the four
are measured in ROUNDS interleaved rounds (Backhaul, the floor, the storage loop, the bare
endpoint, then again), each round on units of its own: each figure is the median of its
rounds, and the share of the framework limit is the median of each round's own ratio, whose
two rates were measured seconds apart. Latency percentiles pool every round's requests.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from benchmarks import rawsql, world
from benchmarks.common import (
    Check,
    Load,
    Request,
    Result,
    Server,
    admin_token,
    backhaul_server,
    bearer,
    console,
    create_database,
    database_url,
    fresh_dir,
    json_request,
    latency_summary,
    machine_busy_seconds,
    run_load,
    server,
)

CLIENTS = 8
ROUNDS = 3
UNITS_PER_CLIENT = 100  # per round: 8 x 100 units x 8 steps = 6,400 steps
WARMUP_UNITS_PER_CLIENT = 5
TARGET_RATE = 800.0
TARGET_P99_MS = 50.0
TARGET_SHARE = 50.0


@dataclass
class Runs:
    """One reference's rounds: what each load saw and the server CPU seconds it took."""

    loads: list[Load] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, load: Load, cpu_s: float) -> None:
        self.loads.append(load)
        self.cpu.append(cpu_s)

    @property
    def rates(self) -> list[float]:
        return [load.rate for load in self.loads]

    def pooled(self) -> Load:
        """Every round's requests as one load."""
        return Load(
            latencies=[t for load in self.loads for t in load.latencies],
            wall=sum(load.wall for load in self.loads),
            errors=[e for load in self.loads for e in load.errors],
            client_cpu=sum(load.client_cpu for load in self.loads),
            machine_busy=sum(load.machine_busy for load in self.loads),
        )

    def row(self, name: str, rss_mib: float | None) -> dict[str, Any]:
        """The table's row: rates and CPU per step as medians of the rounds, the rest pooled."""
        pooled = self.pooled()
        per_step = [
            cpu / max(1, len(load.latencies))
            for load, cpu in zip(self.loads, self.cpu, strict=True)
        ]
        return {
            "run": name,
            "steps": len(pooled.latencies),
            "errors": len(pooled.errors),
            "wall_s": round(pooled.wall, 2),
            "steps_per_s": round(statistics.median(self.rates), 1),
            **latency_summary(pooled.latencies),
            "server_cpu_ms_per_step": round(1000 * statistics.median(per_step), 2),
            "server_peak_rss_mib": rss_mib,
            "client_cpu_s": round(pooled.client_cpu, 2),
            # the storage loop runs in this process: no server CPU to set apart
            "other_processes_cpus": pooled.others_cpus(sum(self.cpu) if rss_mib else 0.0),
        }


def _storage_limit(url: str, serials: list[str]) -> Load:
    db = rawsql.connect(url)
    hub = rawsql.site_id(db, world.SITE)
    load = Load()
    busy, started = machine_busy_seconds(), time.perf_counter()
    for unit_serial in serials:
        for step, evidence in world.STEPS:
            t0 = time.perf_counter()
            with rawsql.immediate(db):
                rawsql.write_rows(db, unit_serial, step, evidence, "bare", hub)
            load.latencies.append(time.perf_counter() - t0)
    load.wall = time.perf_counter() - started
    load.client_cpu = load.wall
    load.machine_busy = machine_busy_seconds() - busy
    db.close()
    return load


def _bare_jobs(serials: list[list[str]]) -> list[list[Request]]:
    return [
        [
            json_request("POST", f"/units/{s}/steps/{step}", body)
            for s in mine
            for step, body in world.STEPS
        ]
        for mine in serials
    ]


def _floor_jobs(tokens: list[str], serials: list[list[str]]) -> list[list[Request]]:
    return [
        [replace(request, path=request.path.replace("/api/v1/", "/bench/", 1)) for request in jobs]
        for jobs in world.process_jobs(tokens, serials)
    ]


def _uvicorn(factory: str) -> list[str]:
    """argv of a reference server: uvicorn with one worker, as Backhaul is served."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def run(scale: float = 1.0, keep: Path | None = None) -> Result:
    """`keep`: the directory for the database and logs (default: a temporary one)."""
    per_client = max(1, int(UNITS_PER_CLIENT * scale))
    warm = WARMUP_UNITS_PER_CLIENT
    with tempfile.TemporaryDirectory(prefix="bench-steps-") as tmp:
        workdir = fresh_dir(keep or Path(tmp))
        create_database(workdir)
        url = database_url(workdir)
        token = admin_token(workdir)
        total = CLIENTS * (per_client * ROUNDS + warm)
        numbers = [n for n in range(1, 10 * total) if world.restocked(n)][:total]
        mine = [numbers[i::CLIENTS] for i in range(CLIENTS)]
        warm_serials = [[world.serial(n) for n in own[:warm]] for own in mine]
        rounds = [
            [
                [world.serial(n) for n in own[warm + r * per_client : warm + (r + 1) * per_client]]
                for own in mine
            ]
            for r in range(ROUNDS)
        ]
        postgres = not url.startswith("sqlite")
        result = Result("steps-postgres" if postgres else "steps")
        api, floor, storage, framework = Runs(), Runs(), Runs(), Runs()
        with server("backhaul", backhaul_server(workdir), workdir) as srv:
            console.print(f"[bold]steps[/]: setting up {total:,} units through the API")
            with httpx.Client(base_url=srv.base_url, headers=bearer(token), timeout=60) as http:
                world.setup_catalog(http)
                world.import_units(http, 1, numbers[-1])
                tokens = world.technician_tokens(http, CLIENTS)
            world.intake(srv.base_url, token, [world.serial(n) for n in numbers], CLIENTS)
            # The references start once the catalog exists (the bare endpoint looks its hub up).
            with (
                server("floor", _uvicorn("benchmarks.floor_app:create_app"), workdir) as floor_srv,
                server("bare", _uvicorn("benchmarks.bare_app:create_app"), workdir) as bare,
            ):
                run_load(srv.base_url, world.process_jobs(tokens, warm_serials))
                run_load(floor_srv.base_url, _floor_jobs(tokens, warm_serials))
                run_load(bare.base_url, _bare_jobs(warm_serials))
                srv.reset_peak()
                bare.reset_peak()
                with (
                    srv.profiled("steps-backhaul"),
                    floor_srv.profiled("steps-floor"),
                    bare.profiled("steps-bare"),
                ):
                    for r, serials in enumerate(rounds, 1):
                        console.print(
                            f"[bold]steps[/]: round {r} of {ROUNDS}: "
                            f"{CLIENTS * per_client * 8:,} steps each through Backhaul, the "
                            "plumbing floor, the storage loop and the bare endpoint"
                        )
                        api.add(*_measured(srv, world.process_jobs(tokens, serials)))
                        floor.add(*_measured(floor_srv, _floor_jobs(tokens, serials)))
                        load = _storage_limit(url, [s for own in serials for s in own])
                        storage.add(load, load.wall)
                        framework.add(*_measured(bare, _bare_jobs(serials)))
                api_rss, floor_rss, bare_rss = (s.rss_mib()[1] for s in (srv, floor_srv, bare))
        errors = api.pooled().errors
        if errors:
            console.print(f"[red]{len(errors)} steps failed[/]: {errors[:3]}")
        result.rows = [
            api.row("backhaul API (8 clients)", api_rss),
            storage.row(f"storage limit: {'psycopg' if postgres else 'sqlite3'} loop", None),
            framework.row("framework limit: bare FastAPI (8 clients)", bare_rss),
            floor.row("plumbing floor: Backhaul app, plain-SQL writes", floor_rss),
        ]
        shares = [
            100 * a / b if b else 0.0 for a, b in zip(api.rates, framework.rates, strict=True)
        ]
        share = statistics.median(shares)
        rate = statistics.median(api.rates)
        p99 = result.rows[0]["p99_ms"]
        # The targets are the SQLite ones; on PostgreSQL the figures stand beside their own
        # references, with no target of their own.
        result.checks = (
            []
            if postgres
            else [
                Check(
                    "steps/s through the API (median of rounds)",
                    round(rate, 1),
                    TARGET_RATE,
                    "steps/s",
                    True,
                ),
                Check("p99 latency", p99, TARGET_P99_MS, "ms", False),
                Check(
                    "share of the framework limit (median of rounds)",
                    round(share, 1),
                    TARGET_SHARE,
                    "%",
                    True,
                ),
            ]
        )
        result.details = {
            "database": "postgresql" if postgres else "sqlite",
            "share_of_framework_limit_pct": round(share, 1),
            "clients": CLIENTS,
            "rounds": ROUNDS,
            "units_per_client_per_round": per_client,
            "steps_per_unit": [s for s, _ in world.STEPS],
            "per_round": [
                {
                    "backhaul_steps_per_s": round(a, 1),
                    "framework_steps_per_s": round(b, 1),
                    "share_pct": round(sh, 1),
                    "plumbing_floor_steps_per_s": round(f, 1),
                }
                for a, b, sh, f in zip(api.rates, framework.rates, shares, floor.rates, strict=True)
            ],
            "share_of_storage_limit_pct": round(100 * rate / statistics.median(storage.rates), 1),
            "api_errors": errors[:5],
            "peak_rss_mib": {"backhaul": api_rss, "bare": bare_rss},
        }
    return result


def _measured(srv: Server, jobs: list[list[Request]]) -> tuple[Load, float]:
    """A load run against one server, with the CPU seconds the server spent on it."""
    before = srv.cpu_seconds()
    load = run_load(srv.base_url, jobs)
    return load, srv.cpu_seconds() - before
