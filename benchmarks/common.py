"""Shared plumbing of the benchmarks: temp databases, server processes, load, figures, output."""

from __future__ import annotations

import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
console = Console(stderr=True)
profile_dir: Path | None = None  # set by `--profile DIR`: py-spy samples the measured runs
# Set by the `steps-postgres` benchmark: Backhaul and the references run on this PostgreSQL
# database (an empty one, as `scripts/with-postgres` makes) instead of a SQLite file.
postgres_url: str | None = None
out = Console(width=None if sys.stdout.isatty() else 180)


# --- figures -----------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of the values; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max of request latencies, in milliseconds."""
    return {
        "p50_ms": round(percentile(seconds, 50) * 1000, 2),
        "p90_ms": round(percentile(seconds, 90) * 1000, 2),
        "p99_ms": round(percentile(seconds, 99) * 1000, 2),
        "max_ms": round(max(seconds, default=0.0) * 1000, 2),
    }


@dataclass
class Check:
    """One figure against its target."""

    name: str
    value: float
    target: float
    unit: str
    higher_is_better: bool

    @property
    def met(self) -> bool:
        return self.value >= self.target if self.higher_is_better else self.value < self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": f"{'>=' if self.higher_is_better else '<'} {self.target:g} {self.unit}",
            "met": self.met,
        }


@dataclass
class Result:
    """What one benchmark measured: its rows of figures, its checks against targets, details."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "rows": self.rows,
            "checks": [c.as_dict() for c in self.checks],
            "details": self.details,
        }


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM and Python version of this machine."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_kb = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                ram_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(ram_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": __import__("sqlite3").sqlite_version,
    }


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all CPUs, from /proc/stat)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def busy_cpus(seconds: float = 2.0) -> float:
    """How many CPUs the whole machine kept busy over the next `seconds` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    cpus = os.cpu_count() or 1
    return round(cpus * (busy1 - busy0) / max(1, total1 - total0), 2)


def wait_until_quiet(limit_s: float, threshold: float = 0.2) -> float:
    """Wait (at most `limit_s`) until other processes use under `threshold` CPUs; the last
    reading. Benchmarks on a two-core machine are only comparable when nothing else runs."""
    deadline = time.monotonic() + limit_s
    busy = busy_cpus()
    while busy >= threshold and time.monotonic() < deadline:
        console.print(f"[yellow]other processes keep {busy} CPUs busy: waiting[/]")
        busy = busy_cpus(5.0)
    return busy


