"""`make bench`: kfp-chain's trigger function against the functions-framework no-op ceiling.

    python -m bench.run [--sizes 100,10000,100000] [--duration 8] [--out BENCHMARKS.md]

One process tree, loopback only: this process starts the fakes (`bench.fakes`, a process of its
own), then one functions-framework server at a time (the no-op, or functions/main.py with
RUNCONFIGURATIONS=kubernetes), and drives each with `wrk` posting binary-mode CloudEvents
(`bench/event.lua`). It prints a table and rewrites the generated part of BENCHMARKS.md; the raw
numbers go to .local/bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "tests" / "fakes"  # the package kfp_fakes, importable without the tests
if str(FAKES) not in sys.path:
    sys.path.append(str(FAKES))

from kfp_fakes.kubernetes.kubeconfig import write_kubeconfig  # noqa: E402

VENV_BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "event.lua"
EVENT_TEMPLATE = ROOT / ".local" / "bench-event"


def write_event_template(directory: Path = EVENT_TEMPLATE) -> Path:
    """The run-completion event wrk posts, from the one builder (`kfp_chain.completion_event`).

    With @EMITTER@ and @RUN@ where event.lua puts each request's emitter and run id: the bench
    sends what `kfp-chain send` and the local runner send, byte for byte but for those two.
    """
    from kfp_chain.completion_event import encode, run_completion_data, run_completion_event
    from kfp_chain.runconfiguration import Artifact

    data = run_completion_data(
        "@EMITTER@",
        "@RUN@",
        pipeline="team/pipe",
        run_name="run-@RUN@",
        artifacts=[Artifact("model", "gs://bucket/@RUN@/model")],
        provider="kfp",
        run_start_time="2026-11-25T10:00:00Z",
        run_end_time="2026-11-25T10:05:00Z",
    )
    headers, body = encode(run_completion_event(data, source="kfp-operator/bench", event_id="@RUN@"))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "headers").write_text("".join(f"{name}: {value}\n" for name, value in headers.items()))
    (directory / "body").write_bytes(body)
    return directory


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
LONELY_EMITTERS = 50


# -- processes ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, timeout: float = 120.0) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def stop(process: subprocess.Popen[Any]) -> None:
    """Ends a server this script started (its own process group: gunicorn and its workers)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@dataclass
class Fakes:
    kube: str
    kfp: str

    def seed(self, count: int) -> None:
        http("POST", f"{self.kube}/bench/seed?count={count}", timeout=600)

    def reset(self) -> None:
        http("POST", f"{self.kube}/bench/reset")

    def fresh_kfp(self) -> None:
        http("POST", f"{self.kube}/bench/fresh-kfp")

    def stats(self) -> dict[str, Any]:
        return dict(http("GET", f"{self.kube}/bench/stats")[1])

    def settled_stats(self, quiet_s: float = 1.0, limit_s: float = 15.0) -> dict[str, Any]:
        """Stats once the requests wrk left in flight at its stop have finished (no new calls for
        `quiet_s`): their runs and calls are counted, and so is every run they started."""
        deadline = time.monotonic() + limit_s
        last = self.stats()
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            now = self.stats()
            if now["total"] == last["total"] and now["runs_started"] == last["runs_started"]:
                return now
            last = now
        return last


@contextmanager
def fakes(work: Path) -> Iterator[Fakes]:
    address = work / "fakes.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fakes", str(address)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{FAKES}"},  # kfp_fakes
    )
    try:
        deadline = time.monotonic() + 30
        while not address.exists() or not address.read_text():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the fakes did not start")
            time.sleep(0.05)
        urls = json.loads(address.read_text())
        yield Fakes(urls["kube"], urls["kfp"])
    finally:
        if process.stdin:
            process.stdin.close()
        stop(process)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[Any]
    ready_s: float


def function_env(work: Path, fk: Fakes, index_mode: str, **extra: str) -> dict[str, str]:
    home = work / "home"
    home.mkdir(exist_ok=True)
    return {
        **{k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)},
        "HOME": str(home),
        "RUNCONFIGURATIONS": "kubernetes",
        "KUBECONFIG": str(write_kubeconfig(work / "kubeconfig", fk.kube, token="bench")),
        "KFP_HOST": fk.kfp,
        "KFP_CHAIN_INDEX": index_mode,
        "RECORD_LATEST_RUNS": "false",
        "KFP_CHAIN_STATE_DB": str(work / "state.db"),
        "LOG_FORMAT": "json",
        **extra,
    }


