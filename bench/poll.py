"""`make bench`'s poll row: one pass of plain KFP's poll over many newly finished runs.

    PYTHONPATH=. python -m bench.poll [--size 10000] [--runs 1000] [--out BENCHMARKS.md]

The fakes run in their own process (`bench.fakes`); the poller is built in this one by the very
wiring `on_kfp_poll` uses (`build_poll_app`, RUNCONFIGURATIONS=kubernetes, the mark in a ConfigMap).
`size` RunConfigurations (bench/cluster.py: 16 upstream/dependent pairs, the rest lonely), `runs`
runs of the upstreams finished in KFP (each starts its dependent), one pass timed with its calls to
KFP, Kubernetes and ML Metadata per handled run; then a pass when nothing new finished. The
upstreams declare the seed tutorial's `examples` artifact (`CsvExampleGen:examples`), and every
finished run has it recorded in the ML Metadata fake (kfp_fakes.mlmd, gRPC, served from this
process: its calls are counted, its threads share this process's CPU with the poller).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cluster import PIPELINE
from bench.run import fakes, function_env, http


def poll_row(work: Path, size: int, runs: int) -> dict[str, Any]:
    from kfp_fakes.mlmd import FakeMlmd, Task

    with fakes(work) as fk, FakeMlmd() as mlmd:
        fk.seed(size)
        fk.fresh_kfp()
        _, finished = http("POST", f"{fk.kube}/bench/finished-runs?count={runs}", timeout=600)
        for run_id in finished["runIds"]:  # as KFP's launcher leaves each run: its output in ML Metadata
            mlmd.record_run(run_id, PIPELINE, [Task("CsvExampleGen", {"examples": {}})])
        env = function_env(work, fk, "list", RECORD_LATEST_RUNS="true", KFP_CHAIN_MLMD_ADDRESS=mlmd.address)
        os.environ.update({k: env[k] for k in ("KUBECONFIG", "HOME")})
        from kfp_chain.service.app import build_poll_app, poll_pass
        from kfp_chain.settings import Settings

        poll = build_poll_app(Settings.from_env(env))
        fk.reset()
        mlmd_before = len(mlmd.calls())
        started = time.perf_counter()
        status, body = poll_pass(poll)
        busy_s = time.perf_counter() - started
        busy = fk.stats()
        busy_mlmd = _by_method(mlmd.calls()[mlmd_before:])
        drained = body["results"].get("handled", 0)
        for _ in range(5):  # the runs a pass out of time left (KFP_CHAIN's 50 s budget), then idle
            if drained >= runs:
                break
            drained += poll_pass(poll)[1]["results"].get("handled", 0)
        fk.reset()
        mlmd_before = len(mlmd.calls())
        started = time.perf_counter()
        idle_status, idle_body = poll_pass(poll)
        idle_s = time.perf_counter() - started
        idle = fk.stats()
        idle_mlmd = _by_method(mlmd.calls()[mlmd_before:])
        poll.app.close()
    handled = max(1, body["results"].get("handled", 0))
    return {
        "load_average": round(os.getloadavg()[0], 1),
        "size": size,
        "runs": runs,
        "status": status,
        "handled": body["results"].get("handled", 0),
        "started": body["started"],
        "waiting": body["results"].get("waiting", 0),
        "pass_s": round(busy_s, 2),
        "runs_per_s": round(body["results"].get("handled", 0) / busy_s, 1),
        "kfp_per_run": round(sum(busy["kfp"].values()) / handled, 2),
        "kube_per_run": round(busy["total"] / handled, 2),
        "mlmd_per_run": round(sum(busy_mlmd.values()) / handled, 2),
        "mlmd_calls": busy_mlmd,
        "kfp_calls": busy["kfp"],
        "kube_calls": busy["by"],
        "idle_status": idle_status,
        "idle_seen": idle_body["seen"],
        "idle_s": round(idle_s, 3),
        "idle_kfp_calls": idle["kfp"],
        "idle_kube_calls": idle["by"],
        "idle_mlmd_calls": idle_mlmd,
    }


def _by_method(calls: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in calls:
        counts[call.method] = counts.get(call.method, 0) + 1
    return counts


BEGIN, END = "<!-- bench-poll:begin -->", "<!-- bench-poll:end -->"


def table(row: dict[str, Any]) -> str:
    """The poll row as BENCHMARKS.md shows it."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"Poll (`bench/poll.py`, run {when}, load average {row['load_average']} on "
            f"{os.cpu_count()} CPUs): one pass of `on_kfp_poll`'s wiring, the fakes in a process of "
            "their own; the upstreams declare the `examples` artifact, read from the ML Metadata fake "
            f"(gRPC, in the poller's process): {row['mlmd_calls']}.",
            "",
            "| RunConfigurations | finished runs | handled | dependents started | pass (s) "
            "| handled per s | KFP calls per handled run | Kubernetes calls per handled run | ML Metadata calls per handled run |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| {row['size']:,} | {row['runs']:,} | {row['handled']:,} | {row['started']:,} | {row['pass_s']} | {row['runs_per_s']} "
            f"| {row['kfp_per_run']} | {row['kube_per_run']} | {row['mlmd_per_run']} |",
            "",
            "A pass stops deciding new runs after 50 s (the PingSource period is 60 s); the runs it did not "
            "reach hold the mark and the next pass takes them.",
            "",
            f"Nothing new finished (the same {row['idle_seen']:,} runs still inside the look-back): "
            f"{row['idle_s']} s, KFP {row['idle_kfp_calls']}, Kubernetes {row['idle_kube_calls']}, "
            f"ML Metadata {row['idle_mlmd_calls']} "
            "(no RunConfiguration read, no mark written).",
        ]
    )


def write_report(path: Path, text: str) -> None:
    block = f"{BEGIN}\n{text}\n{END}"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in current:
        start, end = current.index(BEGIN), current.index(END) + len(END)
        path.write_text(current[:start] + block + current[end:])
    else:
        path.write_text(current.rstrip("\n") + "\n\n## Poll of plain KFP\n\n" + block + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--out", type=Path, help="write the row into this BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kfp-chain-bench-poll-") as work:
        row = poll_row(Path(work), args.size, args.runs)
    print(json.dumps(row, indent=2))
    text = table(row)
    print("\n" + text)
    if args.out:
        write_report(args.out, text)


if __name__ == "__main__":
    main()