def report(result: Result) -> dict[str, Any]:
    """Print the figures as a table and as JSON; write bench-results/<name>.json."""
    data = result.as_dict()
    if result.rows:
        columns: list[str] = []
        for row in result.rows:
            columns += [key for key in row if key not in columns]
        table = Table(*(HEADERS.get(c, c) for c in columns), title=f"benchmark: {result.name}")
        for row in result.rows:
            table.add_row(*(_cell(row.get(c)) for c in columns))
        out.print(table)
    if result.checks:
        table = Table("figure", "value", "target", "met", title=f"{result.name}: targets")
        for check in result.checks:
            table.add_row(
                check.name,
                f"{_cell(check.value)} {check.unit}",
                check.as_dict()["target"],
                "[green]met[/]" if check.met else "[red]missed[/]",
            )
        out.print(table)
    text = json.dumps(data, indent=2, default=str)
    out.print_json(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{result.name}.json").write_text(text + "\n")
    return data


# Short column titles for the tables (the JSON keeps the long, unit-bearing names).
HEADERS = {
    "steps_per_s": "steps/s",
    "lookups_per_s": "lookups/s",
    "rows_per_s": "rows/s",
    "wall_s": "wall s",
    "p50_ms": "p50 ms",
    "p90_ms": "p90 ms",
    "p99_ms": "p99 ms",
    "max_ms": "max ms",
    "server_cpu_ms_per_step": "server CPU ms/step",
    "server_peak_rss_mib": "server peak RSS MiB",
    "client_cpu_s": "client CPU s",
    "peak_rss_mib": "peak RSS MiB",
    "cpu_us_per_row": "CPU µs/row",
    "other_processes_cpus": "others' CPUs",
    "server_cpu_ms_per_lookup": "server CPU ms/lookup",
}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


# --- databases and processes -------------------------------------------------------------


def backhaul_exe() -> str:
    """The `backhaul` console script of this virtualenv."""
    beside = Path(sys.executable).parent / "backhaul"
    return str(beside) if beside.exists() else (shutil.which("backhaul") or "backhaul")


def database_url(workdir: Path) -> str:
    """The database the benchmark runs on: `postgres_url` when set, else the SQLite file in
    `workdir`."""
    return postgres_url or f"sqlite:///{workdir / 'backhaul.db'}"


def env_for(workdir: Path) -> dict[str, str]:
    """Environment that points Backhaul at the benchmark's database and the keys in `workdir`."""
    env = dict(os.environ)
    env["BACKHAUL_DATABASE_URL"] = database_url(workdir)
    env["BACKHAUL_KEYS_DIR"] = str(workdir / "keys")
    env["BACKHAUL_SECRET_KEY"] = "bench-secret"
    # Every unit runs to `available`: a wipe drawn for re-verification would hold its unit.
    env.setdefault("BACKHAUL_REVERIFY_SHARE", "0")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_in(workdir: Path, argv: list[str]) -> str:
    """Run a command with Backhaul pointed at the database in `workdir`; its standard output
    (RuntimeError with its output when it fails)."""
    done = subprocess.run(argv, env=env_for(workdir), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return done.stdout


def backhaul(workdir: Path, *args: str) -> str:
    """Run a `backhaul` command against the database in `workdir`; its standard output."""
    return run_in(workdir, [backhaul_exe(), *args])


def fresh_dir(path: Path) -> Path:
    """An empty directory at `path` (a kept one from an earlier run is emptied: a database
    copied over an old one would meet the old one's -wal file and be corrupt)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def create_database(workdir: Path) -> Path:
    """A fresh database with `backhaul db upgrade`; returns its path."""
    workdir.mkdir(parents=True, exist_ok=True)
    backhaul(workdir, "db", "upgrade")
    return workdir / "backhaul.db"


def admin_token(workdir: Path) -> str:
    """An admin API token from `backhaul keys create` (the one bootstrap step outside the API)."""
    return backhaul(workdir, "keys", "create", "--role", "admin", "--name", "bench").strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS since the last reset) of a process, in KiB, from /proc."""
    current = peak = 0
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return current, peak


def reset_peak_rss(pid: int) -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of a process; False where not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


class Server:
    """A server in its own process (uvicorn, one worker) with its RSS watched."""

    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            argv, env=env_for(workdir), cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.peak_sampled_kib = 0
        self.whole_peak_kib = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._wait_ready()
        self._sampler.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start: {self.log_path.read_text()[-3000:]}")

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                current, _ = rss_kib(self.process.pid)
            except OSError:
                return
            self.peak_sampled_kib = max(self.peak_sampled_kib, current)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        with open(f"/proc/{self.process.pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> tuple[float, float]:
        """(current RSS, peak RSS since the last reset), in MiB."""
        current, peak = rss_kib(self.process.pid)
        return round(current / 1024, 1), round(max(peak, self.peak_sampled_kib) / 1024, 1)

    def reset_peak(self) -> None:
        """Start a new peak-RSS window (a run that follows setup measures only itself)."""
        current, peak = rss_kib(self.process.pid)
        self.whole_peak_kib = max(self.whole_peak_kib, peak, self.peak_sampled_kib)
        self.peak_sampled_kib = current
        reset_peak_rss(self.process.pid)

    def peak_whole_run_mib(self) -> float:
        """Peak RSS since the server started, in MiB."""
        _, peak = rss_kib(self.process.pid)
        return round(max(self.whole_peak_kib, peak, self.peak_sampled_kib) / 1024, 1)

    @contextmanager
    def profiled(self, label: str) -> Iterator[None]:
        """Sample the server with py-spy during the block, when `--profile DIR` was given.

        Writes DIR/<label>.txt (collapsed stacks: one line per stack, then its sample count)
        and DIR/<label>.svg (a flame graph). Only the thread holding the GIL is sampled
        (`--gil`): in a one-process server that is where the time goes.
        """
        if profile_dir is None:
            yield
            return
        profile_dir.mkdir(parents=True, exist_ok=True)
        spy = str(Path(sys.executable).parent / "py-spy")
        pid = str(self.process.pid)
        command = [spy, "record", "--pid", pid, "--rate", "250", "--nonblocking", "--gil"]
        recorders = [
            subprocess.Popen(
                [*command, "--format", fmt, "--output", str(profile_dir / f"{label}.{ext}")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for fmt, ext in (("raw", "txt"), ("flamegraph", "svg"))
        ]
        time.sleep(1.0)  # let py-spy attach before the load starts
        try:
            yield
        finally:
            for recorder in recorders:
                recorder.send_signal(signal.SIGINT)
            for recorder in recorders:
                recorder.wait(60)

    def stop(self) -> None:
        self._stop.set()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@contextmanager
def server(name: str, argv: list[str], workdir: Path) -> Iterator[Server]:
    """Run a server for the duration of the block."""
    running = Server(name, argv, workdir)
    try:
        yield running
    finally:
        running.stop()


def backhaul_server(workdir: Path) -> list[str]:
    """argv of the real server: `backhaul serve` (uvicorn, one worker), as `make run` starts it."""
    return [
        backhaul_exe(),
        "serve",
        "--no-migrate",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
    ]


# --- load --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request of a load run."""

    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


def json_request(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Request:
    """A request with a JSON body (encoded once, up front, outside the timed loop)."""
    encoded = None if body is None else json.dumps(body).encode()
    pairs = dict(headers or {})
    if encoded is not None:
        pairs["Content-Type"] = "application/json"
    return Request(method, path, encoded, tuple(pairs.items()))


@dataclass
class Load:
    """What a load run saw: request latencies (s), wall time (s), failures, client CPU (s)."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0
    machine_busy: float = 0.0  # CPU seconds the whole machine was busy during the run

    def others_cpus(self, server_cpu: float) -> float:
        """How many CPUs processes other than this one and the server kept busy, on average."""
        others = self.machine_busy - self.client_cpu - server_cpu
        return round(max(0.0, others) / self.wall, 2) if self.wall else 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


class _StdlibClient:
    """One keep-alive connection with the standard library's http.client (about 0.1 ms of
    client CPU a request here, against 0.4 ms for httpx.Client and 1 ms for httpx.AsyncClient:
    on two cores the load generator's CPU is taken from the server, so it must be light)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def send(self, request: Request) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.connection.request(
                    request.method, request.path, body=request.body, headers=dict(request.headers)
                )
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                if attempt == 2:
                    raise
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


class _HttpxClient:
    """One keep-alive connection with httpx.Client (`--client httpx`)."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=60)

    def send(self, request: Request) -> tuple[int, bytes]:
        response = self.client.request(
            request.method, request.path, content=request.body, headers=dict(request.headers)
        )
        return response.status_code, response.content

    def close(self) -> None:
        self.client.close()


class HttpClient(Protocol):
    def send(self, request: Request) -> tuple[int, bytes]: ...

    def close(self) -> None: ...


CLIENT_KINDS: dict[str, Callable[[str], HttpClient]] = {
    "stdlib": _StdlibClient,
    "httpx": _HttpxClient,
}
client_kind = "stdlib"


def run_load(base_url: str, jobs: list[list[Request]], *, ok: int = 299) -> Load:
    """Run one list of requests per client, each client strictly in order, all concurrently.

    Each client is a thread with its own keep-alive connection. Latency is from sending the
    request to having read the whole response; a status above `ok` counts as an error.
    """
    load = Load()
    lock = threading.Lock()
    start = threading.Barrier(len(jobs) + 1)

    def client(calls: list[Request]) -> None:
        connection = CLIENT_KINDS[client_kind](base_url)
        latencies, errors = [], []
        start.wait()
        for call in calls:
            started = time.perf_counter()
            status, body = connection.send(call)
            elapsed = time.perf_counter() - started
            if 200 <= status <= ok:
                latencies.append(elapsed)
            else:
                errors.append(f"{status} {call.method} {call.path}: {body[:300]!r}")
        connection.close()
        with lock:
            load.latencies += latencies
            load.errors += errors

    threads = [threading.Thread(target=client, args=(calls,)) for calls in jobs]
    for thread in threads:
        thread.start()
    cpu, busy = time.process_time(), machine_busy_seconds()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    load.wall = time.perf_counter() - started
    load.client_cpu = time.process_time() - cpu
    load.machine_busy = machine_busy_seconds() - busy
    return load


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def checked(response: httpx.Response, *ok: int) -> Any:
    """The JSON of a response whose status is one of `ok` (default: any 2xx)."""
    if (response.status_code not in ok) if ok else not response.is_success:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: "
            f"{response.text[:500]}"
        )
    return response.json() if response.content else None