@contextmanager
def serve(
    work: Path, target: str, source: Path, env: dict[str, str], ready_path: str, workers: int, threads: int
) -> Iterator[Server]:
    port = free_port()
    log = (work / f"{target}-{port}.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            str(VENV_BIN / "functions-framework"),
            "--source",
            str(source),
            "--target",
            target,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env={**env, "WORKERS": str(workers), "THREADS": str(threads)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{target} exited; see {log.name}")
            try:
                status, _ = http("GET", url + ready_path, timeout=5)
            except OSError:
                status = 0
            if status == 200 or (ready_path == "/" and status):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target} never became ready; see {log.name}")
            time.sleep(0.02)
        ready_s = time.perf_counter() - started
        if workers > 1:  # every worker builds its own index on its first request: warm them all
            for _ in range(workers * 20):
                http("GET", url + ready_path, timeout=120)
        yield Server(url, process, ready_s)
    finally:
        stop(process)
        log.close()


# -- load --------------------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    calls: dict[str, int] = field(default_factory=dict)
    kfp_calls: dict[str, int] = field(default_factory=dict)
    runs_started: int = 0
    status_errors: int = 0  # answers other than 2xx/3xx (part of `errors`)

    def per_event(self, *kinds: str) -> float:
        return sum(v for k, v in self.calls.items() if k in kinds) / max(1, self.requests)

    @property
    def answered_ok(self) -> int:
        return self.requests - self.status_errors

    def kube_per_run(self) -> float:
        return sum(v for k, v in self.calls.items() if k != "409") / max(1, self.runs_started)

    def kfp_per_run(self) -> float:
        return sum(self.kfp_calls.values()) / max(1, self.runs_started)


EMITTERS = {"trigger": 16, "burst": 1}


def wrk(url: str, mode: str, duration: float, connections: int, timeout: float = 10.0) -> Load:
    nonce = f"{mode}{time.monotonic_ns() % 10**9}"
    emitters = EMITTERS.get(mode, LONELY_EMITTERS)
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration:g}s",
            f"--timeout={timeout:g}s",
            "-s",
            str(LUA),
            url,
            "--",
            mode,
            nonce,
            str(emitters),
            str(write_event_template()),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"BENCH_JSON (\{.*\})", out)
    if match is None:
        raise RuntimeError(f"no result from wrk:\n{out}")
    raw = json.loads(match.group(1))
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    seconds = raw["duration_us"] / 1e6
    return Load(
        raw["requests"] / seconds,
        raw["p50_us"] / 1e3,
        raw["p99_us"] / 1e3,
        raw["requests"],
        errors,
        status_errors=raw["status"],
    )


def load_with_calls(
    fk: Fakes, url: str, mode: str, duration: float, connections: int, timeout: float = 10
) -> Load:
    fk.reset()
    result = wrk(url, mode, duration, connections, timeout)
    stats = fk.settled_stats() if mode in EMITTERS else fk.stats()
    result.calls = {k: v for k, v in stats["by"].items() if k != "watch"}
    result.kfp_calls = dict(stats["kfp"])
    result.runs_started = int(stats["runs_started"])
    return result


