"""`python -m benchmarks [steps|import|lookup|breakdown ...]`: run the benchmarks (all by
default). `scripts/with-postgres python -m benchmarks steps-postgres` runs the steps on
PostgreSQL."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.common import Check, Result, console, report

TARGET_RSS_MIB = 300.0  # the target says 300 MB; MiB is the stricter reading

NAMES = ("steps", "import", "lookup", "breakdown")
# Run only when named, under `scripts/with-postgres` (which exports the database's URL).
ON_POSTGRES = ("steps-postgres",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"any of {', '.join(NAMES + ON_POSTGRES)} (default: all but {ON_POSTGRES[0]})",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="shrink or grow every size")
    parser.add_argument("--keep", type=Path, help="keep databases and logs in this directory")
    parser.add_argument(
        "--profile", type=Path, help="sample the servers with py-spy into this directory"
    )
    parser.add_argument(
        "--client", choices=sorted(common.CLIENT_KINDS), default="stdlib", help="HTTP client"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="before each benchmark, wait up to this long for other processes to go idle",
    )
    args = parser.parse_args(argv)
    # `kill` stops the run like Ctrl-C does: the servers it started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    common.profile_dir = args.profile
    common.client_kind = args.client
    names = args.names or list(NAMES)
    for name in names:
        if name not in NAMES + ON_POSTGRES:
            choices = ", ".join(NAMES + ON_POSTGRES)
            parser.error(f"unknown benchmark {name!r}: choose from {choices}")
        if name in ON_POSTGRES and not os.environ.get("BACKHAUL_TEST_DATABASE_URL"):
            parser.error(
                f"{name} needs an empty PostgreSQL database: "
                f"run it as scripts/with-postgres python -m benchmarks {name}"
            )
    from benchmarks import breakdown, imports, lookup, steps

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        root = args.keep or Path(tmp)
        runners: dict[str, Callable[[], Result]] = {
            "steps": lambda: steps.run(args.scale, root / "steps"),
            "import": lambda: imports.run(args.scale, root / "import"),
            # The lookup runs on the import's million units when the import ran before it.
            "lookup": lambda: lookup.run(
                args.scale, root / "lookup", root / "import" / "service" / "backhaul.db"
            ),
            "breakdown": lambda: breakdown.run(args.scale, root / "breakdown"),
            "steps-postgres": lambda: _on_postgres(steps.run, args.scale, root / "steps-pg"),
        }
        results: dict[str, dict[str, Any]] = {}
        for name in names:
            console.rule(f"benchmark: {name}")
            busy = common.wait_until_quiet(args.wait_quiet)
            if busy >= 0.2:
                console.print(f"[red]other processes use {busy} CPUs: figures will be low[/]")
            result = runners[name]()
            result.details["other_processes_busy_cpus_at_start"] = busy
            results[name] = report(result)
        if "steps" in results or "lookup" in results:
            console.rule("peak memory of the server")
            report(memory(results))
    return 0


def _on_postgres(run: Callable[[float, Path], Result], scale: float, keep: Path) -> Result:
    common.postgres_url = os.environ["BACKHAUL_TEST_DATABASE_URL"]
    try:
        return run(scale, keep)
    finally:
        common.postgres_url = None


def memory(results: dict[str, dict[str, Any]]) -> Result:
    """The servers' peak RSS in the runs above, against the 300 MB target at a million units."""
    result = Result("memory")

    def row(run: str, mib: float) -> None:
        result.rows.append({"run": run, "peak_rss_mib": mib})

    if "steps" in results:
        peaks = results["steps"]["details"]["peak_rss_mib"]
        row("steps: backhaul server, during the steps", peaks["backhaul"])
        row("steps: bare FastAPI server (reference)", peaks["bare"])
    if "lookup" in results:
        details = results["lookup"]["details"]
        peaks, units = details["server_rss_mib"], details["units"]
        row(
            f"lookup: backhaul server, during lookups ({units:,} units)",
            peaks["peak_during_lookups"],
        )
        row(f"lookup: backhaul server, whole run ({units:,} units)", peaks["peak_whole_server_run"])
        result.checks.append(
            Check(
                f"server peak RSS at {units:,} units (whole run)",
                peaks["peak_whole_server_run"],
                TARGET_RSS_MIB,
                "MiB",
                False,
            )
        )
    return result


if __name__ == "__main__":
    raise SystemExit(main())
