"""Where a step's CPU goes: the app driven in process (no uvicorn, no network, one step at a
time), with CPU-time counters around the parts of the step path.

The steps benchmark says how much a step costs; this one says where. It runs in a process of
its own (it points Backhaul's settings at its own database through the environment), drives
the ASGI app directly with the eight processing steps of `world.STEPS`, and times each part
with `time.thread_time()` around the call. The counters add their own cost and the run has no
uvicorn, so the rows are proportions of the step's work, not a sum of the steps benchmark's
server CPU.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import importlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Result,
    admin_token,
    bearer,
    console,
    create_database,
    fresh_dir,
    run_in,
)

WARMUP_UNITS = 20
UNITS = 60  # measured: 60 units x 8 steps
HANDLERS = "      the step handlers (rules, catalog reads, certificate)"
HANDLER_READS = "        of which their reads (sites, releases, plans, rigs, people, photos)"
# (label, module, attribute) in the table's order; indentation shows nesting. The handlers (a
# dict of functions) and their reads are wrapped by `_instrument` itself.
PARTS: list[tuple[str, str | None, str | None]] = [
    (
        "the step's thread: its transaction, begin to commit",
        "backhaul.kit.http",
        "_write_transaction",
    ),
    ("  the endpoint's work", "backhaul.processing.api", "_respond"),
    ("    perform_step", "backhaul.processing.service", "perform_step"),
    (
        "      the unit's read, with the transaction's begin",
        "backhaul.processing.store",
        "load_unit",
    ),
    ("      its history", "backhaul.processing.store", "load_steps"),
    (HANDLERS, None, None),
    (HANDLER_READS, None, None),
    ("      recording the step", "backhaul.processing.service", "_record"),
    ("        audit record", "backhaul.kit.audit", "write"),
    ("        unit update", "backhaul.processing.store", "save"),
    ("        step row", "backhaul.processing.store", "add_step"),
    ("        outbox event", "backhaul.kit.outbox", "emit"),
    ("    the answer (unit and history as JSON)", "backhaul.processing.api", "_json"),
    ("  the commit", "backhaul.db", "commit"),
]
ORM_METHODS = ("get", "scalars", "scalar")  # a handler's read through the ORM, if any is left


class Counters:
    """Calls and CPU seconds per label, counted only while `on` (and, for a part counted only
    inside the handlers, while a handler runs: the steps run one at a time)."""

    def __init__(self) -> None:
        self.on = False
        self.in_handler = False
        self.calls: collections.Counter[str] = collections.Counter()
        self.cpu: collections.defaultdict[str, float] = collections.defaultdict(float)

    def wrap(
        self, label: str, function: Callable[..., Any], *, handler: bool = False
    ) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.on or (label == HANDLER_READS and not self.in_handler):
                return function(*args, **kwargs)
            started = time.thread_time()
            self.in_handler |= handler
            try:
                return function(*args, **kwargs)
            finally:
                if handler:
                    self.in_handler = False
                self.calls[label] += 1
                self.cpu[label] += time.thread_time() - started

        return timed


def _instrument(counters: Counters) -> None:
    for label, module_name, attribute in PARTS:
        if module_name is not None and attribute is not None:
            module = importlib.import_module(module_name)
            setattr(module, attribute, counters.wrap(label, getattr(module, attribute)))
    service = importlib.import_module("backhaul.processing.service")
    for step, handler in list(service.HANDLERS.items()):
        service.HANDLERS[step] = counters.wrap(HANDLERS, handler, handler=True)
    from sqlalchemy.orm import Session

    from backhaul.kit.prepared import Prepared

    # The handlers' reads: on the driver (Prepared), or through the ORM session.
    Prepared.rows = counters.wrap(HANDLER_READS, Prepared.rows)  # type: ignore[method-assign]
    for method in ORM_METHODS:
        setattr(Session, method, counters.wrap(HANDLER_READS, getattr(Session, method)))


async def _post(app: Any, path: str, body: dict[str, Any], token: str) -> None:
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)  # the client never hangs up
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses[0] != 200:
        raise RuntimeError(f"POST {path} answered {statuses[0]}")


def _worker(workdir: Path, units: int) -> dict[str, Any]:
    """Runs in its own process: set up a world, then time `units` units through eight steps."""
    from fastapi.testclient import TestClient

    from backhaul.app import create_app
    from benchmarks import world

    token = admin_token(workdir)
    counters = Counters()
    _instrument(counters)
    app = create_app()
    numbers = [n for n in range(1, 40 * (units + WARMUP_UNITS)) if world.restocked(n)]
    numbers = numbers[: units + WARMUP_UNITS]
    client: Any = TestClient(app)  # an httpx2 client; world's helpers take any httpx-like one
    with client as http:
        http.headers.update(bearer(token))
        world.setup_catalog(http)
        world.import_units(http, 1, numbers[-1])
        (technician,) = world.technician_tokens(http, 1)
        for n in numbers:
            serial = world.serial(n)
            for step, body in world.intake_steps(serial):
                answer = http.post(f"/api/v1/units/{serial}/steps/{step}", json=body)
                answer.raise_for_status()

    async def process(batch: list[int]) -> None:
        for n in batch:
            serial = world.serial(n)
            for step, body in world.STEPS:
                await _post(app, f"/api/v1/units/{serial}/steps/{step}", body, technician)

    asyncio.run(process(numbers[:WARMUP_UNITS]))
    counters.on = True
    started = time.process_time()
    asyncio.run(process(numbers[WARMUP_UNITS:]))
    total = time.process_time() - started
    steps = units * len(world.STEPS)
    return {
        "steps": steps,
        "cpu_us_per_step": 1e6 * total / steps,
        "parts": {
            label: {"calls": counters.calls[label], "cpu_s": counters.cpu[label]}
            for label, _, _ in PARTS
        },
    }


def run(scale: float = 1.0, keep: Path | None = None) -> Result:
    """`keep`: the directory for the database (default: a temporary one)."""
    units = max(5, int(UNITS * scale))
    with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as tmp:
        workdir = fresh_dir(keep or Path(tmp))
        create_database(workdir)
        console.print(f"[bold]breakdown[/]: {units * 8:,} steps in process, with counters")
        worker = [sys.executable, "-m", "benchmarks.breakdown", str(workdir), str(units)]
        measured = json.loads(run_in(workdir, worker).strip().splitlines()[-1])
    result = Result("breakdown")
    steps, per_step = measured["steps"], measured["cpu_us_per_step"]
    whole = {"part": "a whole step (no uvicorn)", "calls_per_step": 1.0}
    result.rows.append(whole | {"us_per_step": round(per_step, 1)})
    for label, _, _ in PARTS:
        part = measured["parts"][label]
        us = 1e6 * part["cpu_s"] / steps
        result.rows.append(
            {
                "part": label,
                "calls_per_step": round(part["calls"] / steps, 2),
                "us_per_step": round(us, 1),
                "share_pct": round(100 * us / per_step, 1),
            }
        )
    result.details = {"steps": steps, "units": units, "steps_per_unit": 8}
    return result


if __name__ == "__main__":
    print(json.dumps(_worker(Path(sys.argv[1]), int(sys.argv[2]))))