def memory(process: subprocess.Popen[Any]) -> dict[str, int]:
    """Resident and peak resident bytes of a server's processes: gunicorn's master (`process`) and
    its worker(s), read from /proc/PID/status. Each process keeps an index of its own (the master
    built the app before forking; the worker lists again after the fork)."""
    found: dict[str, int] = {"master_rss": 0, "worker_rss": 0, "worker_hwm": 0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            pgid = os.getpgid(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
        if pgid != process.pid:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
        hwm = int(fields.get("VmHWM", "0 kB").split()[0]) * 1024
        if int(entry.name) == process.pid:
            found["master_rss"] = rss
        else:
            found["worker_rss"] = max(found["worker_rss"], rss)
            found["worker_hwm"] = max(found["worker_hwm"], hwm)
    return found


# -- in-process measurements -------------------------------------------------------------------------


def lookup_times(sizes: list[int]) -> dict[int, dict[str, float]]:
    """Nanoseconds per `dependents_of` call on an index of N RunConfigurations."""
    from kfp_chain.dependents import DependentsIndex
    from kfp_chain.runconfiguration import RcKey, parse_runconfiguration

    from bench.cluster import NAMESPACE, objects

    out: dict[int, dict[str, float]] = {}
    for n in sizes:
        index = DependentsIndex(parse_runconfiguration(o) for o in objects(n))
        lonely, upstream = RcKey(NAMESPACE, "lonely-000007"), RcKey(NAMESPACE, "upstream-03")
        row: dict[str, float] = {}
        for label, key in (("none_ns", lonely), ("one_ns", upstream)):
            samples = []
            for _ in range(5):
                rounds = 20000
                t0 = time.perf_counter_ns()
                for _ in range(rounds):
                    index.dependents_of(key)
                samples.append((time.perf_counter_ns() - t0) / rounds)
            row[label] = statistics.median(samples)
        out[n] = row
    return out


NODEPS_PAIRS = 3


def nodeps_against_noop(
    fk: Fakes, noop_url: str, url: str, duration: float, connections: int
) -> dict[str, Any]:
    """No-dependent events against the no-op, as NODEPS_PAIRS back-to-back pairs of half-length samples.

    On a shared 2-core machine the no-op alone moves by 5-10% between samples a minute apart, as
    much as the margin the ratio is judged by; a pair measured seconds apart sees the same load.
    The pair with the median ratio is the row (its no-op sample is the row's ceiling); every
    pair's ratio is kept and printed.
    """
    wrk(noop_url, "nodeps", 2, connections)  # warm-up, both servers
    wrk(url, "nodeps", 2, connections)
    pairs = []
    half = max(1, round(duration / 2))  # wrk takes whole seconds
    for _ in range(NODEPS_PAIRS):
        base = asdict(wrk(noop_url, "nodeps", half, connections))
        ours = asdict(load_with_calls(fk, url, "nodeps", half, connections))
        pairs.append((base, ours))
    pairs.sort(key=lambda pair: pair[1]["rps"] / max(pair[0]["rps"], 1e-9))
    noop, nodeps = pairs[len(pairs) // 2]
    ratios = [round(o["rps"] / max(b["rps"], 1e-9), 3) for b, o in pairs]
    return {"noop": noop, "nodeps": nodeps, "nodeps_ratios": ratios}


def cold_start(work: Path, fk: Fakes) -> dict[str, float]:
    """Spawn to ready, as Knative scaling from zero sees it: until the child says its index is
    filled (its own teardown afterwards, freeing 100k objects, is not part of a cold start)."""
    env = function_env(work, fk, "watch", LOG_LEVEL="WARNING")
    t0 = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.coldstart"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    wall = time.perf_counter() - t0
    child.communicate(timeout=120)
    if child.returncode != 0 or not line.strip():
        raise RuntimeError("bench.coldstart failed")
    result: dict[str, float] = json.loads(line)
    result["process_wall_s"] = wall
    return result


def machine() -> dict[str, str]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model or platform.processor(),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": wrk_version.split(" Copyright")[0].strip(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# -- the run -----------------------------------------------------------------------------------------


def run(sizes: list[int], duration: float, connections: int) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "sizes": sizes, "connections": connections}
    results["duration_s"] = duration
    main_py = ROOT / "functions" / "main.py"
    noop_py = ROOT / "bench" / "noop.py"
    cores = os.cpu_count() or 1
    default_threads = cores * 4  # functions-framework's own default (THREADS unset)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT / ".local"))
    try:
        print(f"lookups: timing dependents_of at {sizes}", flush=True)
        results["lookup_ns"] = lookup_times(sizes)

        with fakes(work) as fk:
            noop_env = {**os.environ, "HOME": str(work)}
            results["noop"] = {}
            for workers, threads in ((1, default_threads), (2, default_threads // 2)):
                with serve(work, "noop", noop_py, noop_env, "/", workers, threads) as server:
                    wrk(server.url, "nodeps", 2, connections)  # warm-up
                    load = wrk(server.url, "nodeps", duration, connections)
                    results["noop"][f"{workers}x{threads}"] = asdict(load)
                    print(f"no-op {workers}x{threads}: {load.rps:.0f} req/s", flush=True)

            results["sizes_detail"] = {}
            noop_server = serve(work, "noop", noop_py, noop_env, "/", 1, default_threads)
            ceiling = noop_server.__enter__()  # idle between samples: costs nothing
            for n in sizes:
                t0 = time.perf_counter()
                fk.seed(n)
                print(f"N={n}: seeded in {time.perf_counter() - t0:.1f}s", flush=True)
                detail: dict[str, Any] = {}
                env = function_env(work, fk, "watch")
                with serve(work, "on_run_completion", main_py, env, "/readyz", 1, default_threads) as server:
                    detail["ready_s"] = server.ready_s
                    time.sleep(1.0)  # the worker's index is filled: let the list's garbage go
                    detail["memory"] = memory(server.process)
                    detail.update(nodeps_against_noop(fk, ceiling.url, server.url, duration, connections))
                    if n == 10000:
                        results["concurrency"] = {}
                        for c in (1, 4, 16, 64):
                            load = wrk(server.url, "nodeps", max(4.0, duration / 2), c)
                            results["concurrency"][c] = asdict(load)
                # Triggering events record the emitter's latestRuns too, as deployed (infra/base):
                # the costliest setting, the one the per-run call targets count.
                env_trigger = function_env(work, fk, "watch", RECORD_LATEST_RUNS="true")
                with serve(
                    work, "on_run_completion", main_py, env_trigger, "/readyz", 1, default_threads
                ) as server:
                    for mode in EMITTERS:
                        fk.fresh_kfp()  # the KFP fake finds runs by name in O(runs): no growth across rows
                        wrk(server.url, mode, 1, connections)  # warm-up: ids cached, objects seen
                        fk.settled_stats()
                        detail[mode] = asdict(load_with_calls(fk, server.url, mode, duration, connections))
                print(
                    f"N={n}: ready {detail['ready_s']:.2f}s, {detail['memory']['worker_rss'] / 2**20:.0f} MiB, "
                    f"no-deps {detail['nodeps']['rps']:.0f} req/s, trigger {detail['trigger']['rps']:.0f} req/s "
                    f"({detail['trigger']['runs_started']} runs), burst {detail['burst']['rps']:.0f} req/s "
                    f"({detail['burst']['runs_started']} runs)",
                    flush=True,
                )
                if n == max(sizes):
                    results["cold_start_max"] = cold_start(work, fk)
                if n == 10000:
                    results["cold_start"] = cold_start(work, fk)
                    results["workers"] = {}
                    for workers, threads in ((2, default_threads // 2), (1, 1)):
                        with serve(work, "on_run_completion", main_py, env, "/readyz", workers, threads) as s:
                            wrk(s.url, "nodeps", 2, connections)
                            load = wrk(s.url, "nodeps", duration, connections)
                            results["workers"][f"{workers}x{threads}"] = asdict(load)
                env = function_env(work, fk, "list")
                with serve(work, "on_run_completion", main_py, env, "/readyz", 1, default_threads) as server:
                    slow = n >= 100000
                    detail["list"] = asdict(
                        load_with_calls(
                            fk, server.url, "nodeps", duration * (2 if slow else 1), connections, timeout=60
                        )
                    )
                print(f"N={n}: list mode {detail['list']['rps']:.1f} req/s", flush=True)
                results["sizes_detail"][n] = detail
            noop_server.__exit__(None, None, None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


# -- the report --------------------------------------------------------------------------------------


def table(r: dict[str, Any]) -> str:
    cores = int(r["machine"]["nproc"])
    ceiling_key = f"1x{cores * 4}"
    noop = r["noop"][ceiling_key]
    m = r["machine"]
    lines = [
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Python {m['python']}, "
        f"Linux {m['kernel']}, {m['wrk']}; run {m['date']}.",
        f"Load: wrk, {r['connections']} connections, {r['duration_s']:g} s per row, binary-mode CloudEvents "
        "over loopback; the fakes run in a process of their own on the same cores.",
        "Function: functions-framework (gunicorn gthread), 1 worker, "
        f"{cores * 4} threads (its default on this machine) unless said otherwise; RECORD_LATEST_RUNS=false.",
        "",
        "| case | N RunConfigurations | req/s | p50 ms | p99 ms | x no-op | k8s reads/event | k8s writes/event | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| no-op CloudEvent handler, at the start | - | {noop['rps']:.0f} | {noop['p50_ms']:.2f} | {noop['p99_ms']:.2f} "
        f"| 1.00 | - | - | {noop['errors']} |",
    ]

    def ceiling_at(n: int) -> dict[str, Any]:
        return dict(r["sizes_detail"][n].get("noop") or noop)

    def row(case: str, n: int, load: dict[str, Any]) -> str:
        loaded = Load(**load)
        if loaded.requests == 0:  # nothing finished inside the run: say so rather than print zeros
            pages = loaded.calls.get("list", 0)
            return (
                f"| {case} | {n:,} | 0 completed in {2 * r['duration_s']:g} s | - | - | 0.00 | "
                f"(lists {-(-n // 500)} pages each; {pages} pages read) | - | {loaded.errors} |"
            )
        reads = loaded.per_event("list", "GET object")
        writes = loaded.per_event("PATCH object", "PATCH status", "POST event", "PUT object")
        return (
            f"| {case} | {n:,} | {loaded.rps:.1f} | {loaded.p50_ms:.2f} | {loaded.p99_ms:.2f} | "
            f"{loaded.rps / ceiling_at(n)['rps']:.2f} | {reads:.2f} | {writes:.2f} | {loaded.errors} |"
        )

    details = r["sizes_detail"]
    for n in r["sizes"]:
        if "noop" in details[n]:
            c = details[n]["noop"]
            paired = "paired with" if "nodeps_ratios" in details[n] else "again right before"
            lines.append(
                f"| no-op, {paired} the N={n:,} rows | - | {c['rps']:.0f} | {c['p50_ms']:.2f} | "
                f"{c['p99_ms']:.2f} | 1.00 | - | - | {c['errors']} |"
            )
    for n in r["sizes"]:
        lines.append(row("kfp-chain, watch index, no dependents", n, details[n]["nodeps"]))
    for n in r["sizes"]:
        lines.append(row("kfp-chain, naive list per event, no dependents", n, details[n]["list"]))
    if all("nodeps_ratios" in details[n] for n in r["sizes"]):
        lines += [
            "",
            f"No dependents, x no-op of each of the {NODEPS_PAIRS} back-to-back pairs (the row is the median "
            f"pair; {r['duration_s'] / 2:g} s per sample): "
            + "; ".join(
                f"N={n:,}: " + " / ".join(f"{x:.2f}" for x in details[n]["nodeps_ratios"]) for n in r["sizes"]
            )
            + ".",
        ]

    lines += [
        "",
        "Triggering events (every event a new upstream run with one dependent, so every event must start",
        "exactly one run; RECORD_LATEST_RUNS=true as deployed). *spread*: rotating over 16 upstream/dependent",
        "pairs; *burst*: every event from one upstream, all runs for one dependent. Calls per started run",
        "are the fakes' request logs (the watch left out) divided by the runs the KFP fake created, counted",
        "after the requests in flight at wrk's stop finished:",
        "",
        "| case | N | req/s | p50 ms | p99 ms | x no-op | answered 2xx | runs started | k8s calls/run | "
        "KFP calls/run | 409s | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, label in (("trigger", "spread over 16 pairs"), ("burst", "burst on one dependent")):
        for n in r["sizes"]:
            if mode not in details[n]:
                continue
            t = Load(**details[n][mode])
            lines.append(
                f"| {label} | {n:,} | {t.rps:.1f} | {t.p50_ms:.1f} | {t.p99_ms:.1f} | {t.rps / ceiling_at(n)['rps']:.3f} | "
                f"{t.answered_ok} | {t.runs_started} | {t.kube_per_run():.2f} | {t.kfp_per_run():.2f} | "
                f"{t.calls.get('409', 0)} | {t.errors} |"
            )
    lines += ["", "Calls by kind, N=10,000 (whole window, both fakes):", ""]
    for mode in ("trigger", "burst"):
        if 10000 in details and mode in details[10000]:
            t = details[10000][mode]
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(t["calls"].items()))
            kfp_kinds = ", ".join(f"{k} {v}" for k, v in sorted(t["kfp_calls"].items()))
            lines.append(f"- {mode}: {t['runs_started']} runs; Kubernetes: {kinds}; KFP: {kfp_kinds}")

    if all("memory" in details[n] for n in r["sizes"]):
        lines += [
            "",
            "Resident memory of the function (functions-framework, 1 worker) once its index is ready, from",
            "/proc/PID/status: the worker builds the app on its first request and holds the index; gunicorn's",
            "master holds no app:",
            "",
            "| N | worker VmRSS MiB | worker VmHWM MiB | master VmRSS MiB |",
            "|---:|---:|---:|---:|",
        ]
        for n in r["sizes"]:
            mem = details[n]["memory"]
            lines.append(
                f"| {n:,} | {mem['worker_rss'] / 2**20:.1f} | {mem['worker_hwm'] / 2**20:.1f} | "
                f"{mem['master_rss'] / 2**20:.1f} |"
            )
        sizes = sorted(r["sizes"])
        if len(sizes) >= 2:
            lo, hi = sizes[-2], sizes[-1]
            slope = (details[hi]["memory"]["worker_rss"] - details[lo]["memory"]["worker_rss"]) / (hi - lo)
            lines += [
                "",
                f"Bytes per RunConfiguration in the index (worker RSS slope {lo:,} -> {hi:,}): {slope:,.0f}.",
            ]

    lines += ["", "Lookup (`DependentsIndex.dependents_of`, timed directly, median of 5 x 20,000 calls):", ""]
    lines += ["| N | no dependents ns/lookup | one dependent ns/lookup |", "|---:|---:|---:|"]
    for n in r["sizes"]:
        lk = r["lookup_ns"][n]
        lines.append(f"| {n:,} | {lk['none_ns']:.0f} | {lk['one_ns']:.0f} |")

    if "cold_start" in r:
        cs = r["cold_start"]
        lines += [
            "",
            f"Cold start at {cs['size']:,.0f} RunConfigurations: import functions/main.py {cs['import_s']:.2f} s, "
            f"build the app (kubernetes + kfp clients) {cs['build_s']:.2f} s, first paginated list to ready "
            f"{cs['list_s']:.2f} s; process wall time including interpreter start {cs['process_wall_s']:.2f} s. "
            "functions-framework server from spawn to /readyz 200: "
            + ", ".join(f"{n:,}: {details[n]['ready_s']:.2f} s" for n in r["sizes"])
            + ".",
        ]
    if "cold_start_max" in r:
        cs = r["cold_start_max"]
        lines += [
            "",
            f"Cold start at {cs['size']:,.0f} RunConfigurations: import {cs['import_s']:.2f} s, build "
            f"{cs['build_s']:.2f} s, list to ready {cs['list_s']:.2f} s; process wall time "
            f"{cs['process_wall_s']:.2f} s; resident {cs.get('rss_bytes', 0) / 2**20:.0f} MiB, "
            f"peak {cs.get('hwm_bytes', 0) / 2**20:.0f} MiB.",
        ]
    if "workers" in r:
        lines += ["", "Serving setup, no dependents at N=10,000 (WORKERSxTHREADS):", ""]
        lines += ["| setup | no-op req/s | kfp-chain req/s | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
        setups = {ceiling_key: details[10000]["nodeps"], **r["workers"]}
        for setup, load in setups.items():
            ceiling = r["noop"].get(setup)
            ceiling_text = f"{ceiling['rps']:.0f}" if ceiling else "-"
            lines.append(
                f"| {setup} | {ceiling_text} | {load['rps']:.0f} | {load['p50_ms']:.2f} | {load['p99_ms']:.2f} |"
            )
    if "concurrency" in r:
        lines += ["", f"Concurrency sweep, no dependents at N=10,000, 1x{cores * 4}:", ""]
        lines += ["| connections | req/s | p50 ms | p99 ms | errors |", "|---:|---:|---:|---:|---:|"]
        for c, load in r["concurrency"].items():
            lines.append(
                f"| {c} | {load['rps']:.0f} | {load['p50_ms']:.2f} | {load['p99_ms']:.2f} | {load['errors']} |"
            )
    return "\n".join(lines)


def write_report(path: Path, text: str) -> None:
    block = f"{BEGIN}\n{text}\n{END}"
    if path.exists() and BEGIN in path.read_text():
        current = path.read_text()
        start, end = current.index(BEGIN), current.index(END) + len(END)
        path.write_text(current[:start] + block + current[end:])
    else:
        path.write_text(f"# Benchmarks\n\n{block}\n")


def _int_keys(value: Any) -> Any:
    """JSON made the sizes and connection counts strings; the table indexes them by int."""
    if isinstance(value, dict):
        return {(int(k) if isinstance(k, str) and k.isdigit() else k): _int_keys(v) for k, v in value.items()}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--from-json", type=Path, help="re-render the table of an earlier run's results.json")
    args = parser.parse_args()
    if args.from_json:
        text = table(_int_keys(json.loads(args.from_json.read_text())))
        print(text)
        write_report(args.out, text)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (make bench installs it with apt-get)")
    (ROOT / ".local").mkdir(exist_ok=True)
    results = run([int(s) for s in args.sizes.split(",")], args.duration, args.connections)
    raw = ROOT / ".local" / "bench" / "results.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(results, indent=2, default=str))
    text = table(results)
    print("\n" + text)
    write_report(args.out, text)
    print(f"\nwritten: {args.out} (table), {raw} (raw numbers)")


if __name__ == "__main__":
    main()
