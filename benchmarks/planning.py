"""Planning benchmarks: the cost model's Monte Carlo (1 million trials, one core, beside bare
numpy drawing the same distributions) and the forecast (1,000 weekly series, two years,
fitted, backtested and forecast).

Run: .venv/bin/python -m benchmarks.planning [--scale 1.0]
Writes bench-results/planning.json. Each measurement runs in a fresh child process, so its
peak memory (the kernel's high-water mark of resident memory) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from benchmarks import common
from benchmarks.common import ROOT, Check, Result, console, report

SCENARIO = ROOT / "examples" / "spk-100.toml"
MC_TRIALS = 1_000_000
SERIES = 1000
WEEKS = 104
REPEATS = 5


def _child(kind: str, *args: str) -> dict[str, Any]:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.planning", "--child", kind, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _monte_carlo(trials: int, bare: bool) -> dict[str, Any]:
    """Time the Monte Carlo (or bare numpy drawing the same inputs) on one core."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import numpy as np

    from backhaul.planning import costmodel
    from backhaul.planning.scenario import load_scenario_text

    scenario = load_scenario_text(SCENARIO.read_text())
    named = costmodel.inputs(scenario)
    uncertain = {k: d for k, d in named.items() if d.uncertain}
    before = _peak_mib()
    times = []
    for repeat in range(REPEATS):
        started = time.perf_counter()
        if bare:
            rng = np.random.default_rng(repeat)
            draws = [d.draw(rng, trials) for d in uncertain.values()]
            del draws
        else:
            costmodel.simulate(scenario, trials, seed=repeat)
        times.append(time.perf_counter() - started)
    full_started = time.perf_counter()
    if not bare:
        costmodel.run(scenario, trials, seed=1)
    full = time.perf_counter() - full_started
    return {
        "trials": trials,
        "uncertain_inputs": len(uncertain),
        "what_ifs": len(scenario.what_if),
        "first_s": times[0],
        "best_s": min(times),
        "median_s": sorted(times)[len(times) // 2],
        "full_run_s": None if bare else full,
        "peak_rss_mib": _peak_mib(),
        "rss_before_mib": before,
    }


def _forecast(series: int, weeks: int, jobs: int) -> dict[str, Any]:
    """Generate the panel, then time fitting, backtesting and forecasting every series."""
    from datetime import timedelta

    import numpy as np

    from backhaul.demo.returns_history import synthetic_series
    from backhaul.planning import forecast
    from backhaul.planning.series import Panel, WeekSpan

    data = synthetic_series(series, weeks, seed=1)
    span = WeekSpan(data.first_week, data.first_week + timedelta(weeks=weeks - 1))
    by = ("sku", "region")
    returns = Panel(span, by, {k: np.array(v) for k, v in data.returns.items()})
    sales = Panel(span, by, {k: np.array(v) for k, v in data.sales.items()})
    started = time.perf_counter()
    result = forecast.run(returns, sales, horizon=12, windows=4, jobs=jobs)
    elapsed = time.perf_counter() - started
    chosen = result.overall(forecast.CHOSEN)
    baseline = result.overall(forecast.BASELINE)
    counts: dict[str, int] = {}
    for item in result.forecasts.values():
        counts[item.model] = counts.get(item.model, 0) + 1
    errors = [abs(fit.rate / data.truth[line].rate - 1) for line, fit in result.cohort_fits.items()]
    return {
        "series": len(result.forecasts),
        "weeks": weeks,
        "jobs": jobs,
        "origins": result.windows,
        "fits": len(result.forecasts) * (3 * (result.windows + 1)),
        "seconds": elapsed,
        "mase_chosen": chosen.mase if chosen else None,
        "mase_seasonal_naive": baseline.mase if baseline else None,
        "chosen": counts,
        "cohort_rate_error_median": float(np.median(errors)),
        "cohort_rate_error_p90": float(np.quantile(errors, 0.9)),
        "peak_rss_mib": _peak_mib(),
    }


def _quiet(limit_s: float) -> float | None:
    """Wait for other processes to go idle (when the shared plumbing can tell); busy CPUs."""
    wait = getattr(common, "wait_until_quiet", None)
    return None if wait is None or limit_s <= 0 else float(wait(limit_s))


def run(scale: float = 1.0, wait_quiet: float = 120.0) -> Result:
    """Both benchmarks, each in its own child process."""
    trials = max(1000, int(MC_TRIALS * scale))
    series = max(8, int(SERIES * scale))
    result = Result("planning")
    busy = {"before Monte Carlo": _quiet(wait_quiet)}
    console.print(f"Monte Carlo: {trials:,} trials of {SCENARIO.name}, one core")
    model = _child("mc", str(trials))
    bare = _child("bare", str(trials))
    result.rows.append({"measure": "Monte Carlo (Backhaul)", **model})
    result.rows.append({"measure": "bare numpy, same draws", **bare})
    jobs = len(os.sched_getaffinity(0))
    busy["before forecast"] = _quiet(wait_quiet)
    console.print(f"forecast: {series:,} series × {WEEKS} weeks, {jobs} worker processes")
    fc = _child("forecast", str(series), str(WEEKS), str(jobs))
    result.rows.append(
        {
            "measure": "forecast",
            **{k: v for k, v in fc.items() if k != "chosen"},
            "chosen": ", ".join(f"{m} {n}" for m, n in sorted(fc["chosen"].items())),
        }
    )
    result.checks += [
        Check(
            f"Monte Carlo {trials:,} trials (median of 5)",
            round(model["median_s"], 3),
            0.5,
            "s",
            False,
        ),
        Check("Monte Carlo peak memory", round(model["peak_rss_mib"], 1), 500, "MiB", False),
        Check(
            f"forecast {series} series fitted+backtested+forecast",
            round(fc["seconds"], 1),
            60,
            "s",
            False,
        ),
    ]
    result.details = {
        "scenario": str(SCENARIO.relative_to(ROOT)),
        "scale": scale,
        "other_processes_busy_cpus": busy,
        "load_average": os.getloadavg(),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.planning", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink or grow both sizes")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="before each benchmark, wait up to this long for other processes to go idle",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind in ("mc", "bare"):
            output = _monte_carlo(int(rest[0]), bare=kind == "bare")
        else:
            output = _forecast(int(rest[0]), int(rest[1]), int(rest[2]))
        print(json.dumps(output))
        return 0
    report(run(args.scale, args.wait_quiet))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
