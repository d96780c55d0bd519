"""Steps through the HTTP API against the storage limit and the framework limit.

1. Backhaul: `backhaul serve` (uvicorn, one worker) on a SQLite file; 8 clients, each with its
   own technician key and keep-alive connection, push their units through receive → inspect →
   sanitize → flash → test → grade → disposition → repackage.
2. Storage limit: the same rows (unit update, step row, hash-chained audit row, outbox row),
   one transaction per step, written by a bare Python loop with the sqlite3 module.
3. Framework limit: a bare FastAPI endpoint on uvicorn (one worker) writing those rows with
   plain SQL, driven by the same 8 clients.
4. Plumbing floor: Backhaul's own application (middleware, token, If-Match, evidence model,
   transaction and write lock, commit) writing those rows with plain SQL instead of running
   the step (benchmarks/floor_app.py), same clients and keys. Not a target: it splits the
   distance between 1 and 3 into what the plumbing costs and what the domain costs.
All four on the same database file, one after the other, in this run.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from benchmarks import rawsql, world
from benchmarks.common import (
    Check,
    Load,
    Request,
    Result,
    admin_token,
    backhaul_server,
    bearer,
    console,
    create_database,
    fresh_dir,
    json_request,
    latency_summary,
    machine_busy_seconds,
    run_load,
    server,
)

CLIENTS = 8
UNITS_PER_CLIENT = 150  # measured: 8 x 150 units x 8 steps = 9,600 steps
WARMUP_UNITS_PER_CLIENT = 5
TARGET_RATE = 800.0
TARGET_P99_MS = 50.0
TARGET_SHARE = 50.0


def _row(name: str, load: Load, rss_mib: float | None, cpu_s: float) -> dict[str, Any]:
    return {
        "run": name,
        "steps": len(load.latencies),
        "errors": len(load.errors),
        "wall_s": round(load.wall, 2),
        "steps_per_s": round(load.rate, 1),
        **latency_summary(load.latencies),
        "server_cpu_ms_per_step": round(1000 * cpu_s / max(1, len(load.latencies)), 2),
        "server_peak_rss_mib": rss_mib,
        "client_cpu_s": round(load.client_cpu, 2),
        "other_processes_cpus": load.others_cpus(cpu_s if rss_mib is not None else 0.0),
    }


def _storage_limit(path: Path, serials: list[str]) -> Load:
    db = rawsql.connect(path)
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
        path = create_database(workdir)
        token = admin_token(workdir)
        total = CLIENTS * (per_client + warm)
        numbers = [n for n in range(1, 10 * total) if world.restocked(n)][:total]
        warm_serials = [
            [world.serial(n) for n in numbers[i::CLIENTS][:warm]] for i in range(CLIENTS)
        ]
        serials = [[world.serial(n) for n in numbers[i::CLIENTS][warm:]] for i in range(CLIENTS)]
        result = Result("steps")
        with server("backhaul", backhaul_server(workdir), workdir) as srv:
            console.print(f"[bold]steps[/]: setting up {total:,} units through the API")
            with httpx.Client(base_url=srv.base_url, headers=bearer(token), timeout=60) as http:
                world.setup_catalog(http)
                world.import_units(http, 1, numbers[-1])
                tokens = world.technician_tokens(http, CLIENTS)
            world.intake(srv.base_url, token, [world.serial(n) for n in numbers], CLIENTS)
            run_load(srv.base_url, world.process_jobs(tokens, warm_serials))
            srv.reset_peak()
            console.print(f"[bold]steps[/]: {CLIENTS * per_client * 8:,} steps through Backhaul")
            with srv.profiled("steps-backhaul"):
                cpu = srv.cpu_seconds()
                api = run_load(srv.base_url, world.process_jobs(tokens, serials))
                api_cpu = srv.cpu_seconds() - cpu
            api_rss = srv.rss_mib()[1]
        if api.errors:
            console.print(f"[red]{len(api.errors)} steps failed[/]: {api.errors[:3]}")
        floor_argv = _uvicorn("benchmarks.floor_app:create_app")
        with server("floor", floor_argv, workdir) as floor_srv:
            console.print("[bold]steps[/]: plumbing floor (Backhaul's app, plain-SQL writes)")
            run_load(floor_srv.base_url, _floor_jobs(tokens, warm_serials))
            with floor_srv.profiled("steps-floor"):
                cpu = floor_srv.cpu_seconds()
                floor = run_load(floor_srv.base_url, _floor_jobs(tokens, serials))
                floor_cpu = floor_srv.cpu_seconds() - cpu
            floor_rss = floor_srv.rss_mib()[1]
        flat = [s for mine in serials for s in mine]
        console.print("[bold]steps[/]: storage limit (bare sqlite3 loop)")
        storage = _storage_limit(path, flat)
        with server("bare", _uvicorn("benchmarks.bare_app:create_app"), workdir) as bare:
            console.print("[bold]steps[/]: framework limit (bare FastAPI endpoint, plain SQL)")
            run_load(bare.base_url, _bare_jobs(warm_serials))
            bare.reset_peak()
            with bare.profiled("steps-bare"):
                cpu = bare.cpu_seconds()
                framework = run_load(bare.base_url, _bare_jobs(serials))
                bare_cpu = bare.cpu_seconds() - cpu
            bare_rss = bare.rss_mib()[1]
        result.rows = [
            _row("backhaul API (8 clients)", api, api_rss, api_cpu),
            _row("storage limit: sqlite3 loop", storage, None, storage.wall),
            _row("framework limit: bare FastAPI (8 clients)", framework, bare_rss, bare_cpu),
            _row("plumbing floor: Backhaul app, plain-SQL writes", floor, floor_rss, floor_cpu),
        ]
        share = 100 * api.rate / framework.rate if framework.rate else 0.0
        p99 = latency_summary(api.latencies)["p99_ms"]
        result.checks = [
            Check("steps/s through the API", round(api.rate, 1), TARGET_RATE, "steps/s", True),
            Check("p99 latency", p99, TARGET_P99_MS, "ms", False),
            Check("share of the framework limit", round(share, 1), TARGET_SHARE, "%", True),
        ]
        result.details = {
            "clients": CLIENTS,
            "units_per_client": per_client,
            "steps_per_unit": [s for s, _ in world.STEPS],
            "share_of_storage_limit_pct": round(100 * api.rate / storage.rate, 1),
            "api_errors": api.errors[:5],
            "peak_rss_mib": {"backhaul": api_rss, "bare": bare_rss},
        }
    return result
