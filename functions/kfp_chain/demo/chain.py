"""`make demo`: the examples -> training chain of the seed tutorial, on one machine, in one command.

It runs the real thing, not a simulation: the function (`functions/main.py`) is started with
functions-framework on the folder source and the local runner, exactly as `make serve` starts it;
the examples RunConfiguration is started by hand (`start_by_hand`, the local stand-in for its
schedule), and from then on only the function acts: the examples run's completion event reaches
it, it starts the training run with `examples_location` resolved, and that run reports back too.
This module only watches, from the function's JSON log lines and the `local_runs` table, and
judges: exit 0 only when the training run succeeded and exactly one was started.

    python -m kfp_chain.demo.chain [--pipelines-dir DIR] [--state-dir DIR] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..adapters.local.runner import start_by_hand
from ..adapters.local.runs import FINISHED, LocalRun, LocalRunStatus, list_runs
from ..outcomes import OutcomeKind
from ..runconfiguration import RcKey
from ..settings import Settings

__all__ = ["Demo", "main", "read_metrics"]

EXAMPLES_RC = RcKey("base-namespace", "penguin-pipeline-examples-rc")
TRAINING_RC = RcKey("dependant-namespace", "penguin-pipeline-training-rc")
PIPELINES = ("penguin-pipeline-examples", "penguin-pipeline-training")
SETTLE_SECONDS = 1.5  # after the training run reported: time for a (wrong) second trigger to show


class Demo:
    """Starts the function on a folder of RunConfigurations and the local runner, and narrates.

    `follow` and `_verdict` judge the examples -> training chain; `kfp_chain.demo.ensemble`
    reuses the rest (server, run-by-hand, narration) for the ensemble's fan-in.
    """

    pipelines: tuple[str, ...] = PIPELINES

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.began = time.monotonic()
        self.state_dir: Path = args.state_dir.resolve()
        self.port = _free_port()
        self.env = {
            **os.environ,
            "RUNCONFIGURATIONS": str(args.resources.resolve()),
            "KFP_CHAIN_PIPELINES_DIR": str(args.pipelines_dir.resolve()),
            "KFP_CHAIN_LOCAL_DIR": str(self.state_dir),
            "KFP_CHAIN_STATE_DB": str(self.state_dir / "state.db"),
            "KFP_CHAIN_EVENT_SINK": f"http://127.0.0.1:{self.port}/",
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("KFP_HOST", None)
        self.settings = Settings.from_env(self.env)
        self.server: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.raw_tail: list[str] = []
        self.seen: dict[str, tuple[str, int | None]] = {}
        self.by_hand_error: BaseException | None = None

    # -- output ------------------------------------------------------------------------
    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.began:5.1f}s] {text}", flush=True)

    # -- steps ---------------------------------------------------------------------------
    def prepare(self) -> None:
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        self.state_dir.mkdir(parents=True)
        missing = [p for p in self.pipelines if not (self.args.pipelines_dir / f"{p}.yaml").is_file()]
        if missing:
            self.say(
                f"compiling the example pipelines into {self.args.pipelines_dir} (missing: {', '.join(missing)})"
            )
            subprocess.run(
                [sys.executable, "examples/compile.py", "--out", str(self.args.pipelines_dir)],
                check=True,
                stdout=subprocess.DEVNULL,
            )

    def start_server(self) -> None:
        executable = Path(sys.executable).with_name("functions-framework")
        command = [
            str(executable),
            "--source",
            "functions/main.py",
            "--target",
            "on_run_completion",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.say(f"starting the function on 127.0.0.1:{self.port} (folder source, local runner)")
        self.server = subprocess.Popen(
            command,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read_logs, daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"the function exited with code {self.server.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        self.say("function ready")
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError("the function did not become ready within 30 s")

    def _read_logs(self) -> None:
        """Reads the function's log until it exits; closing the pipe at EOF is what leaves no fd behind."""
        assert self.server is not None and self.server.stdout is not None
        with self.server.stdout as output:
            for line in output:
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = None
                if isinstance(entry, dict):
                    self.lines.put(entry)
                else:
                    self.raw_tail = [*self.raw_tail[-40:], line.rstrip()]

    def start_examples(self) -> None:
        self.start_by_hand(EXAMPLES_RC)

    def start_by_hand(self, key: RcKey) -> None:
        """Starts one run of `key` in the background, as its schedule would; errors land in `by_hand_error`."""
        self.say(f"starting {key} by hand (the local stand-in for its schedule)")

        def run() -> None:
            try:
                start_by_hand(self.settings, key)
            except BaseException as exc:
                self.by_hand_error = exc

        threading.Thread(target=run, daemon=True).start()

    def observe(self) -> list[LocalRun]:
        """Every run so far, after narrating what changed since the last look (runs, then log lines)."""
        runs = list_runs(self.settings.state_db) if self.settings.state_db.exists() else []
        for run in runs:
            self._report(run)
        self._drain_logs()
        return runs

    def follow(self) -> bool:
        """Prints the chain as it happens; True when the training run succeeded, triggered once."""
        deadline = time.monotonic() + self.args.timeout
        settled_at: float | None = None
        while time.monotonic() < deadline:
            runs = self.observe()
            if self.by_hand_error is not None:
                self.say(f"could not start {EXAMPLES_RC}: {self.by_hand_error}")
                return False
            if self.server is not None and self.server.poll() is not None:
                self.say(f"the function exited unexpectedly with code {self.server.returncode}")
                return False
            examples = [r for r in runs if r.runconfiguration == str(EXAMPLES_RC)]
            training = [r for r in runs if r.runconfiguration == str(TRAINING_RC)]
            examples_done = examples and all(
                r.status == LocalRunStatus.FAILED and r.event_status for r in examples
            )
            training_done = training and all(r.status in FINISHED for r in training)
            if (training_done and all(r.event_status is not None for r in training)) or examples_done:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= SETTLE_SECONDS:
                    return self._verdict(examples, training)
            time.sleep(0.1)
        self.say(f"timed out after {self.args.timeout:.0f} s")
        runs = list_runs(self.settings.state_db) if self.settings.state_db.exists() else []
        self._verdict(
            [r for r in runs if r.runconfiguration == str(EXAMPLES_RC)],
            [r for r in runs if r.runconfiguration == str(TRAINING_RC)],
        )
        return False

    def _drain_logs(self) -> None:
        while True:
            try:
                entry = self.lines.get_nowait()
            except queue.Empty:
                return
            logger, message = str(entry.get("logger", "")), str(entry.get("message", ""))
            if logger == "kfp_chain.local":
                continue  # the run table tells the same story, with less noise
            if entry.get("outcome") or entry.get("dependent"):
                outcome = entry.get("outcome", message)
                why = entry.get("reason") or entry.get("error")
                if outcome == OutcomeKind.SKIPPED and message.startswith("not started: "):
                    why = f"{why}: {message.removeprefix('not started: ')}"  # e.g. what a fan-in awaits
                self.say(
                    f"event received from {entry.get('emitter')} run {_short(entry.get('upstreamRunId'))}:"
                    f" {entry.get('dependent')} -> {outcome}"
                    + (f" ({why})" if outcome != OutcomeKind.STARTED else "")
                )
            elif entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                self.say(f"function {str(entry.get('level')).lower()}: {message}")

    def _report(self, run: LocalRun) -> None:
        previous = self.seen.get(run.run_id)
        current = (run.status, run.event_status)
        if previous == current:
            return
        self.seen[run.run_id] = current
        who = f"{run.runconfiguration} run {_short(run.run_id)}"
        if previous is None:
            parameters = ", ".join(f"{k}={v}" for k, v in run.parameters.items()) or "no parameters"
            self.say(f"{who} started: pipeline {run.pipeline}, {parameters}")
        if run.status != (previous or ("",))[0]:
            if run.status == LocalRunStatus.SUCCEEDED:
                artifacts = ", ".join(f"{a.name}={a.location}" for a in run.artifacts) or "no artifacts"
                self.say(f"{who} succeeded: {artifacts}{self._accuracy(run)}")
            elif run.status == LocalRunStatus.FAILED:
                self.say(f"{who} FAILED: {run.error}")
        if run.event_status is not None and (previous is None or previous[1] is None):
            self.say(f"{who}: run-completion event posted to the function (HTTP {run.event_status})")

    @staticmethod
    def _accuracy(run: LocalRun) -> str:
        if not any(a.name == "metrics" for a in run.artifacts):
            return ""
        scores = read_metrics(run)
        try:
            return f"; accuracy {float(scores['accuracy']):.3f}" if scores else "; (metrics unreadable)"
        except (KeyError, TypeError, ValueError):
            return "; (metrics unreadable)"

    def _verdict(self, examples: list[LocalRun], training: list[LocalRun]) -> bool:
        if not training:
            self.say(
                f"no training run was started (examples: {', '.join(r.status for r in examples) or 'none'})"
            )
            return False
        if len(training) != 1:
            self.say(f"expected exactly one training run, found {len(training)}")
            return False
        if training[0].status != LocalRunStatus.SUCCEEDED:
            self.say(f"the training run {training[0].status}")
            return False
        self.say("chain complete: the training run succeeded, triggered exactly once")
        return True

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.say("the function did not stop within 15 s of SIGTERM: killing it")
            self.server.kill()
            self.server.wait()
        self.say(f"function stopped (exit code {self.server.returncode})")


