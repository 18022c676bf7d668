"""The local backend: runs compiled pipelines on KFP's own local runner, then reports like a cluster.

It implements the `Launcher` port when `KFP_HOST` is unset. `start_run` only records the run and
queues it, so the request that started it is not held up; a worker thread then runs the compiled
package `<pipelines_dir>/<pipeline>.yaml` with `kfp.local` (`SubprocessRunner(use_venv=False)`)
and posts the run-completion CloudEvent a cluster's kfp-operator would post, to `sink_url` (the
function itself). That event is what makes chains of any depth run locally as they do in a cluster.

Why each run executes `kfp.local` in a child Python process rather than in the worker thread:
`kfp.local.init` is process-global, and while a task runs kfp.local *replaces the root logger's
handlers* and prints the task's output to `sys.stdout`. In the function process that would swallow
or garble the function's own JSON logs for the length of a run. The child owns all of that global
state (its output goes to `<runs_dir>/<run_id>/run.log`), and it gets its own `TMPDIR`, so the
temp folders kfp.local leaves per task (`ephemeral_component.py`) are removed with the run's
`tmp/`. Runs are still serialised by default (`workers=1`): on a small machine two pipelines at
once only compete for the same cores.

Runs are rows of the `local_runs` table in the SQLite state store (`Settings.state_db`, see `runs`);
the child process is `child`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ...completion_event import encode, run_completion_data, run_completion_event
from ...errors import BackendUnavailable, KfpChainError, PermanentError, UnknownPipeline
from ...intake import RunCompletion, RunStatus
from ...runconfiguration import Artifact, ArtifactDeclaration, RcKey
from ...settings import Settings
from ..folder.ledger import SqliteLedger
from ..ports import RunRequest
from .runs import LocalRun, LocalRunStatus, fail_orphans, list_runs, now, transaction

__all__ = [
    "EVENT_SOURCE",
    "LocalLauncher",
    "LocalRun",
    "find_artifacts",
    "list_runs",
    "package_path",
    "start_by_hand",
]

log = logging.getLogger("kfp_chain.local")

EVENT_SOURCE = "kfp-chain/local"
PROVIDER = "local"
POST_ATTEMPTS = 6
POST_TIMEOUT_SECONDS = 30.0


def package_path(pipelines_dir: Path, pipeline: str) -> Path:
    """`name`, `name:version` or `namespace/name` -> `<pipelines_dir>/<name>.yaml` (versions are a cluster matter)."""
    name = pipeline.split(":", 1)[0].rpartition("/")[2].strip()
    if not name or name in (".", "..") or "\\" in name:
        raise UnknownPipeline(f"{pipeline!r} is not a pipeline name")
    return pipelines_dir / f"{name}.yaml"


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def find_artifacts(pipeline_root: Path, declarations: Sequence[ArtifactDeclaration]) -> tuple[Artifact, ...]:
    """Maps `Component:output` paths onto the files kfp.local wrote, as `file://` URIs.

    kfp.local writes `<pipeline_root>/<pipeline>-<timestamp>/<task>/<output>`, where the task name
    is the component's name in kebab case: `CsvExampleGen:examples` has to find `csv-example-gen`,
    so names are compared lower-cased without punctuation. Declarations with nothing on disk are
    left out, as a cluster leaves out outputs a run never produced.
    """
    task_dirs = [task for run in sorted(pipeline_root.glob("*/")) if run.is_dir() for task in run.iterdir()]
    found = []
    for declaration in declarations:
        component, sep, output = declaration.path.partition(":")
        if not sep:
            log.warning("artifact path is not Component:output", extra={"artifact": declaration.path})
            continue
        for task in task_dirs:
            candidate = task / output
            if task.is_dir() and _normalise(task.name) == _normalise(component) and candidate.exists():
                found.append(Artifact(declaration.name, candidate.resolve().as_uri()))
                break
    return tuple(found)


class _SinkRefused(Exception):
    """The sink answered, but not with success; 5xx and 429 may pass, so they are retried."""

    def __init__(self, status: int) -> None:
        super().__init__(f"sink answered {status}")
        self.status = status


class LocalLauncher:
    """The `Launcher` for machines without a KFP server; see the module docstring for the design."""

    def __init__(
        self,
        pipelines_dir: Path,
        runs_dir: Path,
        state_db: Path,
        sink_url: str | None,
        workers: int = 1,
    ) -> None:
        self.pipelines_dir = pipelines_dir
        self.runs_dir = runs_dir
        self.state_db = state_db
        self.sink_url = sink_url
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kfp-chain-local")
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._futures: list[Future[None]] = []
        fail_orphans(state_db)

    # -- the Launcher port -------------------------------------------------------------
    def find_run(self, display_name: str) -> str | None:
        with transaction(self.state_db) as db:
            row = db.execute("SELECT run_id FROM local_runs WHERE display_name=?", (display_name,)).fetchone()
        return None if row is None else str(row[0])

    def finished_at(self, run_id: str) -> datetime | None:
        with transaction(self.state_db) as db:
            row = db.execute("SELECT finished_at FROM local_runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None or not row[0]:
            return None
        return datetime.fromisoformat(str(row[0]).replace("Z", "+00:00"))

    def start_run(self, request: RunRequest) -> str:
        """Records and queues the run and returns its id at once; the run happens in a worker.

        Idempotent on the display name (the idempotency key of the `Launcher` port): a second
        request with the same name returns the first run's id instead of running it twice.
        """
        package = package_path(self.pipelines_dir, request.pipeline)
        if not package.is_file():
            raise UnknownPipeline(
                f"pipeline {request.pipeline!r} has no compiled package at {package}"
                " (run `make compile-examples` or compile it there)"
            )
        if self._closing.is_set():
            raise BackendUnavailable("the local runner is shutting down")
        run_id = str(uuid.uuid4())
        run_dir = (self.runs_dir / run_id).resolve()
        with transaction(self.state_db, immediate=True) as db:
            row = db.execute(
                "SELECT run_id FROM local_runs WHERE display_name=?", (request.display_name,)
            ).fetchone()
            if row is not None:
                return str(row[0])
            db.execute(
                "INSERT INTO local_runs (run_id, display_name, runconfiguration, pipeline, parameters, status,"
                " created_at, run_dir, pid) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    request.display_name,
                    str(request.runconfiguration),
                    request.pipeline,
                    json.dumps(dict(request.parameters)),
                    LocalRunStatus.QUEUED,
                    now(),
                    str(run_dir),
                    os.getpid(),
                ),
            )
        log.info(
            "local run queued",
            extra={"run_id": run_id, "run_name": request.display_name, "pipeline": request.pipeline},
        )
        with self._lock:
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(self._executor.submit(self._execute, run_id, request, package, run_dir))
        return run_id

    def close(self, wait: bool = True) -> None:
        """Stops taking runs; `wait` lets queued and running ones finish (and report), else kills them."""
        self._closing.set()
        if not wait:
            with self._lock:
                children = list(self._children.values())
            for child in children:
                child.terminate()
        self._executor.shutdown(wait=wait, cancel_futures=not wait)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Blocks until every run started so far has finished and reported; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if not pending:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            pending[0].exception(timeout=remaining)

    # -- one run -------------------------------------------------------------------------
    def _execute(self, run_id: str, request: RunRequest, package: Path, run_dir: Path) -> None:
        started = now()
        self._update(run_id, status=LocalRunStatus.RUNNING, started_at=started)
        log.info("local run started", extra={"run_id": run_id, "run_name": request.display_name})
        status, error = LocalRunStatus.FAILED, None
        artifacts: tuple[Artifact, ...] = ()
        try:
            error = self._run_child(run_id, package, run_dir, request.parameters)
            if error is None:
                status = LocalRunStatus.SUCCEEDED
                artifacts = find_artifacts(run_dir / "root", request.artifacts)
        except Exception as exc:  # a worker must always report, or the chain would wait forever
            error = f"{type(exc).__name__}: {exc}"
            log.exception("local run crashed", extra={"run_id": run_id})
        finally:
            shutil.rmtree(run_dir / "tmp", ignore_errors=True)
            shutil.rmtree(run_dir / "workspace", ignore_errors=True)
        finished = now()
        self._update(
            run_id,
            status=status,
            finished_at=finished,
            error=error,
            artifacts=json.dumps([{"name": a.name, "location": a.location} for a in artifacts]),
        )
        log.info(
            f"local run {status}",
            extra={
                "run_id": run_id,
                "run_name": request.display_name,
                "status": status,
                "error": error,
                "artifacts": {a.name: a.location for a in artifacts},
                "log_file": str(run_dir / "run.log"),
            },
        )
        if status == LocalRunStatus.SUCCEEDED:
            self._record_succeeded(request, run_id, artifacts)
        data = run_completion_data(
            str(request.runconfiguration),
            run_id,
            status=RunStatus.SUCCEEDED if status == LocalRunStatus.SUCCEEDED else RunStatus.FAILED,
            pipeline=f"{request.runconfiguration.namespace}/{package.stem}",
            run_name=request.display_name,
            artifacts=artifacts,
            provider=PROVIDER,
            run_start_time=started,
            run_end_time=finished,
        )
        self._update(run_id, event_status=self._post(run_id, data))

    def _record_succeeded(self, request: RunRequest, run_id: str, artifacts: tuple[Artifact, ...]) -> None:
        """Writes `latestRuns.succeeded` itself, as kfp-operator's controller does in a cluster.

        Then a run-completion event that never reaches the function (the sink down past every
        retry) is still a pending trigger that `kfp-chain reconcile` starts.
        """
        try:
            SqliteLedger(self.state_db).record_succeeded(request.runconfiguration, run_id, artifacts)
        except KfpChainError as exc:  # the event still carries it; the function records it too
            log.warning(
                "could not record the latest succeeded run", extra={"run_id": run_id, "error": str(exc)}
            )

    def _run_child(
        self, run_id: str, package: Path, run_dir: Path, parameters: Mapping[str, str]
    ) -> str | None:
        """Runs the package in a child process (see the module docstring); returns an error or None."""
        tmp = run_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        result = run_dir / "result.json"
        command = [
            sys.executable,
            "-m",
            "kfp_chain.adapters.local.child",
            "--package",
            str(package.resolve()),
            "--pipeline-root",
            str(run_dir / "root"),
            "--workspace",
            str(run_dir / "workspace"),
            "--parameters",
            json.dumps(dict(parameters)),
            "--result",
            str(result),
        ]
        env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
        with (run_dir / "run.log").open("wb") as output:
            child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
            with self._lock:
                self._children[run_id] = child
            try:
                code = child.wait()
            finally:
                with self._lock:
                    self._children.pop(run_id, None)
        try:
            outcome = json.loads(result.read_text())
        except (OSError, ValueError):
            return f"local runner exited with code {code} and no result; see {run_dir / 'run.log'}"
        return (
            None
            if outcome.get("status") == LocalRunStatus.SUCCEEDED
            else str(outcome.get("error") or "failed")
        )

    def _post(self, run_id: str, data: dict[str, Any]) -> int | None:
        """Posts the event in binary mode, retrying while the sink is down or answers 5xx/429."""
        if self.sink_url is None:
            log.info("no event sink configured: run-completion event not sent", extra={"run_id": run_id})
            return None
        event = run_completion_event(
            data, source=EVENT_SOURCE, event_id=run_id, subject=data["runConfigurationName"]
        )
        headers, body = encode(event, "binary")
        retrying = Retrying(
            stop=stop_after_attempt(POST_ATTEMPTS),
            wait=wait_exponential(multiplier=0.25, max=4),
            retry=retry_if_exception_type((OSError, _SinkRefused)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    status = self._send(headers, body)
        except _SinkRefused as exc:
            log.error("run-completion event refused", extra={"run_id": run_id, "http_status": exc.status})
            return exc.status
        except OSError as exc:
            log.error("run-completion event not delivered", extra={"run_id": run_id, "error": str(exc)})
            return None
        log.info("run-completion event delivered", extra={"run_id": run_id, "http_status": status})
        return status

    def _send(self, headers: Mapping[str, str], body: bytes | str) -> int:
        assert self.sink_url is not None
        payload = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(self.sink_url, data=payload, headers=dict(headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise _SinkRefused(exc.code) from exc
            log.error(
                "run-completion event rejected", extra={"http_status": exc.code, "body": exc.read()[:500]}
            )
            return int(exc.code)

    # -- bookkeeping ---------------------------------------------------------------------
    def _update(self, run_id: str, **columns: Any) -> None:
        assignments = ", ".join(f"{name}=?" for name in columns)
        with transaction(self.state_db) as db:
            db.execute(f"UPDATE local_runs SET {assignments} WHERE run_id=?", (*columns.values(), run_id))


def start_by_hand(settings: Settings, key: RcKey, wait: bool = True) -> str:
    """Starts one run of RunConfiguration `key` now: the local stand-in for its schedule trigger.

    Reads the RunConfiguration from the `RUNCONFIGURATIONS` folder (with its status from the state
    store, so `valueFrom` references resolve against the latest succeeded upstream runs), starts it
    on a `LocalLauncher` of this process and, with `wait`, returns only once the run has finished
    and its run-completion event has been posted to `settings.event_sink`, since this process's
    workers die with it.
    """
    from ...parameters import resolve_parameters
    from ..folder.source import FolderSource

    if settings.from_kubernetes:
        raise PermanentError("starting a run by hand needs RUNCONFIGURATIONS set to a folder")
    source = FolderSource(Path(settings.runconfigurations), settings.state_db, settings.namespaces)
    rc = source.get(key)
    if rc is None:
        raise PermanentError(f"RunConfiguration {key} is not in {settings.runconfigurations}")
    if not rc.pipeline:
        raise PermanentError(f"RunConfiguration {key} names no pipeline")
    by_hand = RunCompletion(run_configuration=key, status=RunStatus.SUCCEEDED, run_id="by-hand")
    parameters = resolve_parameters(rc, by_hand, source.get)
    request = RunRequest(
        runconfiguration=key,
        display_name=f"{key} by hand {uuid.uuid4()}",
        pipeline=rc.pipeline,
        experiment=rc.experiment or settings.default_experiment,
        parameters=parameters.values,
        artifacts=rc.artifacts,
        labels={"kfp-chain/trigger": "by-hand"},
    )
    launcher = LocalLauncher(
        settings.pipelines_dir, settings.local_dir / "runs", settings.state_db, settings.event_sink
    )
    try:
        run_id = launcher.start_run(request)
    finally:
        launcher.close(wait=wait)
    if wait and settings.event_sink:
        run = next((r for r in list_runs(settings.state_db) if r.run_id == run_id), None)
        status = run.event_status if run is not None else None
        if status is None or not 200 <= status < 300:
            answer = "nothing answered" if status is None else f"it answered HTTP {status}"
            raise BackendUnavailable(
                f"run {run_id} finished, but its run-completion event was not taken at {settings.event_sink} "
                f"({answer}): start the function first (RUNCONFIGURATIONS={settings.runconfigurations} "
                "make serve) or point KFP_CHAIN_EVENT_SINK at it; `kfp-chain reconcile` starts what "
                "depends on the run meanwhile"
            )
    return run_id