def read_metrics(run: LocalRun) -> dict[str, Any] | None:
    """The JSON the example pipelines write into their `metrics` artifact, or None when unreadable."""
    metrics = next((a for a in run.artifacts if a.name == "metrics"), None)
    if metrics is None or urlparse(metrics.location).scheme != "file":
        return None
    try:
        scores = json.loads(Path(unquote(urlparse(metrics.location).path)).read_text())
    except (OSError, ValueError):
        return None
    return scores if isinstance(scores, dict) else None


def _short(run_id: object) -> str:
    return str(run_id)[:8]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run the examples -> training chain locally")
    parser.add_argument("--pipelines-dir", type=Path, default=Path(".local/kfp-chain/pipelines"))
    parser.add_argument("--resources", type=Path, default=Path("examples/resources"))
    parser.add_argument("--state-dir", type=Path, default=Path(".local/demo"), help="wiped at the start")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    if not Path("functions/main.py").is_file() or not args.resources.is_dir():
        print("run the demo from the repository root (make demo)", file=sys.stderr)
        return 2

    demo = Demo(args)

    def play() -> bool:
        demo.start_examples()
        return demo.follow()

    return run_demo(demo, play)


def run_demo(demo: Demo, play: Callable[[], bool]) -> int:
    """Prepares, serves, plays and always stops the server: exit 0 only when `play` says it worked."""
    ok = False
    try:
        demo.prepare()
        demo.start_server()
        ok = play()
    except KeyboardInterrupt:
        demo.say("interrupted")
    except Exception as exc:
        demo.say(f"demo failed: {type(exc).__name__}: {exc}")
        for line in demo.raw_tail[-20:]:
            print(f"    | {line}", file=sys.stderr)
    finally:
        demo.stop_server()
        demo.say(f"total time {time.monotonic() - demo.began:.1f} s; state and runs in {demo.state_dir}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
